package upsert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/bus/bustest"
	"github.com/contactsync/contactsync/pkg/fleet"
)

func testLease(t *testing.T, kv jetstream.KeyValue, p int, member string) *fleet.Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := fleet.Acquire(ctx, kv, fleet.LeaseKey(p), member, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Release)
	return l
}

func TestStateStoreRoundTripThroughJetStream(t *testing.T) {
	_, js := bustest.Start(t, bus.Topology{})
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	lease := testLease(t, kv, 3, "a")
	w := newStateStore(js)
	states := map[string]stored{}
	for i := range 250 {
		states[fmt.Sprintf("K%03d", i)] = stored{contactState: contactState{ID: fmt.Sprintf("003%015d", i), Version: int64(i + 1)}}
	}
	if failed := w.save(ctx, 3, states); len(failed) > 0 {
		t.Fatal(failed)
	}
	// A fresh store has no cache: everything comes from the bucket in one batched read.
	r := newStateStore(js)
	floor, err := lease.Renew(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"K000", "K249", "K100", "missing", "K100"}
	got, err := r.load(ctx, 3, keys, lease, floor)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if got[k].contactState != states[k].contactState {
			t.Errorf("%s: got %+v, want %+v", k, got[k], states[k])
		}
		if k != "missing" && got[k].rev == 0 {
			t.Errorf("%s: no revision", k)
		}
	}
	// Only-missing keys read as zero state, not an error.
	got, err = r.load(ctx, 3, []string{"nope-1", "nope-2"}, lease, floor)
	if err != nil || got["nope-1"] != (stored{}) {
		t.Fatalf("missing keys: %v %+v", err, got)
	}
	// The bucket agrees with what kv.Get sees.
	if e, err := kv.Get(ctx, "K042"); err != nil || string(e.Value()) != `{"id":"003000000000000042","v":43}` {
		t.Fatalf("kv.Get = %v, %v", e, err)
	}
}

// A save is a compare-and-set on the revision read: a deposed owner whose
// view is older than the key cannot overwrite it.
func TestStateSaveRefusesAStaleRevision(t *testing.T) {
	_, js := bustest.Start(t, bus.Topology{})
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	lease := testLease(t, kv, 1, "new")
	deposed, owner := newStateStore(js), newStateStore(js)
	floor, _ := lease.Renew(ctx)
	seen, err := deposed.load(ctx, 1, []string{"K"}, lease, floor) // both read "no state"
	if err != nil {
		t.Fatal(err)
	}
	if failed := owner.save(ctx, 1, map[string]stored{"K": {contactState: contactState{ID: "003A", Version: 4}}}); len(failed) > 0 {
		t.Fatal(failed)
	}
	failed := deposed.save(ctx, 1, map[string]stored{"K": {contactState: contactState{ID: "003A", Version: 3}, rev: seen["K"].rev}})
	if failed["K"] == nil {
		t.Fatal("a save based on an older revision overwrote a newer one")
	}
	if e, err := kv.Get(ctx, "K"); err != nil || string(e.Value()) != `{"id":"003A","v":4}` {
		t.Fatalf("state after the refused save: %v %v", e, err)
	}
}

// A read that finds the partition's lease held by someone else fails with
// ErrLeaseLost: a deposed owner never proceeds on what it read.
func TestStateLoadNoticesALostLease(t *testing.T) {
	_, js := bustest.Start(t, bus.Topology{})
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	lease := testLease(t, kv, 2, "old")
	floor, _ := lease.Renew(ctx)
	if _, err := kv.Put(ctx, fleet.LeaseKey(2), []byte(`{"member":"new","nonce":"x"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := newStateStore(js).load(ctx, 2, []string{"K"}, lease, floor); !errors.Is(err, fleet.ErrLeaseLost) {
		t.Fatalf("load = %v, want ErrLeaseLost", err)
	}
}

// A saved state is what json.Marshal wrote before, so states written by
// either build read the same.
func TestContactStateJSON(t *testing.T) {
	for _, s := range []contactState{{}, {Version: 7}, {ID: "003XX0000001", Version: 1733000000000001, Fingerprint: "Email,Phone:abc-_"},
		{ID: "003<&>", Version: -1, Deleted: true}, {Deleted: true, Fingerprint: "x\u2028"}} {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.appendJSON(nil); string(got) != string(want) {
			t.Errorf("%+v: appendJSON %s, json.Marshal %s", s, got, want)
		}
	}
}
