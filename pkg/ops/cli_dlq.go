package ops

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/cli"
)

// addDLQFilter adds the shared filter flags.
func addDLQFilter(fs *flag.FlagSet, f *DLQFilter) {
	fs.StringVar(&f.Segment, "segment", "", "only this segment")
	fs.StringVar(&f.Code, "code", "", "only this error code (Cs-Error-Code), e.g. INVALID_EMAIL_ADDRESS")
}

func dlqListCommand() *cli.Command {
	return &cli.Command{
		Name:    "dlq list",
		Summary: "dead letters, one per line",
		Help: `Lists dead letters, oldest first, one per line: DLQ sequence, segment,
external ID, error code, message (truncated; see dlq show), when it failed
and after how many deliveries. Reads headers only; nothing is consumed.`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			n := addNATSFlags(fs)
			var f DLQFilter
			addDLQFilter(fs, &f)
			fs.IntVar(&f.Limit, "limit", 0, "at most N dead letters (0 = all)")
			showPII := fs.Bool("show-pii", false, "show emails and names in clear")
			return func(ctx context.Context, in *cli.Invocation) error {
				if err := in.NoArgs(); err != nil {
					return err
				}
				ctx, s, done, err := n.connect(ctx)
				if err != nil {
					return err
				}
				defer done()
				dls, err := s.ops.ListDeadLetters(ctx, f, false)
				if err != nil {
					return err
				}
				if !*showPII {
					for i := range dls {
						dls[i] = dls[i].Redacted()
					}
				}
				if in.JSON {
					if dls == nil {
						dls = []DeadLetter{}
					}
					return writeJSON(in.Stdout, dls)
				}
				return WriteDeadLetters(in.Stdout, dls)
			}
		},
	}
}

func dlqShowCommand() *cli.Command {
	return &cli.Command{
		Name:    "dlq show",
		Args:    "SEQ",
		Summary: "one dead letter: headers and payload",
		Help: `Prints one dead letter by DLQ sequence: every header (the reason in
Cs-Error-Code / Cs-Error-Message, the original subject and sequence, the
delivery count) and the payload as indented JSON.`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			n := addNATSFlags(fs)
			showPII := fs.Bool("show-pii", false, "show emails and names in clear")
			return func(ctx context.Context, in *cli.Invocation) error {
				if len(in.Args) != 1 {
					return cli.Usagef("dlq show needs exactly one SEQ (got %d arguments)", len(in.Args))
				}
				seq, err := strconv.ParseUint(in.Args[0], 10, 64)
				if err != nil || seq == 0 {
					return cli.Usagef("SEQ %q: want a positive integer", in.Args[0])
				}
				ctx, s, done, err := n.connect(ctx)
				if err != nil {
					return err
				}
				defer done()
				dl, err := s.ops.DeadLetter(ctx, seq)
				if err != nil {
					return err
				}
				if !*showPII {
					dl = dl.Redacted()
				}
				if in.JSON {
					return writeJSON(in.Stdout, struct {
						DeadLetter
						Payload json.RawMessage `json:"payload"`
					}{dl, payloadJSON(dl.Data)})
				}
				return WriteDeadLetter(in.Stdout, dl)
			}
		},
	}
}

// seqList is a repeatable flag of sequences; commas allowed.
type seqList []uint64

func (s *seqList) String() string { return fmt.Sprint([]uint64(*s)) }
func (s *seqList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 64)
		if err != nil || n == 0 {
			return fmt.Errorf("%q: want a positive integer", p)
		}
		*s = append(*s, n)
	}
	return nil
}

func dlqReplayCommand() *cli.Command {
	return &cli.Command{
		Name:    "dlq replay",
		Summary: "republish dead letters to their original subject (--ticket T)",
		Writes:  true,
		Help: `Republishes each matching dead letter to its original subject
(Cs-Orig-Subject, contacts.delta.<segment>.<key>) with Nats-Msg-Id
replay:<ticket>:<dlq seq>, then deletes it from the DLQ (unless --keep).
A conflict event the reconciler gave up on (its exception record refused)
goes back to CONFLICTS (contacts.conflict.<segment>), and the reconciler
writes its record. Fix the cause first (data, validation rule, field
permission), then replay.

After publishing it waits (--outcome-wait, default 15s; 0 = do not wait)
for each replayed delta's outcome and prints it: applied (for a conflict
event: every reconciler settled it without a new dead letter), superseded (a newer
version is applied), failed_again (with the new dead letter's sequence and
reason: exit 1) or no_outcome (no upserter took it in time: exit 3).

A dead letter that is a replayed delta which failed again is reported as
such; one replayed under the same ticket that failed again with the same
error code (the cause is unchanged) is refused (left in the DLQ, exit 1) unless --force:
replaying an unchanged cause only dead-letters it again. One that failed
for a new cause is replayed.

Safe to repeat: a replayed dead letter is gone from the DLQ, and a kept one
is deduplicated by CONTACTS within its duplicate window (10 minutes), so the
same ticket publishes nothing new. The upserter skips a delta older than what
it already applied, so a replay never rolls a contact back.`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			n := addNATSFlags(fs)
			var o ReplayOptions
			var seqs seqList
			addDLQFilter(fs, &o.DLQFilter)
			fs.Var(&seqs, "seq", "only this DLQ sequence (repeatable, or comma-separated)")
			fs.StringVar(&o.Ticket, "ticket", "", "change/incident ticket, part of the Nats-Msg-Id (required)")
			fs.BoolVar(&o.Keep, "keep", false, "keep replayed dead letters in the DLQ")
			fs.BoolVar(&o.Force, "force", false, "replay dead letters that already failed again, with the same error code, after a replay under this ticket")
			cli.DurationVar(fs, &o.Wait, "outcome-wait", 15*time.Second, "wait this long for the replayed deltas' outcomes (0 = do not wait)")
			return func(ctx context.Context, in *cli.Invocation) error {
				if len(in.Args) > 0 {
					return cli.Usagef("unexpected arguments %q (use --seq N)", in.Args)
				}
				if o.Ticket == "" {
					return cli.Usagef("--ticket is required")
				}
				o.Seqs, o.DryRun = seqs, in.DryRun
				ctx, s, done, err := n.connect(ctx)
				if err != nil {
					return err
				}
				defer done()
				if o.Wait < 0 {
					return cli.Usagef("--outcome-wait %s: want >= 0", cli.FormatDuration(o.Wait))
				}
				if in.DryRun {
					o.Wait = 0
				}
				res, err := s.ops.Replay(ctx, o)
				switch {
				case err != nil:
				case res.Refused > 0:
					err = fmt.Errorf("%d dead letters failed again with the same error code after a replay under ticket %s and were not replayed (cause not fixed?); --force replays them anyway", res.Refused, o.Ticket)
				case res.FailedAfter > 0:
					err = fmt.Errorf("%d replayed deltas failed again (new dead letters listed above; fix the cause before replaying them)", res.FailedAfter)
				case res.NoOutcome > 0:
					err = fmt.Errorf("%w: %d replayed deltas have no outcome after %s (is an upserter running? syncctl trace --external-id X follows one)", cli.ErrIncomplete, res.NoOutcome, cli.FormatDuration(o.Wait))
				}
				if in.JSON {
					if jerr := writeJSON(in.Stdout, res); jerr != nil {
						return jerr
					}
					return err
				}
				WriteReplay(in.Stdout, res, o.DryRun)
				return err
			}
		},
	}
}

func dlqPurgeCommand() *cli.Command {
	return &cli.Command{
		Name:    "dlq purge",
		Summary: "delete dead letters (--yes; --dry-run shows them)",
		Writes:  true,
		Help: `Deletes the matching dead letters for good (for example those already fixed
at the source). Without --yes, or with --dry-run, it only prints what would
be deleted. --older-than is measured from Cs-Failed-At: 90m, 36h, 3d.`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			n := addNATSFlags(fs)
			var f DLQFilter
			addDLQFilter(fs, &f)
			cli.DurationVar(fs, &f.OlderThan, "older-than", 0, "only dead letters that failed at least this long ago (90m, 36h, 3d)")
			yes := fs.Bool("yes", false, "really delete")
			return func(ctx context.Context, in *cli.Invocation) error {
				if err := in.NoArgs(); err != nil {
					return err
				}
				ctx, s, done, err := n.connect(ctx)
				if err != nil {
					return err
				}
				defer done()
				preview := in.DryRun || !*yes
				res, err := s.ops.PurgeDeadLetters(ctx, f, preview)
				if err != nil {
					return err
				}
				if in.JSON {
					return writeJSON(in.Stdout, res)
				}
				if preview {
					if err := WriteDeadLetters(in.Stdout, res.Items); err != nil {
						return err
					}
					hint := "add --yes"
					if in.DryRun {
						hint = "dry run; drop --dry-run and add --yes"
					}
					fmt.Fprintf(in.Stdout, "%d dead letters would be deleted; nothing deleted (%s)\n", res.Matched, hint)
					return nil
				}
				fmt.Fprintf(in.Stdout, "deleted %d dead letters\n", res.Deleted)
				return nil
			}
		},
	}
}
