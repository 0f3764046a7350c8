package ops

import (
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/bus/bustest"
	"github.com/contactsync/contactsync/pkg/delta"
)

// BenchmarkBulkBackfillState measures reading and saving the contact state
// of a 10,000-contact segment as the Bulk backfill does (batched direct get;
// pipelined compare-and-set saves) against one KV round trip per contact,
// what it did before, on an embedded JetStream server:
//
//	go test -run '^$' -bench BulkBackfillState -benchtime 5x ./pkg/ops/
func BenchmarkBulkBackfillState(b *testing.B) {
	const n = 10000
	_, js := bustest.Start(b, bus.Topology{Storage: jetstream.FileStorage})
	ctx := b.Context()
	kv, err := js.KeyValue(ctx, bus.BucketState)
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = delta.ContactKey(fmt.Sprintf("BENCH-%06d", i))
		if _, err := kv.Put(ctx, keys[i], []byte(`{"id":"003000000000001AAA","v":1}`)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("read/batched", func(b *testing.B) {
		for b.Loop() {
			st, err := readStates(ctx, js, keys)
			if err != nil || len(st) != n {
				b.Fatalf("%d states, %v", len(st), err)
			}
		}
	})
	b.Run("read/per-key", func(b *testing.B) {
		for b.Loop() {
			for _, k := range keys {
				if _, err := kv.Get(ctx, k); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	bf := &bulkBackfill{o: New(js, nil), kv: kv}
	writes := func() []*bulkWrite {
		st, err := readStates(ctx, js, keys)
		if err != nil {
			b.Fatal(err)
		}
		ws := make([]*bulkWrite, n)
		for i, k := range keys {
			ws[i] = &bulkWrite{key: k, rev: st[k].rev}
			ws[i].newest.Version = st[k].Version + 1
		}
		return ws
	}
	b.Run("save/pipelined", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			ws := writes()
			b.StartTimer()
			for _, w := range ws {
				if err := bf.applied(ctx, w, "003000000000001AAA"); err != nil {
					b.Fatal(err)
				}
			}
			if err := bf.flushSaves(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("save/per-key", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			ws := writes()
			b.StartTimer()
			for _, w := range ws {
				if err := bf.saveState(ctx, w, "003000000000001AAA"); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
