package ops

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/salesforce"
)

// ErrUsage is returned by RunCLI for a bad command line.
var ErrUsage = errors.New("usage error")

// ExitCode is the process exit status for RunCLI's error: 0 for nil, 2 for
// usage errors and invalid arguments, 1 otherwise.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrUsage), errors.Is(err, ErrInvalid):
		return 2
	}
	return 1
}

const usage = `syncctl: operate a contactsync pipeline (NATS JetStream + Salesforce).

Usage:
  syncctl status                     streams, consumer lag, DLQ, fleet members
  syncctl dlq list                   dead letters, one per line
  syncctl dlq show SEQ               one dead letter: headers and payload
  syncctl dlq replay --ticket T      republish dead letters to their original subject
  syncctl dlq purge [--yes]          delete dead letters
  syncctl backfill --segment S --ticket T
                                     re-drive a segment from CONTACTS history or a file
  syncctl report                     counts by segment, error code, conflict kind;
                                     Salesforce exception records and API usage

Run "syncctl COMMAND --help" for a command's flags.

Environment (flags win):
  NATS_URL     NATS server URL(s), comma-separated (--nats)
  SF_LOGIN_URL report: when set, also query the org (SF_AUTH, SF_CLIENT_ID,
               SF_CLIENT_SECRET, SF_USERNAME, SF_PRIVATE_KEY_FILE, SF_API_VERSION)

Exit status: 0 ok, 1 failure (or rejected lines in a file backfill), 2 usage.
`

// cmd is one parsed subcommand.
type cmd struct {
	fs      *flag.FlagSet
	natsURL *string
	asJSON  *bool
	timeout *time.Duration
	wait    *time.Duration // commands that retry while JetStream does not answer (see waitFlag)
}

// waitFlag adds --wait: how long reads are retried while JetStream does not
// answer, and lets the connection be made while the servers are away.
func (c *cmd) waitFlag() {
	c.wait = c.fs.Duration("wait", DefaultWait, "keep retrying this long while JetStream does not answer (no responders, timeouts, no leader)")
}

func newCmd(name, help string, stdout io.Writer) *cmd {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	c := &cmd{fs: fs}
	c.natsURL = fs.String("nats", os.Getenv("NATS_URL"), "NATS server URL(s) (env NATS_URL)")
	c.asJSON = fs.Bool("json", false, "print JSON instead of a table")
	c.timeout = fs.Duration("timeout", 0, "give up after this long (0 = no limit)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), strings.TrimLeft(help, "\n"))
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	return c
}

// parse parses args; errHelp means --help was printed.
func (c *cmd) parse(args []string) error {
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return fmt.Errorf("%w: %s: %v", ErrUsage, c.fs.Name(), err)
	}
	return nil
}

var errHelp = errors.New("help shown")

// RunCLI runs the syncctl command line with args (without the program name).
// Results go to stdout, progress and warnings to stderr.
func RunCLI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: a command is required", ErrUsage)
	}
	var run func(context.Context, []string, io.Writer, io.Writer) error
	switch args[0] {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "status":
		run = runStatus
	case "report":
		run = runReport
	case "backfill":
		run = runBackfill
	case "dlq":
		if len(args) < 2 {
			fmt.Fprint(stderr, usage)
			return fmt.Errorf("%w: dlq needs list, show, replay or purge", ErrUsage)
		}
		args = args[1:]
		switch args[0] {
		case "list":
			run = runDLQList
		case "show":
			run = runDLQShow
		case "replay":
			run = runDLQReplay
		case "purge":
			run = runDLQPurge
		case "-h", "--help", "help":
			fmt.Fprint(stdout, usage)
			return nil
		default:
			return fmt.Errorf("%w: unknown dlq command %q (want list, show, replay or purge)", ErrUsage, args[0])
		}
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", ErrUsage, args[0])
	}
	err := run(ctx, args[1:], stdout, stderr)
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

// session is a connection for one command.
type session struct {
	nc  *nats.Conn
	ops *Ops
}

func (c *cmd) connect(ctx context.Context) (context.Context, *session, func(), error) {
	if *c.natsURL == "" {
		return nil, nil, nil, fmt.Errorf("%w: --nats or NATS_URL is required", ErrUsage)
	}
	nopts := []nats.Option{nats.Name("contactsync-syncctl")}
	var oopts []Option
	if c.wait != nil {
		if *c.wait <= 0 {
			return nil, nil, nil, fmt.Errorf("%w: --wait %s: want > 0", ErrUsage, *c.wait)
		}
		// A server restarting is waited for like a leader election.
		nopts = append(nopts, nats.RetryOnFailedConnect(true), nats.ReconnectWait(250*time.Millisecond))
		oopts = append(oopts, WithRetry(bus.Retry{MaxElapsed: *c.wait, CallTimeout: min(bus.DefaultCallTimeout, *c.wait)}))
	}
	nc, err := nats.Connect(*c.natsURL, nopts...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("connect to NATS at %s (--nats/NATS_URL): %w", bus.RedactURLs(*c.natsURL), err)
	}
	js, err := bus.NewJetStream(nc)
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	cancel := func() {}
	if *c.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, *c.timeout)
	}
	return ctx, &session{nc: nc, ops: New(js, zap.NewNop(), oopts...)}, func() { cancel(); nc.Close() }, nil
}

// unavailable turns a read that gave up waiting for JetStream into an error
// that says where syncctl looked and what did not answer.
func (c *cmd) unavailable(ctx context.Context, err error) error {
	var re *bus.RetryError
	if !errors.As(err, &re) || ctx.Err() != nil {
		return err
	}
	return fmt.Errorf("JetStream at %s (--nats/NATS_URL) did not answer for %s: could not read %s (are the servers up, with JetStream, and has the cluster elected its leaders?): %w",
		bus.RedactURLs(*c.natsURL), re.Elapsed.Round(time.Millisecond), re.Step, err)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

const statusHelp = `
syncctl status [--json] [--wait D]

Shows the pipeline at a glance:
  - streams CONTACTS, CONFLICTS, DLQ: messages, bytes, first and last time;
  - each upsert partition consumer (upsert-pNN): pending (not yet delivered)
    + ack pending (delivered, not yet acked) = lag, redeliveries, and the
    member holding the partition's lease, with when it last renewed it (a
    lease not renewed for SYNC_LEASE_TTL is taken over by another member);
  - the reconciler's lag on CONFLICTS;
  - dead letters by segment and by error code;
  - the live upserter members (KV bucket upserter_members), each with its
    partitions, its freshness budget (SYNC_MAX_DELAY, stretched under API
    pressure), the org's API use, the projected daily share and, when in
    sight, when the allocation runs out at the current rate.
Nothing is consumed or changed.

While JetStream does not answer (a node restarting, no leader elected yet,
no responders) each read is retried for up to --wait (default 10s); then it
fails (exit 1) naming the NATS URL and what could not be read.
`

func runStatus(ctx context.Context, args []string, stdout, _ io.Writer) error {
	c := newCmd("status", statusHelp, stdout)
	c.waitFlag()
	if err := c.parse(args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("%w: status takes no arguments", ErrUsage)
	}
	ctx, s, done, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	st, err := s.ops.Status(ctx)
	if err != nil {
		return c.unavailable(ctx, err)
	}
	if *c.asJSON {
		return writeJSON(stdout, st)
	}
	return WriteStatus(stdout, st)
}

const reportHelp = `
syncctl report [--json]

Summary counts: deltas held in CONTACTS by segment, dead letters by segment
and error code, conflict events by kind (CONFLICTS). When SF_LOGIN_URL is
set, also Contact_Sync_Exception__c records by Kind__c and Status__c (one
GROUP BY query) and the org's daily API usage (/limits); the Salesforce
credentials come from the usual SF_* variables.
`

func runReport(ctx context.Context, args []string, stdout, _ io.Writer) error {
	c := newCmd("report", reportHelp, stdout)
	if err := c.parse(args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("%w: report takes no arguments", ErrUsage)
	}
	var env salesforce.Env
	if err := envconfig.Process("", &env); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	ctx, s, done, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	var sf Salesforce
	if env.LoginURL != "" {
		client, err := salesforce.New(ctx, env.Config())
		if err != nil {
			return fmt.Errorf("salesforce: %w", err)
		}
		sf = client
	}
	rep, err := s.ops.Report(ctx, sf)
	if err != nil {
		return err
	}
	if *c.asJSON {
		return writeJSON(stdout, rep)
	}
	return WriteReport(stdout, rep)
}

// dlqFlags adds the shared filter flags.
func dlqFlags(c *cmd, f *DLQFilter) {
	c.fs.StringVar(&f.Segment, "segment", "", "only this segment")
	c.fs.StringVar(&f.Code, "code", "", "only this error code (Cs-Error-Code), e.g. INVALID_EMAIL_ADDRESS")
}

const dlqListHelp = `
syncctl dlq list [--segment S] [--code C] [--limit N] [--json]

Lists dead letters, oldest first, one per line: DLQ sequence, segment,
external ID, error code, message (truncated; see dlq show), when it failed
and after how many deliveries. Reads headers only; nothing is consumed.
`

func runDLQList(ctx context.Context, args []string, stdout, _ io.Writer) error {
	c := newCmd("dlq list", dlqListHelp, stdout)
	var f DLQFilter
	dlqFlags(c, &f)
	c.fs.IntVar(&f.Limit, "limit", 0, "at most N dead letters (0 = all)")
	if err := c.parse(args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("%w: dlq list takes no arguments", ErrUsage)
	}
	ctx, s, done, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	dls, err := s.ops.ListDeadLetters(ctx, f, false)
	if err != nil {
		return err
	}
	if *c.asJSON {
		if dls == nil {
			dls = []DeadLetter{}
		}
		return writeJSON(stdout, dls)
	}
	return WriteDeadLetters(stdout, dls)
}

const dlqShowHelp = `
syncctl dlq show SEQ [--json]

Prints one dead letter by DLQ sequence: every header (the reason in
Cs-Error-Code / Cs-Error-Message, the original subject and sequence, the
delivery count) and the payload as indented JSON.
`

func runDLQShow(ctx context.Context, args []string, stdout, _ io.Writer) error {
	c := newCmd("dlq show", dlqShowHelp, stdout)
	if err := c.parse(args); err != nil {
		return err
	}
	if c.fs.NArg() != 1 {
		return fmt.Errorf("%w: dlq show needs exactly one SEQ", ErrUsage)
	}
	seq, err := strconv.ParseUint(c.fs.Arg(0), 10, 64)
	if err != nil || seq == 0 {
		return fmt.Errorf("%w: SEQ %q: want a positive integer", ErrUsage, c.fs.Arg(0))
	}
	ctx, s, done, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	dl, err := s.ops.DeadLetter(ctx, seq)
	if err != nil {
		return err
	}
	if *c.asJSON {
		return writeJSON(stdout, struct {
			DeadLetter
			Payload json.RawMessage `json:"payload"`
		}{dl, payloadJSON(dl.Data)})
	}
	return WriteDeadLetter(stdout, dl)
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

const dlqReplayHelp = `
syncctl dlq replay --ticket T [--segment S] [--code C] [--seq N ...] [--dry-run] [--keep] [--json]

Republishes each matching dead letter to its original subject
(Cs-Orig-Subject, contacts.delta.<segment>.<key>) with Nats-Msg-Id
replay:<ticket>:<dlq seq>, then deletes it from the DLQ (unless --keep).
Fix the cause first (data, validation rule, field permission), then replay.

Safe to repeat: a replayed dead letter is gone from the DLQ, and a kept one
is deduplicated by CONTACTS within its duplicate window (10 minutes), so the
same ticket publishes nothing new. The upserter skips a delta older than what
it already applied, so a replay never rolls a contact back.
`

func runDLQReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCmd("dlq replay", dlqReplayHelp, stdout)
	var o ReplayOptions
	var seqs seqList
	dlqFlags(c, &o.DLQFilter)
	c.fs.Var(&seqs, "seq", "only this DLQ sequence (repeatable, or comma-separated)")
	c.fs.StringVar(&o.Ticket, "ticket", "", "change/incident ticket, part of the Nats-Msg-Id (required)")
	c.fs.BoolVar(&o.DryRun, "dry-run", false, "show what would be replayed; publish nothing")
	c.fs.BoolVar(&o.Keep, "keep", false, "keep replayed dead letters in the DLQ")
	if err := c.parse(args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %v (use --seq N)", ErrUsage, c.fs.Args())
	}
	if o.Ticket == "" {
		return fmt.Errorf("%w: --ticket is required", ErrUsage)
	}
	o.Seqs = seqs
	ctx, s, done, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	res, err := s.ops.Replay(ctx, o)
	if *c.asJSON {
		if jerr := writeJSON(stdout, res); jerr != nil {
			return jerr
		}
		return err
	}
	WriteReplay(stdout, res, o.DryRun)
	return err
}

const dlqPurgeHelp = `
syncctl dlq purge [--segment S] [--code C] [--older-than D] --yes [--json]

Deletes the matching dead letters for good (for example those already fixed
at the source). Without --yes it only prints what would be deleted.
--older-than takes a Go duration (72h, 30m) measured from Cs-Failed-At.
`

func runDLQPurge(ctx context.Context, args []string, stdout, _ io.Writer) error {
	c := newCmd("dlq purge", dlqPurgeHelp, stdout)
	var f DLQFilter
	dlqFlags(c, &f)
	c.fs.DurationVar(&f.OlderThan, "older-than", 0, "only dead letters that failed at least this long ago")
	yes := c.fs.Bool("yes", false, "really delete")
	if err := c.parse(args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("%w: dlq purge takes no arguments", ErrUsage)
	}
	ctx, s, done, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	res, err := s.ops.PurgeDeadLetters(ctx, f, !*yes)
	if err != nil {
		return err
	}
	if *c.asJSON {
		return writeJSON(stdout, res)
	}
	if !*yes {
		if err := WriteDeadLetters(stdout, res.Items); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d dead letters would be deleted; nothing deleted (add --yes)\n", res.Matched)
		return nil
	}
	fmt.Fprintf(stdout, "deleted %d dead letters\n", res.Deleted)
	return nil
}

const backfillHelp = `
syncctl backfill --segment S --ticket T [--since RFC3339 | --since-seq N] [--rate N] [--dry-run] [--json]
syncctl backfill --segment S --ticket T --from-file FILE [--rate N] [--dry-run] [--json]

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
`

func runBackfill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCmd("backfill", backfillHelp, stdout)
	var o BackfillOptions
	var since, file string
	c.fs.StringVar(&o.Segment, "segment", "", "segment to re-drive (required)")
	c.fs.StringVar(&o.Ticket, "ticket", "", "change/incident ticket, part of the Nats-Msg-Id (required)")
	c.fs.StringVar(&since, "since", "", "start at deltas stored at/after this RFC 3339 time")
	c.fs.Uint64Var(&o.SinceSeq, "since-seq", 0, "start at this CONTACTS stream sequence")
	c.fs.Float64Var(&o.Rate, "rate", 0, "deltas per second (0 = as fast as possible)")
	c.fs.BoolVar(&o.DryRun, "dry-run", false, "count what would be published; publish nothing")
	c.fs.StringVar(&file, "from-file", "", "NDJSON file of deltas of the segment, instead of CONTACTS history")
	if err := c.parse(args); err != nil {
		return err
	}
	switch {
	case c.fs.NArg() > 0:
		return fmt.Errorf("%w: unexpected arguments %v", ErrUsage, c.fs.Args())
	case o.Segment == "":
		return fmt.Errorf("%w: --segment is required", ErrUsage)
	case o.Ticket == "":
		return fmt.Errorf("%w: --ticket is required", ErrUsage)
	case since != "" && o.SinceSeq > 0:
		return fmt.Errorf("%w: --since and --since-seq are exclusive", ErrUsage)
	case file != "" && (since != "" || o.SinceSeq > 0):
		return fmt.Errorf("%w: --from-file reads a file; --since/--since-seq select CONTACTS history", ErrUsage)
	}
	if since != "" {
		t, err := time.Parse(time.RFC3339, since)
		if err != nil {
			return fmt.Errorf("%w: --since %q: want RFC 3339, e.g. 2026-11-26T10:00:00Z", ErrUsage, since)
		}
		o.Since = t
	}
	var in io.Reader
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("%w: --from-file: %v", ErrUsage, err)
		}
		defer f.Close()
		in = f
	}
	ctx, s, done, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	o.Progress = func(r BackfillResult) { WriteProgress(stderr, r) }
	var res BackfillResult
	if in != nil {
		res, err = s.ops.BackfillFile(ctx, in, o)
	} else {
		res, err = s.ops.Backfill(ctx, o)
	}
	for _, le := range res.Rejected {
		fmt.Fprintf(stderr, "%s: %v\n", file, le)
	}
	if *c.asJSON {
		if jerr := writeJSON(stdout, res); jerr != nil {
			return jerr
		}
		return err
	}
	WriteBackfill(stdout, res)
	return err
}
