// Command producer publishes contact deltas to NATS JetStream: `publish
// FILE…` (NDJSON or CSV), `serve` (HTTP ingest) and `poll` (later). Run
// `producer --help` for usage and configuration.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/contactsync/contactsync/pkg/producer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return producer.RunCLI(ctx, args, stdout, stderr)
}

func exitCode(err error, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintln(stderr, "producer:", err)
	}
	return producer.ExitCode(err)
}
