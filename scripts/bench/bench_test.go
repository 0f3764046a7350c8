package main

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/contactsync/contactsync/pkg/upsert"
)

func TestMain(m *testing.M) {
	if code, ok := runAsChild(); ok { // the test binary re-executed as a child process
		os.Exit(code)
	}
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"))
}

// TestQuickCeilingAndConflicts runs the quick variant of scenarios 1 and 8
// and checks that the report has every row. It asserts no timings: the
// benchmark measures, tests check behaviour.
func TestQuickCeilingAndConflicts(t *testing.T) {
	rep, err := Run(context.Background(), Options{Quick: true, Contacts: 2000, Only: []string{scCeiling, scConflicts}, Progress: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	md := rep.Markdown()
	t.Log("\n" + md)

	if len(rep.Rows) != 1 || rep.Rows[0].Contacts != 2000 || rep.Rows[0].Rate <= 0 {
		t.Errorf("want one ceiling row for 2000 contacts, got %+v", rep.Rows)
	}
	if len(rep.Conflicts) != 6 {
		t.Fatalf("want 6 conflict rows (3 policies × 1 and 3 segments), got %d", len(rep.Conflicts))
	}
	for _, c := range rep.Conflicts {
		if c.Batches != 1 || c.Upserts != 1 {
			t.Errorf("policy %s, %s: %d batches and %d upsert calls, want one batch with one upsert", c.Policy, c.Segments, c.Batches, c.Upserts)
		}
	}
	for _, want := range []string{
		"| 1. ceiling: raw JetStream publish → consume → ack | 2,000 |",
		"| strict | 1 segment | 200 / 50 |", "| external-id | 1 segment | 200 / 50 |", "| email | 1 segment | 200 / 50 |",
		"| strict | 3 segments | 200 / 50 |", "| external-id | 3 segments | 200 / 50 |", "| email | 3 segments | 200 / 50 |",
		"| conflict batch, policy strict, 1 segment: calls beyond the upsert |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if strings.Contains(md, "contactsync end to end") {
		t.Error("scenarios not asked for ran anyway")
	}
}

// TestQuickSteadyFleet runs scenario steady-fleet quick (the real
// workers/upserter and producer serve processes) and checks that every
// rate has a row at 1 ms and at the default SYNC_MAX_DELAY, with calls,
// POST → write latencies and the upserter processes' CPU time measured.
func TestQuickSteadyFleet(t *testing.T) {
	rep, err := Run(context.Background(), Options{Quick: true, Only: []string{scSteadyFleet}, Progress: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	md := rep.Markdown()
	t.Log("\n" + md)
	if len(rep.Steady) != 2*len(steadyRates) {
		t.Fatalf("want %d steady-fleet rows (%v × 1ms and %v), got %d", 2*len(steadyRates), steadyRates, upsert.DefaultMaxDelay, len(rep.Steady))
	}
	for _, s := range rep.Steady {
		if !s.Processes || s.Deltas == 0 || s.Calls == 0 || s.P99 <= 0 || s.CPUSeconds <= 0 {
			t.Errorf("%d/s, SYNC_MAX_DELAY %v: want processes, deltas, calls, a p99 and CPU time measured, got %+v", s.Rate, s.MaxDelay, s)
		}
	}
	for _, want := range []string{
		"| arrival rate (processes) | SYNC_MAX_DELAY |",
		"| 20/s | 1ms |", "| 20/s | 5s |", "| 200/s | 1ms |", "| 200/s | 5s |", "| 2000/s | 1ms |", "| 2000/s | 5s |",
		"| steady 20 deltas/s, upserter processes, one POST per delta: calls per 1,000 deltas",
		"| steady 200 deltas/s, upserter processes, one POST per delta: calls per 1,000 deltas",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(md, "| arrival rate | SYNC_MAX_DELAY |") {
		t.Error("the in-process steady table appeared, but scenario steady did not run")
	}
}

// TestCPUHogBesideTheRun checks that --cpu-hog runs its loops in another
// process for the run (that process used CPU time) and that the report
// says so.
func TestCPUHogBesideTheRun(t *testing.T) {
	rep, err := Run(context.Background(), Options{Quick: true, Contacts: 2000, Only: []string{scCeiling}, CPUHog: 1, Progress: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	md := rep.Markdown()
	t.Log("\n" + md)
	if rep.HogCPUSeconds <= 0 {
		t.Errorf("the hog process used %v CPU s, want > 0", rep.HogCPUSeconds)
	}
	if !strings.Contains(md, "`--cpu-hog 1`: 1 busy-loop goroutines in a separate process") {
		t.Error("report header does not state the CPU hog")
	}
	if quiet, _ := Run(context.Background(), Options{Quick: true, Contacts: 2000, Only: []string{scCeiling}}); strings.Contains(quiet.Markdown(), "cpu-hog") {
		t.Error("a run without --cpu-hog claims one")
	}
}

// TestPublishToWrite pairs sends with the emulator's writes: a version
// folded into a newer one's write counts to that write, a version sent
// after a newer one is stale and left out, a delta never written is missing.
func TestPublishToWrite(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	sends := []sendRec{
		{"A", 1, at(0)}, {"A", 2, at(10)}, // folded: one write of v2
		{"B", 2, at(0)}, {"B", 1, at(5)}, // v1 after v2: stale
		{"C", 1, at(0)}, {"C", 2, at(100)}, // each written alone
		{"D", 1, at(0)}, // never written
	}
	w := func(id string, v int64, ms int) writeRec { return writeRec{ID: id, Version: v, At: at(ms).UnixNano()} }
	writes := []writeRec{w("C", 2, 150), w("A", 2, 60), w("B", 2, 50), w("C", 1, 40)}
	lat, sentAt, missing := publishToWrite(sends, writes)
	if missing != 1 {
		t.Errorf("missing = %d, want 1 (D)", missing)
	}
	want := []time.Duration{60, 50, 50, 40, 50}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if !slices.Equal(lat, want) {
		t.Errorf("latencies = %v, want %v (A1, A2, B2, C1, C2)", lat, want)
	}
	if wantAt := []time.Time{at(0), at(10), at(0), at(0), at(100)}; !slices.Equal(sentAt, wantAt) {
		t.Errorf("sent at = %v, want %v", sentAt, wantAt)
	}
	// Sent at 0, 10, 0, 0 and 100 ms: the first fifth holds four deltas
	// (40, 50, 50, 60 ms: p99 as percentiles takes it, the value at
	// ⌊0.99·3⌋ = 2, 50 ms), the last one (50 ms), the others none.
	if got, want := p99ByFifth(lat, sentAt), [5]time.Duration{50 * time.Millisecond, 0, 0, 0, 50 * time.Millisecond}; got != want {
		t.Errorf("p99 by fifth = %v, want %v", got, want)
	}
}

// TestDriveSteadySendsTheScheduledCount: whatever the ticks do, a run
// sends rate × duration deltas, numbered in order, and stops at a send
// error.
func TestDriveSteadySendsTheScheduledCount(t *testing.T) {
	var got []int
	n, err := driveSteady(context.Background(), 2000, 50*time.Millisecond, func(i int) error { got = append(got, i); return nil })
	if err != nil || n != 100 || len(got) != 100 || got[0] != 0 || got[99] != 99 {
		t.Fatalf("sent %d (%d calls, err %v), want 100 numbered 0..99", n, len(got), err)
	}
	boom := errors.New("boom")
	n, err = driveSteady(context.Background(), 2000, time.Second, func(i int) error {
		if i == 7 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || n != 7 {
		t.Fatalf("after a failing send: %d sent, err %v; want 7 and the send's error", n, err)
	}
}

func TestOnlyRejectsUnknownScenario(t *testing.T) {
	if _, err := Run(context.Background(), Options{Only: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("want an error naming the unknown scenario, got %v", err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
