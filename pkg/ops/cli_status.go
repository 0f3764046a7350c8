package ops

import (
	"context"
	"flag"

	"github.com/contactsync/contactsync/pkg/cli"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:    "status",
		Summary: "streams, consumer lag, DLQ, fleet members",
		Help: `Shows the pipeline at a glance:
  - streams CONTACTS, CONFLICTS, DLQ: messages, bytes, first and last time;
  - each upsert partition consumer (upsert-pNN): pending (not yet delivered)
    + ack pending (delivered, not yet acked) = lag, redeliveries, and the
    member holding the partition's lease, with when it last renewed it (a
    lease not renewed for SYNC_LEASE_TTL is taken over by another member);
  - the reconciler's lag on CONFLICTS;
  - dead letters by segment and by error code;
  - the live upserter members (KV bucket upserter_members), each with its
    partitions, its freshness budget (SYNC_MAX_DELAY, stretched under API
    pressure), the org's API use, the projected daily share, when in
    sight when the allocation runs out at the current rate, and its batch
    fill: upsert calls since it started, records per call against
    SYNC_BATCH_SIZE, and why the calls that were not full went out (due:
    the freshness budget ran out; drained: a backlog's end; held_out: a
    backlog call waited its longest for a partition that stopped making
    progress; stopping: shutdown; isolated: one part of a refused call).
Nothing is consumed or changed.

While JetStream does not answer (a node restarting, no leader elected yet,
no responders) each read is retried for up to --wait (default 10s); then it
fails (exit 1) naming the NATS URL and what could not be read.`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			n := addNATSFlags(fs).withWait(fs)
			return func(ctx context.Context, in *cli.Invocation) error {
				if err := in.NoArgs(); err != nil {
					return err
				}
				ctx, s, done, err := n.connect(ctx)
				if err != nil {
					return err
				}
				defer done()
				st, err := s.ops.Status(ctx)
				if err != nil {
					return n.unavailable(ctx, err)
				}
				if in.JSON {
					return writeJSON(in.Stdout, st)
				}
				return WriteStatus(in.Stdout, st)
			}
		},
	}
}
