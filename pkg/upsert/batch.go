package upsert

import (
	"sort"

	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/delta"
)

// item is one message of a batch with its decoded delta.
type item struct {
	idx   int // position in the fetched batch
	delta delta.Delta
	key   string // delta.ContactKey(ExternalID): KV key and subject token
	// repair: the message carries bus.HeaderRepairTicket, so an equal
	// version is rewritten instead of skipped (see stale).
	repair bool
}

// stale reports whether it must not be written over st: its version is
// older than the applied one, or equal (already applied) unless it is a
// repair of a contact whose applied state is a write.
func (it item) stale(st stored) bool {
	if it.delta.Version == st.Version && it.repair && st.Version > 0 && !st.Deleted {
		return false
	}
	return it.delta.Version <= st.Version
}

// write is one Salesforce record to send: the deltas of one contact folded
// together, newest version last.
type write struct {
	key     string
	items   []item // all deltas folded into this write, in version order
	newest  item
	fields  map[string]any
	version int64
	rev     uint64          // revision of the contact's state when read: the save's compare-and-set
	applied *stored         // the contact's new state once Salesforce took the write
	event   *conflict.Event // exception raised for this write, published before ack
	lastErr string          // last transient error, for the dead letter if retries run out
	del     bool            // a delete (delete.go), not an upsert
	id      string          // delete: the Salesforce Id, from state or the lookup
}

// fold drops stale deltas and folds the rest per contact.
//
// A delta is stale when its version is not newer than the last applied
// version of its contact. Deltas of one contact in the same batch are merged
// in version order, so later versions overwrite earlier values of the same
// field and no field sent only by an earlier delta is lost. The contact is
// identified by its key, which folds case as Salesforce matches the
// external ID (unique, case-insensitive), so two spellings never meet in one
// request (which Salesforce would refuse as "Duplicate external id
// specified").
func fold(items []item, state map[string]stored) (writes []*write, stale []item) {
	byContact := map[string]*write{}
	var order []string
	for _, it := range items {
		st := state[it.key]
		if it.stale(st) {
			stale = append(stale, it)
			continue
		}
		ck := it.key
		w, ok := byContact[ck]
		if !ok {
			w = &write{}
			byContact[ck] = w
			order = append(order, ck)
		}
		w.items = append(w.items, it)
	}
	for _, ck := range order {
		w := byContact[ck]
		sort.SliceStable(w.items, func(i, j int) bool { return w.items[i].delta.Version < w.items[j].delta.Version })
		w.fields = map[string]any{}
		for _, it := range w.items {
			for k, v := range it.delta.Fields {
				w.fields[k] = v
			}
		}
		w.newest = w.items[len(w.items)-1]
		w.key = w.newest.key
		w.version = w.newest.delta.Version
		w.rev = state[w.key].rev
		writes = append(writes, w)
	}
	return writes, stale
}
