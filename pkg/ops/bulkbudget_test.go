package ops

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
)

// TestBulkBackfillStopsAndWaitsAtAPIBudget: with the org's use at the
// fleet's budget the backfill creates no job and stops with exit 3 naming
// the setting; with --budget-wait it pauses at the live path's gate until
// /limits shows room, then finishes.
func TestBulkBackfillStopsAndWaitsAtAPIBudget(t *testing.T) {
	f := newFixture(t)
	srv := sfsimtest.Start(t, sfsim.Config{})
	history(t, f, srv)
	c := sfClient(t, srv)
	srv.SetFaults(sfsim.Faults{DailyLimit: 10})
	if _, err := c.Limits(f.ctx); err != nil { // the org has used 1 of 10 calls: 10% = the budget below
		t.Fatal(err)
	}
	opts := BulkBackfillOptions{Segment: "emea", Ticket: "B1", SF: c, Resolver: conflict.NewResolver(c, conflict.Config{}, nil),
		Bulk: testPoll, APIBudget: 0.1, APIBudgetSetting: "SF_API_BUDGET=0.1", LimitCheckInterval: 5 * time.Millisecond}
	res, err := f.ops.BulkBackfill(f.ctx, opts)
	if !errors.Is(err, ErrAPIBudget) || cli.ExitCode(err) != cli.ExitIncomplete {
		t.Fatalf("over budget: err %v (exit %d), want ErrAPIBudget and exit 3", err, cli.ExitCode(err))
	}
	for _, want := range []string{"before creating a Bulk job", "1/10", "SF_API_BUDGET=0.1", "--ticket B1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := srv.Stats().Routes["POST /jobs/ingest"]; n != 0 || len(res.Jobs) != 0 || res.Applied != 0 || res.Stopped == "" {
		t.Fatalf("stopped backfill created %d jobs: %+v", n, res)
	}

	// Waiting: the allocation is raised while the backfill is paused; the
	// gate's next /limits check opens it.
	var paused string
	opts.BudgetWait = 20 * time.Second
	opts.Progress = func(r BulkBackfillResult) {
		if r.Phase == "paused" && paused == "" {
			paused = r.Paused
			srv.SetFaults(sfsim.Faults{})
		}
	}
	res, err = f.ops.BulkBackfill(f.ctx, opts)
	if err != nil {
		t.Fatalf("after waiting: %v", err)
	}
	if !strings.Contains(paused, "SF_API_BUDGET=0.1") || !strings.Contains(paused, "waiting up to 20s") {
		t.Errorf("paused line %q", paused)
	}
	if len(res.Jobs) != 1 || res.Applied != 2 || res.Held != 1 || res.DeadLettered != 1 {
		t.Fatalf("result after the pause %+v", res)
	}
}

// TestBulkBackfillStopsOnRequestLimitAndResumes: Salesforce refusing calls
// (REQUEST_LIMIT_EXCEEDED) while the results are settled stops the
// backfill cleanly; the same ticket later re-attaches to its job (no second
// upload) and settles the rest, without a second dead letter or a lost
// conflict.
func TestBulkBackfillStopsOnRequestLimitAndResumes(t *testing.T) {
	f := newFixture(t)
	srv := sfsimtest.Start(t, sfsim.Config{})
	history(t, f, srv)
	c := sfClient(t, srv)
	opts := BulkBackfillOptions{Segment: "emea", Ticket: "L1", SF: c, Resolver: conflict.NewResolver(c, conflict.Config{}, nil),
		Bulk: testPoll, APIBudget: 0.9, APIBudgetSetting: "SF_API_USAGE_PAUSE_AT=0.9", LimitCheckInterval: 5 * time.Millisecond}
	o1 := opts
	o1.Progress = func(r BulkBackfillResult) {
		if r.Phase == "settling" {
			srv.SetFaults(sfsim.Faults{DailyLimit: 1})
		}
	}
	res, err := f.ops.BulkBackfill(f.ctx, o1)
	if !errors.Is(err, ErrAPIBudget) || !strings.Contains(err.Error(), "REQUEST_LIMIT_EXCEEDED") ||
		!strings.Contains(err.Error(), "re-attaches to job "+strings.Join(res.Jobs, "")) {
		t.Fatalf("refused mid-settle: %v", err)
	}
	if res.Held != 0 || res.Conflicts != 0 {
		t.Fatalf("conflicts settled although the resolver was refused: %+v", res)
	}
	srv.SetFaults(sfsim.Faults{})
	res, err = f.ops.BulkBackfill(f.ctx, opts)
	if err != nil {
		t.Fatalf("resumed: %v", err)
	}
	if !res.Reattached || srv.Stats().Routes["POST /jobs/ingest"] != 1 {
		t.Fatalf("the rerun did not re-attach: %+v, routes %v", res, srv.Stats().Routes)
	}
	if res.Held != 1 || res.Conflicts != 1 {
		t.Fatalf("resumed result %+v", res)
	}
	if n := f.msgs(t, bus.StreamDLQ); n != 1 {
		t.Fatalf("%d dead letters, want the one refused row once", n)
	}
	if _, v := stateOf(t, f, "C3"); v != 1 {
		t.Fatalf("adopted contact C3 state v%d", v)
	}
}

// TestCLIBulkBackfillAPIBudget: syncctl backfill --bulk reads SF_API_BUDGET
// as the upserter does and exits 3 naming it when the org is at the budget.
func TestCLIBulkBackfillAPIBudget(t *testing.T) {
	f := newFixture(t)
	srv := sfsimtest.Start(t, sfsim.Config{DailyLimit: 10})
	history(t, f, srv)
	t.Setenv("NATS_URL", f.e.ClientURL())
	srv.Setenv(t)
	t.Setenv("SF_API_BUDGET", "0.1")
	out, _, err := runCLI(t, "backfill", "--segment", "emea", "--ticket", "CLI-1", "--bulk")
	if cli.ExitCode(err) != cli.ExitIncomplete || !strings.Contains(err.Error(), "SF_API_BUDGET=0.1") ||
		!strings.Contains(out, "stopped at the API budget") {
		t.Fatalf("exit %d: %v\n%s", cli.ExitCode(err), err, out)
	}
	if n := srv.Stats().Routes["POST /jobs/ingest"]; n != 0 {
		t.Fatalf("%d jobs created over budget", n)
	}
	t.Setenv("SF_API_BUDGET", "1.5")
	if _, _, err := runCLI(t, "backfill", "--segment", "emea", "--ticket", "CLI-1", "--bulk"); cli.ExitCode(err) != cli.ExitUsage ||
		!strings.Contains(err.Error(), "SF_API_BUDGET=1.5") {
		t.Fatalf("SF_API_BUDGET=1.5: %v", err)
	}
}
