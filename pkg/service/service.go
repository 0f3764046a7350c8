// Package service runs the main of a contactsync service process the same
// way everywhere: --help prints the service's description and its
// environment table, envconfig fills the config (naming the bad variable),
// SIGINT/SIGTERM cancel the run's context, and the exit code says what
// happened (0 done, 1 run failed, 2 bad usage or configuration).
package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/kelseyhightower/envconfig"
)

// Usage writes help followed by the environment table of C.
func Usage[C any](w io.Writer, help string) {
	fmt.Fprint(w, help)
	var c C
	_ = envconfig.Usagef("", &c, w, envconfig.DefaultTableFormat)
}

// Main parses args, loads C from the environment and runs run until it
// returns or a signal arrives, then exits the process.
func Main[C any](name, help string, run func(ctx context.Context, cfg C) error) {
	os.Exit(Exec(name, help, os.Args[1:], os.Stderr, run))
}

// Exec is Main without the exit, for tests: it returns the exit code.
func Exec[C any](name, help string, args []string, stderr io.Writer, run func(ctx context.Context, cfg C) error) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { Usage[C](fs.Output(), help) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q (configuration is by environment; see --help)\n", name, fs.Args())
		return 2
	}
	var cfg C
	if err := envconfig.Process("", &cfg); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}
