// Command syncctl is the operator's tool for a contactsync pipeline: status,
// dead-letter list/show/replay/purge, segment backfills and reports. Run
// `syncctl --help`, and `syncctl COMMAND --help` for each command.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/contactsync/contactsync/pkg/ops"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return ops.RunCLI(ctx, args, stdout, stderr)
}

func exitCode(err error, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintln(stderr, "syncctl:", err)
	}
	return ops.ExitCode(err)
}
