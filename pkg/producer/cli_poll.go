package producer

import (
	"context"
	"flag"

	"github.com/contactsync/contactsync/pkg/cli"
)

// pollCommand is the hook of `producer poll` (PostgreSQL by watermark). A
// poll that parses its own flags can set RawArgs and call
// runPoll(ctx, env, in.Args, in.Stdout, in.Stderr, log) from the action.
func pollCommand() *cli.Command {
	return &cli.Command{
		Name:    "poll",
		Summary: "PostgreSQL polling by watermark (not implemented yet)",
		Setup: func(fs *flag.FlagSet) cli.Action {
			return func(context.Context, *cli.Invocation) error {
				return cli.Usagef("poll: not implemented yet: PostgreSQL polling lands in a later issue")
			}
		},
	}
}
