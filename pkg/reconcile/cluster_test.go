package reconcile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/bus/bustest"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/reconcile"
)

// eventually waits until cond holds, checking every 50ms; waitTimeout only
// bounds a test that would otherwise hang.
func eventually(t *testing.T, cond func() bool, msg func() string) {
	t.Helper()
	deadline := time.After(waitTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatal(msg())
		case <-tick.C:
		}
	}
}

// conflictEvents are n distinct conflicts (one exception record each),
// numbered from first.
func (h *harness) conflictEvents(first, n int) []conflict.Event {
	var evs []conflict.Event
	for i := first; i < first+n; i++ {
		evs = append(evs, conflict.Event{Kind: conflict.KindEmailConflict, Policy: conflict.Strict, Segment: "emea",
			IncomingExternalID: fmt.Sprintf("MC_%d", i), Email: fmt.Sprintf("c%d@example.com", i),
			ExistingIDs: []string{h.ids[i%len(h.ids)]}, SourceVersion: 1, SeenAt: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)})
	}
	return evs
}

// publishRetrying publishes evs as the upserter does (dedup ID per event),
// retrying while the cluster is electing leaders.
func publishRetrying(t *testing.T, js jetstream.JetStream, evs []conflict.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, ev := range evs {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		err = bus.Retry{}.Do(ctx, "publish conflict", func(ctx context.Context) error {
			_, err := js.Publish(ctx, bus.ConflictSubject(ev.Segment), b, jetstream.WithMsgID("conflict:"+ev.Key()))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Killing the reconciler consumer's leader node mid-run, and bringing it
// back, loses no event and writes each exception record once.
func TestNodeLossMidRun(t *testing.T) {
	c := bustest.StartCluster(t, 3, bus.Topology{})
	_, js := c.Connect(t)
	_, pubJS := c.Connect(t)
	h := newHarnessOn(t, js)
	r := h.start(t, reconcile.Config{AckWait: 5 * time.Second})
	const per = 30
	written := func(n int) {
		t.Helper()
		eventually(t, func() bool { return len(h.exceptions()) >= n }, func() string {
			return fmt.Sprintf("%d of %d exception records written; stats %+v", len(h.exceptions()), n, r.Stats())
		})
	}

	publishRetrying(t, pubJS, h.conflictEvents(0, per))
	written(per)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cons, err := pubJS.Consumer(ctx, bus.StreamConflicts, "reconciler")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil || info.Cluster == nil || info.Cluster.Leader == "" {
		t.Fatalf("no consumer leader: %v %+v", err, info)
	}
	leader := info.Cluster.Leader
	if !c.Kill(leader) {
		t.Fatalf("no node %s", leader)
	}
	publishRetrying(t, pubJS, h.conflictEvents(per, per))
	written(2 * per)

	if err := c.Restart(leader); err != nil {
		t.Fatal(err)
	}
	publishRetrying(t, pubJS, h.conflictEvents(2*per, per))
	written(3 * per)

	ex := h.exceptions() // panics on two records with one key
	for _, ev := range h.conflictEvents(0, 3*per) {
		if ex[ev.Key()] == nil {
			t.Errorf("no exception record for %s", ev.IncomingExternalID)
		}
	}
	// A record is in Salesforce a moment before its batch is counted.
	eventually(t, func() bool { return r.Stats().Events >= 3*per }, func() string {
		return fmt.Sprintf("stats %+v: not every event counted", r.Stats())
	})
	s := r.Stats()
	if len(ex) != 3*per || s.Created != 3*per || s.DeadLettered != 0 {
		t.Fatalf("%d records, stats %+v; want %d created once, no dead letters", len(ex), s, 3*per)
	}
	t.Logf("killed and restarted %s; stats %+v", leader, s)
	if err := c.WaitHealthy(ctx); err != nil { // caught up before the cluster is shut down
		t.Fatal(err)
	}
}

// When its consumer is deleted under it, the reconciler creates it again
// and keeps consuming instead of going quiet.
func TestConsumerDeletedIsRecreated(t *testing.T) {
	h := newHarness(t)
	r := h.start(t, reconcile.Config{})
	h.publish(t, h.conflictEvents(0, 4)...)
	h.settle(t, 4)
	if err := h.js.DeleteConsumer(context.Background(), bus.StreamConflicts, "reconciler"); err != nil {
		t.Fatal(err)
	}
	h.publish(t, h.conflictEvents(4, 4)...)
	eventually(t, func() bool { return len(h.exceptions()) == 8 }, func() string {
		return fmt.Sprintf("%d exception records after the consumer was deleted, want 8; stats %+v", len(h.exceptions()), r.Stats())
	})
	eventually(t, func() bool { return r.Stats().Events >= 8 }, func() string {
		return fmt.Sprintf("stats %+v: not every event counted", r.Stats())
	})
	if s := r.Stats(); s.Created != 8 {
		t.Fatalf("stats %+v: want 8 created", s)
	}
}
