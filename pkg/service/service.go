// Package service runs the main of a contactsync service process the same
// way everywhere: --help prints the service's description and its
// environment table, envconfig fills the config (naming the bad variable),
// SIGINT/SIGTERM cancel the run's context, and the exit code says what
// happened (0 done, 1 run failed, 2 bad usage or configuration).
package service

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/kelseyhightower/envconfig"

	"github.com/contactsync/contactsync/pkg/cli"
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
	os.Exit(ExecTo(name, help, os.Args[1:], os.Stdout, os.Stderr, run))
}

// Exec is Main without the exit, for tests, with help and errors on one
// writer: it returns the exit code.
func Exec[C any](name, help string, args []string, stderr io.Writer, run func(ctx context.Context, cfg C) error) int {
	return ExecTo(name, help, args, stderr, stderr, run)
}

// ExecTo is Exec with help on stdout (as every contactsync command prints
// it) and errors on stderr, named as the user sets them (cli.LoadEnv).
func ExecTo[C any](name, help string, args []string, stdout, stderr io.Writer, run func(ctx context.Context, cfg C) error) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	pos, err := cli.Parse(fs, args)
	if err == nil && len(pos) > 0 {
		err = cli.Usagef("unexpected arguments %q (configuration is by environment; see --help)", pos)
	}
	if err != nil {
		if cli.ExitCode(err) == cli.ExitOK {
			Usage[C](stdout, help)
			return cli.ExitOK
		}
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return cli.ExitUsage
	}
	var cfg C
	if err := cli.LoadEnv(&cfg); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return cli.ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return cli.ExitCode(err)
	}
	return cli.ExitOK
}
