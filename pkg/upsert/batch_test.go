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
