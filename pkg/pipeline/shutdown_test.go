package pipeline_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/bus/bustest"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/synth"
)

// Issue 10: with the README's SFSIM_DAILY_LIMIT=20 example the run took
// 112 s for 8 s of work (members stopped one after another, each waiting
// out its own shutdown timeout). A run that spends its daily allocation
// must say so in its summary, and stop every member under one deadline.
func TestDailyLimitEndsWithAClearSummaryAndEveryMemberStopped(t *testing.T) {
	e, js := bustest.Start(t, bus.Topology{Storage: jetstream.MemoryStorage})
	up := fastUpsert()
	up.ShutdownTimeout = time.Minute // the run's one deadline must bound it
	sum, err := pipeline.Run(context.Background(), pipeline.Config{
		NATSURL: e.ClientURL(), Topology: bus.Topology{Storage: jetstream.MemoryStorage},
		Upserters: 4, Synth: synth.Options{Contacts: 3000, Seed: 2}, Sim: sfsim.Config{DailyLimit: 20},
		Upsert: up, Timeout: 2 * time.Minute, ShutdownTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sum.Paused, "daily API limit reached") || len(sum.Gaps) == 0 {
		t.Fatalf("paused %q, gaps %v: want the daily limit named and the waiting deltas as a gap", sum.Paused, sum.Gaps)
	}
	if !strings.Contains(strings.Join(sum.Gaps, "\n"), "daily API limit reached") {
		t.Errorf("gaps %v do not say why the deltas wait", sum.Gaps)
	}
	if sum.Shutdown.Upserters != 4 || sum.Shutdown.Stopped != 4 || !sum.Shutdown.Reconciler {
		t.Errorf("shutdown %+v: want all 4 members and the reconciler stopped", sum.Shutdown)
	}
	// Writes are paused: what is in flight waits at the closed gate and
	// cannot finish, so the deadline is cut to a second.
	if sum.Shutdown.Deadline != "1s" {
		t.Errorf("shutdown deadline %q, want 1s for a paused run (configured 2s)", sum.Shutdown.Deadline)
	}
	// Every member left the fleet: no heartbeat entry outlives the run.
	kv, err := js.KeyValue(context.Background(), bus.BucketMembers)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for k := range keys.Keys() {
		left = append(left, k)
	}
	if len(left) > 0 {
		t.Errorf("members still registered after the run: %v", left)
	}
}
