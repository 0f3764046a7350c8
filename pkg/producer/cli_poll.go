package producer

import (
	"context"
	"flag"

	"github.com/contactsync/contactsync/pkg/cli"
)

// pollCommand is `producer poll` (PostgreSQL by watermark; poll.go).
func pollCommand() *cli.Command {
	return &cli.Command{
		Name:    "poll",
		Summary: "publish changed rows of a PostgreSQL table or query, by a watermark",
		Help: `Poll a PostgreSQL table or query by a watermark (keyset on updated_at or a
sequence, then the key) and publish each changed row as a delta; a
soft-delete column publishes deletes. The position is kept in the watermarks
KV bucket and saved only after JetStream confirmed every delta up to it;
each poll re-reads an overlap for late commits. --once polls until caught
up, prints a summary and exits (1 if rows were rejected).
Env: POLL_DSN, POLL_MAPPING, POLL_INTERVAL, POLL_PAGE_SIZE, POLL_RATE,
POLL_OVERLAP, POLL_OVERLAP_SEQ (flags win).`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			var f pollFlags
			f.define(fs)
			return func(ctx context.Context, in *cli.Invocation) error { return runPoll(ctx, in, f) }
		},
	}
}
