package sfsim

import (
	"strings"
	"testing"
)

// TestIndexGetMatchesIndexKey: the allocation-free lookup finds what
// m[indexKey(f, v)] finds, for case-insensitive and exact fields.
func TestIndexGetMatchesIndexKey(t *testing.T) {
	values := []any{nil, "", "abc", "ABC", "aBc-01", "Ünïcödé", "ÀB", "\u212a", "ſ", strings.Repeat("Ab", 40),
		strings.Repeat("x", 64), strings.Repeat("X", 65), 42.0, -1.5, true}
	for _, ci := range []bool{true, false} {
		f := &fieldInfo{ci: ci}
		m := map[string][]*record{}
		for i, v := range values {
			addTo(m, indexKey(f, v), &record{id: string(rune('a' + i))})
		}
		hits := 0
		for _, v := range values {
			want, got := m[indexKey(f, v)], indexGet(m, f, v)
			if len(got) != len(want) || len(want) > 0 && got[0] != want[0] {
				t.Errorf("ci=%v %q: indexGet = %v, m[indexKey] = %v", ci, v, got, want)
			}
			hits += len(got)
		}
		if hits < len(values)-2 {
			t.Errorf("ci=%v: only %d hits: the table no longer exercises lookups", ci, hits)
		}
	}
}
