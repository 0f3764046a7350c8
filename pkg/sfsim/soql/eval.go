package soql

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// env is what a condition is evaluated against: a row (for HAVING, the
// group's first row) and, for HAVING, the group's COUNT values.
type env struct {
	row    map[string]any
	counts []int
	today  int64 // day number of "now", for TODAY, LAST_N_DAYS:n, …
}

type cond interface {
	eval(e *env) bool
}

type andCond []cond
type orCond []cond
type notCond struct{ c cond }

func (c andCond) eval(e *env) bool {
	for _, x := range c {
		if !x.eval(e) {
			return false
		}
	}
	return true
}

func (c orCond) eval(e *env) bool {
	for _, x := range c {
		if x.eval(e) {
			return true
		}
	}
	return false
}

func (c notCond) eval(e *env) bool { return !c.c.eval(e) }

// value is a typed, non-null field value or literal. Strings hold their
// comparison key (folded unless the field is case-sensitive); dates hold a
// day number in sec; datetimes hold seconds and nanoseconds since the epoch.
type value struct {
	s    string
	f    float64
	b    bool
	sec  int64
	nsec int32
}

// toValue converts a row value for comparison as f's class. ok is false for
// null and for values of the wrong Go type (they compare like null).
func toValue(f *field, v any) (value, bool) {
	switch f.cls {
	case clsString:
		s, ok := v.(string)
		if !ok {
			return value{}, false
		}
		if f.fold {
			s = foldKey(s)
		}
		return value{s: s}, true
	case clsNumber:
		switch n := v.(type) {
		case float64:
			return value{f: n}, true
		case float32:
			return value{f: float64(n)}, true
		case int:
			return value{f: float64(n)}, true
		case int64:
			return value{f: float64(n)}, true
		case int32:
			return value{f: float64(n)}, true
		}
	case clsBool:
		if b, ok := v.(bool); ok {
			return value{b: b}, true
		}
	case clsDate:
		switch d := v.(type) {
		case string:
			if len(d) > 10 { // a datetime stored in a date field: its date part
				d = d[:10]
			}
			if n, ok := parseDate(d); ok {
				return value{sec: n}, true
			}
		case time.Time:
			return value{sec: dayNumber(d)}, true
		}
	case clsDateTime:
		switch d := v.(type) {
		case string:
			if t, ok := parseDateTime(d); ok {
				return instant(t), true
			}
		case time.Time:
			return instant(d), true
		}
	}
	return value{}, false
}

func instant(t time.Time) value { return value{sec: t.Unix(), nsec: int32(t.Nanosecond())} }

// compareValues orders two non-null values of class c.
func compareValues(c class, a, b value) int {
	switch c {
	case clsString:
		return strings.Compare(a.s, b.s)
	case clsNumber:
		return cmp.Compare(a.f, b.f)
	case clsBool:
		switch {
		case a.b == b.b:
			return 0
		case b.b:
			return -1
		default:
			return 1
		}
	default: // date and datetime
		if r := cmp.Compare(a.sec, b.sec); r != 0 {
			return r
		}
		return cmp.Compare(a.nsec, b.nsec)
	}
}

// operand is the left side of a comparison: a field, or in HAVING the
// COUNT of a field (agg >= 0).
type operand struct {
	f   *field
	agg int
}

func (o operand) class() class {
	if o.agg >= 0 {
		return clsNumber
	}
	return o.f.cls
}

func (o operand) get(e *env) (value, bool) {
	if o.agg >= 0 {
		if o.agg >= len(e.counts) {
			return value{}, false
		}
		return value{f: float64(e.counts[o.agg])}, true
	}
	return toValue(o.f, e.row[o.f.info.Name])
}

// dateRange is a relative date literal (TODAY, LAST_N_DAYS:n, …): the days
// [today+lo, today+hi).
type dateRange struct{ lo, hi int64 }

// Comparison operators.
const (
	opEq = iota
	opNe
	opLt
	opLe
	opGt
	opGe
	opIn
	opNotIn
	opLike
)

type cmpCond struct {
	lhs     operand
	op      int
	null    bool       // the literal is null (= and != only)
	lit     value      // single literal
	rng     *dateRange // relative date literal
	set     map[string]struct{}
	list    []value // IN list of non-strings
	hasNull bool    // IN list contains null
	like    []likeElem
}

func (c *cmpCond) eval(e *env) bool {
	v, ok := c.lhs.get(e)
	switch c.op {
	case opIn, opNotIn:
		in := c.hasNull && !ok
		if ok {
			if c.set != nil {
				_, in = c.set[v.s]
			} else {
				cl := c.lhs.class()
				in = slices.ContainsFunc(c.list, func(x value) bool { return compareValues(cl, v, x) == 0 })
			}
		}
		return in == (c.op == opIn)
	case opLike:
		return ok && likeMatch(c.like, v.s, c.lhs.f.fold)
	}
	if c.null {
		return !ok == (c.op == opEq)
	}
	if !ok {
		// Salesforce treats null as a value: it differs from every literal.
		return c.op == opNe
	}
	if c.rng != nil {
		return c.evalRange(v, e.today)
	}
	r := compareValues(c.lhs.class(), v, c.lit)
	switch c.op {
	case opEq:
		return r == 0
	case opNe:
		return r != 0
	case opLt:
		return r < 0
	case opLe:
		return r <= 0
	case opGt:
		return r > 0
	default: // opGe
		return r >= 0
	}
}

// evalRange compares v against the range [lo, hi): equal means inside it,
// less means before lo, greater means at or after hi.
func (c *cmpCond) evalRange(v value, today int64) bool {
	lo, hi := today+c.rng.lo, today+c.rng.hi
	var before, after bool
	if c.lhs.class() == clsDateTime {
		before = v.sec < lo*secondsPerDay
		after = v.sec >= hi*secondsPerDay
	} else {
		before = v.sec < lo
		after = v.sec >= hi
	}
	switch c.op {
	case opEq:
		return !before && !after
	case opNe:
		return before || after
	case opLt:
		return before
	case opLe:
		return !after
	case opGt:
		return after
	default: // opGe
		return !before
	}
}

// sortRows stably sorts items by ORDER BY; envOf exposes an item's values.
// Nulls go first or last as asked, whatever the direction.
func sortRows[T any](items []T, order []orderItem, envOf func(T) *env) []T {
	type keyed struct {
		item T
		vals []value
		oks  []bool
	}
	ks := make([]keyed, len(items))
	for i, it := range items {
		e := envOf(it)
		k := keyed{item: it, vals: make([]value, len(order)), oks: make([]bool, len(order))}
		for j, o := range order {
			k.vals[j], k.oks[j] = operand{f: o.f, agg: o.agg}.get(e)
		}
		ks[i] = k
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		for j, o := range order {
			aok, bok := a.oks[j], b.oks[j]
			switch {
			case !aok && !bok:
				continue
			case !aok || !bok:
				if !aok == o.nullsFirst {
					return -1
				}
				return 1
			}
			cl := clsNumber
			if o.agg < 0 {
				cl = o.f.cls
			}
			r := compareValues(cl, a.vals[j], b.vals[j])
			if o.desc {
				r = -r
			}
			if r != 0 {
				return r
			}
		}
		return 0
	})
	out := items[:0]
	for _, k := range ks {
		out = append(out, k.item)
	}
	return out
}
