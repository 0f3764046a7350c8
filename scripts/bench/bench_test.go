package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
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
