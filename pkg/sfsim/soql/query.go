package soql

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// FieldInfo describes one field of an object, as the emulator's schema
// knows it.
type FieldInfo struct {
	Name string // canonical API name, e.g. "Email"
	// Type is the describe type: id, string, email, textarea, phone, url,
	// picklist, reference, boolean, double, int, currency, percent, date,
	// datetime. Unknown types compare as strings.
	Type string
	// CaseSensitive makes string comparisons (=, IN, LIKE, ordering) exact
	// instead of case-insensitive.
	CaseSensitive bool
}

// ObjectInfo describes one sObject type.
type ObjectInfo struct {
	Name   string               // canonical API name, e.g. "Contact"
	Fields map[string]FieldInfo // key: strings.ToLower(API name)
}

// Schema looks an object up by the name written in the query. The caller
// makes it case-insensitive.
type Schema func(object string) (ObjectInfo, bool)

// Result is what a query returns.
type Result struct {
	// TotalSize is the number of rows returned (after OFFSET and LIMIT), or
	// the count of a SELECT COUNT() query.
	TotalSize int
	// Fields are the output keys in select order: canonical field names, and
	// for COUNT(field) its alias or "expr0", "expr1", … Empty for COUNT().
	Fields []string
	// Rows are the projected rows; every key of Fields is present (nil for
	// null). Never nil; empty for COUNT().
	Rows []map[string]any
	// Count is set for SELECT COUNT() queries: TotalSize is the count.
	Count bool
	// IDs are the Id of each row's source record, whether or not Id is
	// selected (Salesforce names every record's URL in its attributes).
	// Nil for aggregate queries.
	IDs []string
}

// Column describes one output column of a query, as Salesforce's query
// column metadata (GET /query?q=…&columns=true) does.
type Column struct {
	Name      string // the output key: field name, alias or exprN
	Field     string // the field read (COUNT's argument for an aggregate)
	Type      string // the field's describe type; "int" for COUNT
	Aggregate bool
	// Display is the column's display name: the field name, an aggregate's
	// alias, or for an unaliased aggregate the function as written
	// ("COUNT(Id)").
	Display string
}

// class is how a field's values compare.
type class int

const (
	clsString class = iota
	clsNumber
	clsBool
	clsDate
	clsDateTime
)

func classOf(typ string) class {
	switch strings.ToLower(typ) {
	case "boolean":
		return clsBool
	case "double", "int", "currency", "percent":
		return clsNumber
	case "date":
		return clsDate
	case "datetime":
		return clsDateTime
	default:
		return clsString
	}
}

// typeName is the type Salesforce names in "must be of type X" messages.
func (c class) typeName(f FieldInfo) string {
	switch c {
	case clsString:
		return "string"
	case clsBool:
		return "boolean"
	case clsDate:
		return "date"
	case clsDateTime:
		return "dateTime"
	default:
		return strings.ToLower(f.Type)
	}
}

// field is a bound field reference.
type field struct {
	info FieldInfo
	cls  class
	fold bool // strings compare case-insensitively
}

// selItem is one SELECT item: a field or COUNT(field) (agg >= 0).
type selItem struct {
	name    string // output key
	f       *field
	agg     int  // index into Query.aggs, or -1
	aliased bool // name is the query's alias
}

type orderItem struct {
	f          *field // field to sort on, or nil when agg >= 0
	agg        int
	desc       bool
	nullsFirst bool
}

// Query is a parsed and bound SOQL statement. It is immutable: Run may be
// called any number of times, from any number of goroutines.
type Query struct {
	object   string
	countAll bool // SELECT COUNT()
	items    []selItem
	fields   []string
	where    cond
	grouped  bool     // GROUP BY or aggregates in the select list
	groupBy  []*field // the GROUP BY fields, in query order; nil without GROUP BY
	aggs     []*field
	having   cond
	order    []orderItem
	limit    int // -1: none
	offset   int
}

// Object returns the canonical name of the queried object.
func (q *Query) Object() string { return q.object }

// Columns returns the output columns in select order (empty for SELECT
// COUNT()).
func (q *Query) Columns() []Column {
	out := make([]Column, 0, len(q.items))
	for _, it := range q.items {
		c := Column{Name: it.name, Field: it.f.info.Name, Type: it.f.info.Type, Display: it.f.info.Name}
		if it.agg >= 0 {
			c.Aggregate, c.Type, c.Display = true, "int", "COUNT("+it.f.info.Name+")"
			if it.aliased {
				c.Display = it.name
			}
		}
		out = append(out, c)
	}
	return out
}

// Aggregate reports whether the query returns AggregateResult rows (it has
// GROUP BY or COUNT(field) in its select list) rather than records of the
// object. SELECT COUNT() is not an aggregate query in this sense: it returns
// a count and no rows.
func (q *Query) Aggregate() bool { return q.grouped }

// Run evaluates the query over rows (keys are canonical field names; a
// missing key is null). now anchors TODAY, YESTERDAY, LAST_N_DAYS:n and the
// like, in UTC. Rows are returned in input order unless ORDER BY says
// otherwise; row maps are never modified.
func (q *Query) Run(rows []map[string]any, now time.Time) (*Result, error) {
	e := &env{today: dayNumber(now)}
	var matched []map[string]any
	for _, r := range rows {
		e.row = r
		if q.where == nil || q.where.eval(e) {
			matched = append(matched, r)
		}
	}
	if q.countAll {
		n := window(len(matched), q.offset, q.limit)
		return &Result{TotalSize: n, Fields: []string{}, Rows: []map[string]any{}, Count: true}, nil
	}
	if q.grouped {
		return q.runGrouped(matched, e), nil
	}
	if len(q.order) > 0 {
		matched = sortRows(matched, q.order, func(r map[string]any) *env { return &env{row: r} })
	}
	lo, hi := bounds(len(matched), q.offset, q.limit)
	out := make([]map[string]any, 0, hi-lo)
	ids := make([]string, 0, hi-lo)
	for _, r := range matched[lo:hi] {
		p := make(map[string]any, len(q.items))
		for _, it := range q.items {
			p[it.name] = r[it.f.info.Name]
		}
		out = append(out, p)
		id, _ := r["Id"].(string)
		ids = append(ids, id)
	}
	return &Result{TotalSize: len(out), Fields: append([]string(nil), q.fields...), Rows: out, IDs: ids}, nil
}

// group is one GROUP BY bucket (or the single bucket of an aggregate query
// without GROUP BY).
type group struct {
	first  map[string]any // first row seen: supplies the grouped field's value
	counts []int          // per Query.aggs: non-null values seen
}

func (q *Query) runGrouped(rows []map[string]any, e *env) *Result {
	var groups []*group
	if q.groupBy == nil {
		g := &group{first: map[string]any{}, counts: make([]int, len(q.aggs))}
		groups = append(groups, g)
		for _, r := range rows {
			q.countInto(g, r)
		}
	} else {
		byKey := map[string]*group{}
		var kb []byte
		for _, r := range rows {
			kb = kb[:0]
			for _, f := range q.groupBy {
				kb = appendGroupKey(kb, f, r[f.info.Name])
			}
			g := byKey[string(kb)]
			if g == nil {
				g = &group{first: r, counts: make([]int, len(q.aggs))}
				byKey[string(kb)] = g
				groups = append(groups, g)
			}
			q.countInto(g, r)
		}
	}
	envOf := func(g *group) *env { return &env{row: g.first, counts: g.counts, today: e.today} }
	if q.having != nil {
		kept := groups[:0]
		for _, g := range groups {
			if q.having.eval(envOf(g)) {
				kept = append(kept, g)
			}
		}
		groups = kept
	}
	if len(q.order) > 0 {
		groups = sortRows(groups, q.order, envOf)
	}
	lo, hi := bounds(len(groups), q.offset, q.limit)
	out := make([]map[string]any, 0, hi-lo)
	for _, g := range groups[lo:hi] {
		p := make(map[string]any, len(q.items))
		for _, it := range q.items {
			if it.agg >= 0 {
				p[it.name] = g.counts[it.agg]
			} else {
				p[it.name] = g.first[it.f.info.Name]
			}
		}
		out = append(out, p)
	}
	return &Result{TotalSize: len(out), Fields: append([]string(nil), q.fields...), Rows: out}
}

func (q *Query) countInto(g *group, r map[string]any) {
	for i, f := range q.aggs {
		if _, ok := toValue(f, r[f.info.Name]); ok {
			g.counts[i]++
		}
	}
}

// appendGroupKey appends one field's part of a group's bucket key: strings
// by their comparison key, other values by their typed value, nulls
// together. Each part is self-delimiting, so the parts of several fields
// never run into each other.
func appendGroupKey(b []byte, f *field, v any) []byte {
	val, ok := toValue(f, v)
	if !ok {
		return append(b, 'n')
	}
	switch f.cls {
	case clsString:
		b = append(b, 's')
		b = strconv.AppendInt(b, int64(len(val.s)), 10)
		b = append(b, ':')
		return append(b, val.s...)
	case clsNumber:
		b = append(b, 'f')
		return strconv.AppendUint(b, math.Float64bits(val.f+0), 16) // +0: -0 and 0 share a bucket
	case clsBool:
		b = append(b, 'b')
		return strconv.AppendBool(b, val.b)
	default: // dates and datetimes
		b = append(b, 't')
		b = strconv.AppendInt(b, val.sec, 10)
		b = append(b, '.')
		return strconv.AppendInt(b, int64(val.nsec), 10)
	}
}

// bounds returns the [lo, hi) window that OFFSET and LIMIT select from n
// items.
func bounds(n, offset, limit int) (int, int) {
	lo := min(offset, n)
	hi := n
	if limit >= 0 && lo+limit < hi {
		hi = lo + limit
	}
	return lo, hi
}

func window(n, offset, limit int) int {
	lo, hi := bounds(n, offset, limit)
	return hi - lo
}
