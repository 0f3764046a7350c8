package upsert

import (
	"testing"

	"github.com/contactsync/contactsync/pkg/delta"
)

func mk(idx int, id string, v int64, fields map[string]any) item {
	return item{idx: idx, key: delta.ContactKey(id), delta: delta.Delta{ExternalID: id, Segment: "emea", Version: v, Fields: fields}}
}

func TestFold(t *testing.T) {
	items := []item{
		mk(0, "A", 3, map[string]any{"LastName": "Three", "Title": "CMO"}),
		mk(1, "A", 2, map[string]any{"LastName": "Two", "Phone": "123"}),
		mk(2, "B", 5, map[string]any{"LastName": "Old"}), // stale: state says 7
		mk(3, "C", 1, map[string]any{"LastName": "C"}),
		mk(4, "a", 4, map[string]any{"Email": "a@x.io"}), // same contact as A for Salesforce
		mk(5, "C", 1, map[string]any{"LastName": "dup"}), // redelivered version already folded? same version
	}
	state := map[string]stored{delta.ContactKey("B"): {contactState: contactState{ID: "003B", Version: 7}, rev: 9}, delta.ContactKey("C"): {}}
	writes, stale := fold(items, state)
	if len(stale) != 1 || stale[0].idx != 2 {
		t.Fatalf("stale = %+v, want only item 2", stale)
	}
	if len(writes) != 2 {
		t.Fatalf("writes = %d, want 2 (A folded with a, and C)", len(writes))
	}
	a := writes[0]
	if a.version != 4 || a.newest.idx != 4 || len(a.items) != 3 {
		t.Fatalf("A write = version %d newest %d items %d", a.version, a.newest.idx, len(a.items))
	}
	want := map[string]any{"LastName": "Three", "Title": "CMO", "Phone": "123", "Email": "a@x.io"}
	for k, v := range want {
		if a.fields[k] != v {
			t.Errorf("A field %s = %v, want %v (merged in version order)", k, a.fields[k], v)
		}
	}
	if c := writes[1]; c.version != 1 || len(c.items) != 2 {
		t.Fatalf("C write = %+v", c)
	}
}

// A repair (bus.HeaderRepairTicket) rewrites the applied version, and only
// that: an older version stays stale, a tombstone stays deleted, a contact
// with no state is written as any delta is, and without the header the
// equal version is stale as before.
func TestFoldRepairRewritesOnlyTheAppliedVersion(t *testing.T) {
	rep := func(it item) item { it.repair = true; return it }
	state := map[string]stored{
		delta.ContactKey("A"): {contactState: contactState{ID: "003A", Version: 5}, rev: 1},
		delta.ContactKey("B"): {contactState: contactState{ID: "003B", Version: 5}, rev: 2},
		delta.ContactKey("C"): {contactState: contactState{Version: 5, Deleted: true}, rev: 3},
		delta.ContactKey("D"): {contactState: contactState{ID: "003D", Version: 5}, rev: 4},
	}
	items := []item{
		rep(mk(0, "A", 5, map[string]any{"LastName": "A"})), // equal, repair: written
		rep(mk(1, "B", 4, map[string]any{"LastName": "B"})), // older, repair: stale
		rep(mk(2, "C", 5, map[string]any{"LastName": "C"})), // tombstone: stale
		mk(3, "D", 5, map[string]any{"LastName": "D"}),      // equal, no repair: stale
		rep(mk(4, "E", 1, map[string]any{"LastName": "E"})), // no state: written
	}
	writes, stale := fold(items, state)
	var staleIdx []int
	for _, it := range stale {
		staleIdx = append(staleIdx, it.idx)
	}
	if len(staleIdx) != 3 || staleIdx[0] != 1 || staleIdx[1] != 2 || staleIdx[2] != 3 {
		t.Fatalf("stale = %v, want [1 2 3]", staleIdx)
	}
	if len(writes) != 2 || writes[0].key != delta.ContactKey("A") || writes[0].version != 5 || writes[0].rev != 1 ||
		writes[1].key != delta.ContactKey("E") {
		t.Fatalf("writes = %+v, want A at version 5 (rev 1) and E", writes)
	}
}
