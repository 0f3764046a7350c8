package upsert

import (
	"context"
	"fmt"
	"testing"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/bus/bustest"
)

func TestStateStoreRoundTripThroughJetStream(t *testing.T) {
	_, js := bustest.Start(t, bus.Topology{})
	ctx := context.Background()
	w := newStateStore(js)
	states := map[string]contactState{}
	for i := range 250 {
		states[fmt.Sprintf("K%03d", i)] = contactState{ID: fmt.Sprintf("003%015d", i), Version: int64(i + 1)}
	}
	if err := w.save(ctx, 3, states); err != nil {
		t.Fatal(err)
	}
	// A fresh store has no cache: everything comes from the bucket in one batched read.
	r := newStateStore(js)
	keys := []string{"K000", "K249", "K100", "missing", "K100"}
	got, err := r.load(ctx, 3, keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if got[k] != states[k] {
			t.Errorf("%s: got %+v, want %+v", k, got[k], states[k])
		}
	}
	// Only-missing keys read as zero state, not an error.
	got, err = r.load(ctx, 4, []string{"nope-1", "nope-2"})
	if err != nil || got["nope-1"] != (contactState{}) {
		t.Fatalf("missing keys: %v %+v", err, got)
	}
	// The bucket agrees with what kv.Get sees.
	kv, err := js.KeyValue(ctx, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "K042"); err != nil || string(e.Value()) != `{"id":"003000000000000042","v":43}` {
		t.Fatalf("kv.Get = %v, %v", e, err)
	}
}
