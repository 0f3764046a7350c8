package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/synth"
	"github.com/contactsync/contactsync/pkg/upsert"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"))
}

func fastUpsert() upsert.Config {
	return upsert.Config{Heartbeat: 200 * time.Millisecond, LeaseTTL: 2 * time.Second, AckWait: 5 * time.Second, MaxDelay: 200 * time.Millisecond,
		LimitCheckInterval: 200 * time.Millisecond, ShutdownTimeout: 5 * time.Second}
}

// The accounting invariant on the realistic generated mix: out-of-order
// versions, invalid rows, and collisions with existing contacts.
func TestGeneratedRunAccountsForEveryDelta(t *testing.T) {
	sum, err := pipeline.Run(context.Background(), pipeline.Config{
		Upserters: 3, Synth: synth.Options{Contacts: 1500, Seed: 11, InvalidRate: 0.03, ConflictRate: 0.04, UnlinkedRate: 0.02},
		Upsert: fastUpsert(), Timeout: 2 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Gaps) > 0 {
		t.Fatalf("gaps: %v\n%+v", sum.Gaps, sum)
	}
	if sum.Rejected == 0 || sum.DeadLettered == 0 || sum.StaleSkipped == 0 {
		t.Errorf("the mix should produce rejects, dead letters and stale skips: %+v", sum)
	}
	if sum.Created == 0 || sum.Adopted == 0 || sum.Held == 0 {
		t.Errorf("want created, adopted (unlinked) and held (strict conflicts): %+v", sum)
	}
	// Several deltas of one held contact share one exception (same key).
	if sum.Exceptions == 0 || sum.Exceptions > sum.Held+sum.Adopted {
		t.Errorf("held %d, adopted %d: want between 1 and held+adopted exception records, got %d", sum.Held, sum.Adopted, sum.Exceptions)
	}
	if sum.Policy != "strict" {
		t.Errorf("policy = %q, want the default strict", sum.Policy)
	}
	// The batch fill: every upsert call the fleet's combiners sent is
	// counted with why it went out, none beyond what the emulator saw.
	c := sum.UpsertCalls
	var byReason int64
	for _, n := range c.ByReason {
		byReason += n
	}
	if c.Calls == 0 || byReason != c.Calls || c.Calls > sum.APICallsByRoute["PATCH /composite/sobjects/{type}/{field}"] ||
		c.Records < sum.Created || c.Records > int64(sum.BatchSize)*c.Calls || sum.BatchSize != 200 {
		t.Errorf("upsert calls %+v (batch size %d): want every call counted by reason, at most what the emulator saw (%d), carrying at least the %d created",
			c, sum.BatchSize, sum.APICallsByRoute["PATCH /composite/sobjects/{type}/{field}"], sum.Created)
	}
	var table strings.Builder
	sum.WriteTable(&table)
	if want := fmt.Sprintf("%d  Collections upserts, %.1f records each", c.Calls, float64(c.Records)/float64(c.Calls)); !strings.Contains(table.String(), want) {
		t.Errorf("summary table lacks %q:\n%s", want, table.String())
	}
}

func TestPoliciesShowTheirOutcome(t *testing.T) {
	for _, tc := range []struct {
		policy conflict.Policy
		check  func(pipeline.Summary) bool
	}{
		{conflict.Strict, func(s pipeline.Summary) bool { return s.Held > 0 && s.Rekeyed == 0 }},
		{conflict.ExternalID, func(s pipeline.Summary) bool { return s.Held == 0 && s.Rekeyed == 0 && s.Exceptions > 0 }},
		{conflict.Email, func(s pipeline.Summary) bool { return s.Rekeyed > 0 && s.Held == 0 }},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			sum, err := pipeline.Run(context.Background(), pipeline.Config{
				Upserters: 2, Synth: synth.Options{Contacts: 400, Seed: 5, MaxUpdates: -1, InvalidRate: -1, ConflictRate: 0.1, UnlinkedRate: -1},
				Conflict: conflict.Config{DefaultPolicy: tc.policy}, Upsert: fastUpsert(), Timeout: time.Minute,
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(sum.Gaps) > 0 || !tc.check(sum) {
				t.Fatalf("policy %s: %+v", tc.policy, sum)
			}
		})
	}
}

func TestInputFileWithBadLines(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.ndjson")
	lines := []string{
		`{"schema":"contact.delta/v1","external_id":"F1","segment":"emea","version":1,"fields":{"LastName":"One"}}`,
		`{"schema":"contact.delta/v1","external_id":"F1","segment":"emea","version":2,"fields":{"LastName":"Two"}}`,
		`{"schema":"contact.delta/v1","external_id":"","segment":"emea","version":1,"fields":{"LastName":"x"}}`,
		`not json`,
		`{"schema":"contact.delta/v1","external_id":"F2","segment":"emea","version":1,"fields":{"LastName":"B","Email":"bad"}}`,
	}
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := pipeline.Run(context.Background(), pipeline.Config{Upserters: 1, Input: in, Upsert: fastUpsert(), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Read != 5 || sum.Rejected != 2 || sum.Published != 3 || sum.DeadLettered != 1 || sum.Created+sum.Updated+sum.StaleSkipped != 2 {
		t.Fatalf("summary %+v", sum)
	}
	if len(sum.Gaps) > 0 {
		t.Fatalf("gaps: %v", sum.Gaps)
	}
}
