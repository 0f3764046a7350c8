package ops

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/upsert"
)

// bulkFlags are backfill's Bulk API flags.
type bulkFlags struct {
	force      bool
	threshold  int
	budgetWait time.Duration
}

func addBulkFlags(fs *flag.FlagSet) *bulkFlags {
	f := &bulkFlags{}
	def := DefaultBulkThreshold
	if v, err := strconv.Atoi(os.Getenv("SYNC_BULK_THRESHOLD")); err == nil {
		def = v
	}
	fs.BoolVar(&f.force, "bulk", false, "write the segment to Salesforce through one Bulk API 2.0 job (needs SF_* settings)")
	fs.IntVar(&f.threshold, "bulk-threshold", def, "with SF_LOGIN_URL set, use Bulk on its own from this many deltas in the segment's history; 0 = never (env SYNC_BULK_THRESHOLD)")
	cli.DurationVar(fs, &f.budgetWait, "budget-wait", 0, "with --bulk, wait up to this long (e.g. 6h) when the org's API use reaches SF_API_BUDGET / SF_API_USAGE_PAUSE_AT, then stop (exit 3); 0 = stop at once")
	return f
}

// SegmentDeltas counts the deltas CONTACTS holds for a segment.
func (o *Ops) SegmentDeltas(ctx context.Context, segment string) (int, error) {
	s, err := o.js.Stream(ctx, bus.StreamContacts)
	if err != nil {
		return 0, err
	}
	n := 0
	info, err := s.Info(ctx, jetstream.WithSubjectFilter("contacts.delta."+segment+".*.*"))
	if err != nil {
		return 0, err
	}
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n, nil
}

// maybeBulk runs the backfill through Bulk when --bulk is given, or when
// SF_LOGIN_URL is set and the history reaches --bulk-threshold. It reports
// whether it ran.
func (f *bulkFlags) maybeBulk(ctx context.Context, s *session, in *cli.Invocation, o BackfillOptions, fromFile bool) (bool, error) {
	stdout, stderr := in.Stdout, in.Stderr
	var env salesforce.Env
	if err := envconfig.Process("", &env); err != nil {
		return false, cli.Usagef("%v", err)
	}
	if !f.force {
		if fromFile || o.DryRun || env.LoginURL == "" || f.threshold <= 0 {
			return false, nil
		}
		n, err := s.ops.SegmentDeltas(ctx, o.Segment)
		if err != nil || n < f.threshold {
			return false, nil
		}
		fmt.Fprintf(stderr, "backfill: %d deltas in segment %s >= --bulk-threshold %d: going through Bulk API 2.0\n", n, o.Segment, f.threshold)
	}
	switch {
	case fromFile:
		return true, cli.Usagef("--bulk reads CONTACTS history; it does not take --from-file")
	case o.DryRun:
		return true, cli.Usagef("--bulk has no --dry-run")
	case o.Rate > 0:
		return true, cli.Usagef("--rate paces republishing; a --bulk backfill is one job")
	}
	if err := env.Validate(); err != nil {
		return true, cli.Usagef("--bulk: %v", err)
	}
	pol, err := conflict.ConfigFromEnv(os.Environ())
	if err != nil {
		return true, cli.Usagef("%v", err)
	}
	// The live path's API settings, read as the upserter reads them.
	var ucfg upsert.Config
	if err := cli.LoadEnv(&ucfg); err != nil {
		return true, err
	}
	for name, v := range map[string]float64{"SF_API_BUDGET": ucfg.APIBudget, "SF_API_USAGE_PAUSE_AT": ucfg.UsagePauseAt} {
		if v <= 0 || v > 1 {
			return true, cli.Usagef("%s=%g: want a share of the daily API allocation in (0, 1]", name, v)
		}
	}
	share, setting := bulkBudgetShare(ucfg)
	client, err := salesforce.New(ctx, env.Config())
	if err != nil {
		return true, fmt.Errorf("salesforce: %w", err)
	}
	defer client.Close()
	res, err := s.ops.BulkBackfill(ctx, BulkBackfillOptions{Segment: o.Segment, Ticket: o.Ticket, Since: o.Since, SinceSeq: o.SinceSeq,
		SF: client, Resolver: conflict.NewResolver(client, pol, nil),
		APIBudget: share, APIBudgetSetting: setting, BudgetWait: f.budgetWait, LimitCheckInterval: ucfg.LimitCheckInterval,
		Progress: func(r BulkBackfillResult) { WriteBulkProgress(stderr, r) }})
	if in.JSON {
		if jerr := writeJSON(stdout, res); jerr != nil {
			return true, jerr
		}
		return true, err
	}
	WriteBulkBackfill(stdout, res)
	return true, err
}

// bulkBudgetShare is the threshold of the bulk backfill's API gate: the
// fleet's share of the allocation (SF_API_BUDGET) or the live path's pause
// threshold (SF_API_USAGE_PAUSE_AT), whichever is lower, and the setting
// it came from.
func bulkBudgetShare(c upsert.Config) (float64, string) {
	if c.APIBudget > 0 && c.APIBudget < c.UsagePauseAt {
		return c.APIBudget, fmt.Sprintf("SF_API_BUDGET=%g", c.APIBudget)
	}
	return c.UsagePauseAt, fmt.Sprintf("SF_API_USAGE_PAUSE_AT=%g", c.UsagePauseAt)
}

// WriteBulkProgress prints one progress line.
func WriteBulkProgress(w io.Writer, r BulkBackfillResult) {
	if r.Paused != "" {
		fmt.Fprintf(w, "bulk backfill %s/%s: paused: %s\n", r.Segment, r.Ticket, r.Paused)
		return
	}
	fmt.Fprintf(w, "bulk backfill %s/%s: %s: %d contacts, %d to write, %d uploaded, job %s, %d processed, %d failed, %d API calls, %s\n",
		r.Segment, r.Ticket, r.Phase, r.Contacts, r.Contacts-r.AlreadyApplied, r.Uploaded, orDash(r.JobState), r.Processed, r.Failed,
		r.APICalls, r.Elapsed.Round(time.Millisecond))
}

// WriteBulkBackfill prints the summary.
func WriteBulkBackfill(w io.Writer, r BulkBackfillResult) {
	fmt.Fprintf(w, "segment %s, ticket %s: %d deltas, %d contacts (%d already applied)\n", r.Segment, r.Ticket, r.Deltas, r.Contacts, r.AlreadyApplied)
	fmt.Fprintf(w, "bulk jobs %v (re-attached: %t): %d rows uploaded, %d processed, %d failed\n", r.Jobs, r.Reattached, r.Uploaded, r.Processed, r.Failed)
	fmt.Fprintf(w, "applied %d, conflicts %d (held %d), stale %d, dead-lettered %d, retried through Collections %d\n",
		r.Applied, r.Conflicts, r.Held, r.Stale, r.DeadLettered, r.Retried)
	fmt.Fprintf(w, "Salesforce API calls: %d; elapsed %s\n", r.APICalls, r.Elapsed.Round(time.Millisecond))
	if r.Stopped != "" {
		fmt.Fprintf(w, "stopped at the API budget: %s\n", r.Stopped)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
