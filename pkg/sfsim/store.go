package sfsim

import (
	"strings"
	"unicode/utf8"
)

// record is one stored sObject. Its field map is never modified once
// stored (an update swaps in a new map), so maps handed to queries and
// snapshots stay consistent without copying under the lock.
type record struct {
	id  string // 18 characters
	key string // 15-character case-sensitive key
	f   map[string]any
	pos int // index in objectStore.list
	// self is []*record{r}'s backing array, lent to every index entry
	// that holds only r (most do) rather than allocating one per entry.
	// Entries are never written in place at a length they do not own
	// (addTo appends past len 1 = cap 1, removeFrom builds a new slice),
	// so sharing it is safe.
	self [1]*record
}

// objectStore holds one object's records and their indexes.
type objectStore struct {
	info  *objectInfo
	byKey map[string]*record
	list  []*record
	rows  []map[string]any // rows[i] == list[i].f, the slice queries scan
	// idx[i] indexes info.indexed[i]: normalised value → records.
	idx []map[string][]*record
	// dup[i] indexes info.dupRules[i]: match key → records.
	dup []map[string][]*record
	// autoNumber is the last auto-number Name given.
	autoNumber uint64
}

func newObjectStore(o *objectInfo) *objectStore {
	s := &objectStore{info: o, byKey: map[string]*record{}}
	s.idx = make([]map[string][]*record, len(o.indexed))
	for i := range s.idx {
		s.idx[i] = map[string][]*record{}
	}
	s.dup = make([]map[string][]*record, len(o.dupRules))
	for i := range s.dup {
		s.dup[i] = map[string][]*record{}
	}
	return s
}

// txn records how to undo the writes of one request, for allOrNone.
type txn struct{ undo []func() }

func (t *txn) add(f func()) { t.undo = append(t.undo, f) }

func (t *txn) rollback() { t.rollbackTo(0) }

// rollbackTo undoes the writes made since mark (a len(t.undo) taken
// earlier): a collection inside a composite rolls back only its own.
func (t *txn) rollbackTo(mark int) {
	for i := len(t.undo) - 1; i >= mark; i-- {
		t.undo[i]()
	}
	t.undo = t.undo[:mark]
}

// indexKey normalises a field value for its index; "" = not indexed.
func indexKey(f *fieldInfo, v any) string {
	s := valueString(v)
	if s == "" {
		return ""
	}
	if f.ci {
		return strings.ToLower(s)
	}
	return s
}

// indexGet is m[indexKey(f, v)], lower-casing a short ASCII value on the
// stack instead of into a new string (a map index by string(bytes) does
// not allocate).
func indexGet(m map[string][]*record, f *fieldInfo, v any) []*record {
	s := valueString(v)
	switch {
	case s == "":
		return nil // indexKey "": never an entry
	case !f.ci:
		return m[s]
	}
	var buf [64]byte
	if len(s) > len(buf) {
		return m[strings.ToLower(s)]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return m[strings.ToLower(s)]
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return m[string(buf[:len(s)])]
}

// dupKey is a duplicate rule's match key of a field map; "" = no match
// possible (a blank field never matches).
func dupKey(r *dupRule, f map[string]any) string {
	if len(r.fields) == 1 {
		return normMatch(valueString(f[r.fields[0].Name]))
	}
	var b strings.Builder
	for i, fi := range r.fields {
		v := normMatch(valueString(f[fi.Name]))
		if v == "" {
			return ""
		}
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(v)
	}
	return b.String()
}

func normMatch(s string) string {
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(s)
		}
	}
	return s
}

func addTo(m map[string][]*record, k string, r *record) {
	if k == "" {
		return
	}
	if l := m[k]; len(l) > 0 {
		m[k] = append(l, r)
		return
	}
	r.self[0] = r
	m[k] = r.self[:]
}

// sole reports whether r is the only record of list.
func sole(list []*record, r *record) bool { return len(list) == 1 && list[0] == r }

func removeFrom(m map[string][]*record, k string, r *record) {
	if k == "" {
		return
	}
	l := m[k]
	for i, x := range l {
		if x == r {
			l = append(l[:i:i], l[i+1:]...)
			break
		}
	}
	if len(l) == 0 {
		delete(m, k)
	} else {
		m[k] = l
	}
}

func (s *objectStore) indexAdd(r *record, f map[string]any) {
	for i, fi := range s.info.indexed {
		addTo(s.idx[i], indexKey(fi, f[fi.Name]), r)
	}
	for i, dr := range s.info.dupRules {
		addTo(s.dup[i], dupKey(dr, f), r)
	}
}

func (s *objectStore) indexRemove(r *record, f map[string]any) {
	for i, fi := range s.info.indexed {
		removeFrom(s.idx[i], indexKey(fi, f[fi.Name]), r)
	}
	for i, dr := range s.info.dupRules {
		removeFrom(s.dup[i], dupKey(dr, f), r)
	}
}

// sameString reports whether a and b are both nil or the same string (so
// have the same index key, without computing it).
func sameString(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	}
	return false
}

// lookup returns the records whose indexed field fi equals v.
func (s *objectStore) lookup(fi *fieldInfo, v any) []*record {
	if fi.index < 0 {
		return nil
	}
	return indexGet(s.idx[fi.index], fi, v)
}

func (s *objectStore) insert(r *record, tx *txn) {
	r.pos = len(s.list)
	s.list = append(s.list, r)
	s.rows = append(s.rows, r.f)
	s.byKey[r.key] = r
	s.indexAdd(r, r.f)
	if tx != nil {
		tx.add(func() { s.remove(r, nil) })
	}
}

func (s *objectStore) replace(r *record, f map[string]any, tx *txn) {
	old := r.f
	// Per index, what indexRemove then indexAdd would do, skipped where
	// the key stays and r is its only record (removing and re-adding
	// would leave the entry as it is; with other records it moves r last,
	// so that case still runs).
	for i, fi := range s.info.indexed {
		ov, nv := old[fi.Name], f[fi.Name]
		if sameString(ov, nv) {
			if valueString(ov) == "" || sole(indexGet(s.idx[i], fi, ov), r) {
				continue
			}
		}
		removeFrom(s.idx[i], indexKey(fi, ov), r)
		addTo(s.idx[i], indexKey(fi, nv), r)
	}
	for i, dr := range s.info.dupRules {
		ok, nk := dupKey(dr, old), dupKey(dr, f)
		if ok == nk && (ok == "" || sole(s.dup[i][ok], r)) {
			continue
		}
		removeFrom(s.dup[i], ok, r)
		addTo(s.dup[i], nk, r)
	}
	r.f = f
	s.rows[r.pos] = f
	if tx != nil {
		tx.add(func() { s.replace(r, old, nil) })
	}
}

func (s *objectStore) remove(r *record, tx *txn) {
	pos := r.pos
	s.indexRemove(r, r.f)
	delete(s.byKey, r.key)
	copy(s.list[pos:], s.list[pos+1:])
	s.list[len(s.list)-1] = nil
	s.list = s.list[:len(s.list)-1]
	copy(s.rows[pos:], s.rows[pos+1:])
	s.rows[len(s.rows)-1] = nil
	s.rows = s.rows[:len(s.rows)-1]
	for i := pos; i < len(s.list); i++ {
		s.list[i].pos = i
	}
	if tx != nil {
		tx.add(func() { s.insertAt(r, pos) })
	}
}

func (s *objectStore) insertAt(r *record, pos int) {
	s.list = append(s.list, nil)
	copy(s.list[pos+1:], s.list[pos:])
	s.list[pos] = r
	s.rows = append(s.rows, nil)
	copy(s.rows[pos+1:], s.rows[pos:])
	s.rows[pos] = r.f
	for i := pos; i < len(s.list); i++ {
		s.list[i].pos = i
	}
	s.byKey[r.key] = r
	s.indexAdd(r, r.f)
}
