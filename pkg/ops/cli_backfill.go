package ops

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/cli"
)

func backfillCommand() *cli.Command {
	return &cli.Command{
		Name:    "backfill",
		Summary: "re-drive a segment from CONTACTS history or a file (--segment S --ticket T)",
		Writes:  true,
		Help: `syncctl backfill --segment S --ticket T [--since RFC3339 | --since-seq N] [--rate N] [--dry-run] [--json]
syncctl backfill --segment S --ticket T --from-file FILE [--rate N] [--dry-run] [--json]
syncctl backfill --segment S --ticket T --bulk [--since RFC3339 | --since-seq N] [--budget-wait D] [--json]

Re-drives one segment through the upserters.

From history (default): reads contacts.delta.S.*.* from CONTACTS (kept 7
days) from --since / --since-seq (default: everything held) up to the end of
the stream when the backfill starts, and republishes each delta to its
original subject with Nats-Msg-Id backfill:<ticket>:<stream seq>.

From the source system (--from-file): NDJSON deltas, one per line, all of
segment S; a line that is invalid or of another segment is refused with its
line number (exit 1) and the rest are published, with Nats-Msg-Id
backfill:<ticket>:<external_id>:<version>.

Deltas not newer than what the upserter applied are skipped there, so a
backfill converges and re-running it is harmless; the same ticket within the
10-minute duplicate window stores nothing new. --rate paces the publishes
(deltas per second, token bucket) so live traffic keeps flowing. Progress is
printed to stderr every second.

Through Bulk API 2.0 (--bulk, or on its own when SF_LOGIN_URL is set and the
history holds at least --bulk-threshold deltas): the history is folded to each
contact's newest state, contacts whose state is already applied are skipped,
and the rest are upserted in one job; results settle as on the live path
(state, conflicts by SYNC_POLICY, DLQ, transient rows through Collections).
The job id is kept under the ticket: run the same command again after a kill
and it re-attaches to its job. Needs the SF_* settings; prints API calls used.
Every step that writes waits at the live path's API gate: at SF_API_BUDGET or
SF_API_USAGE_PAUSE_AT of the daily allocation (the lower), it waits up to
--budget-wait for /limits to show room (every SF_LIMIT_CHECK_INTERVAL), then
stops with exit 3; the same command later resumes it.`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			n := addNATSFlags(fs)
			var o BackfillOptions
			var since, file string
			fs.StringVar(&o.Segment, "segment", "", "segment to re-drive (required)")
			fs.StringVar(&o.Ticket, "ticket", "", "change/incident ticket, part of the Nats-Msg-Id (required)")
			fs.StringVar(&since, "since", "", "start at deltas stored at/after this RFC 3339 time")
			fs.Uint64Var(&o.SinceSeq, "since-seq", 0, "start at this CONTACTS stream sequence")
			fs.Float64Var(&o.Rate, "rate", 0, "deltas per second (0 = as fast as possible)")
			fs.StringVar(&file, "from-file", "", "NDJSON file of deltas of the segment, instead of CONTACTS history")
			bf := addBulkFlags(fs)
			return func(ctx context.Context, in *cli.Invocation) error {
				switch {
				case len(in.Args) > 0:
					return cli.Usagef("unexpected arguments %q", in.Args)
				case o.Segment == "":
					return cli.Usagef("--segment is required")
				case o.Ticket == "":
					return cli.Usagef("--ticket is required")
				case since != "" && o.SinceSeq > 0:
					return cli.Usagef("--since and --since-seq are exclusive")
				case file != "" && (since != "" || o.SinceSeq > 0):
					return cli.Usagef("--from-file reads a file; --since/--since-seq select CONTACTS history")
				}
				if err := o.validate(); err != nil {
					return err
				}
				o.DryRun = in.DryRun
				if since != "" {
					t, err := time.Parse(time.RFC3339, since)
					if err != nil {
						return cli.Usagef("--since %q: want RFC 3339, e.g. 2026-11-26T10:00:00Z", since)
					}
					o.Since = t
				}
				var r io.Reader
				if strings.EqualFold(filepath.Ext(file), ".csv") {
					// A CSV would be read as NDJSON, every line refused as malformed JSON.
					return cli.Usagef("--from-file %s: backfill reads NDJSON deltas; publish a CSV export with 'producer publish --mapping FILE %s' instead", file, file)
				}
				if file != "" {
					f, err := os.Open(file)
					if err != nil {
						return cli.Usagef("--from-file: %v", err)
					}
					defer f.Close()
					r = f
				}
				ctx, s, done, err := n.connect(ctx)
				if err != nil {
					return err
				}
				defer done()
				if ran, err := bf.maybeBulk(ctx, s, in, o, r != nil); ran {
					return err
				}
				o.Progress = func(r BackfillResult) { WriteProgress(in.Stderr, r) }
				var res BackfillResult
				if r != nil {
					res, err = s.ops.BackfillFile(ctx, r, o)
				} else {
					res, err = s.ops.Backfill(ctx, o)
				}
				for _, le := range res.Rejected {
					fmt.Fprintf(in.Stderr, "%s: %v\n", file, le)
				}
				if err == nil && r == nil && res.Read == 0 {
					err = s.ops.unknownSegment(ctx, o.Segment)
				}
				if in.JSON {
					if jerr := writeJSON(in.Stdout, res); jerr != nil {
						return jerr
					}
					return err
				}
				WriteBackfill(in.Stdout, res)
				return err
			}
		},
	}
}
