package pgsource

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/contactsync/contactsync/pkg/delta"
)

// timeOf turns a version in µs back into the timestamp it came from.
func timeOf(us int64) time.Time { return time.UnixMicro(us).UTC() }

// row is one row read: its keyset position and its delta or rejection.
type row struct {
	key   string // "" when NULL (never selected: the page queries skip it)
	order int64  // updated_at in µs, or the sequence
	delta delta.Delta
	err   error // why the row cannot be a delta
}

// convert turns the values of one selected row into a delta.
func (p *plan) convert(vals []any) row {
	r := row{}
	r.key, r.err = keyString(vals[colKey])
	if r.err != nil {
		return r
	}
	switch v := vals[colOrder].(type) {
	case time.Time:
		r.order = v.UnixMicro()
	case int64:
		r.order = v
	case int32:
		r.order = int64(v)
	case int16:
		r.order = int64(v)
	case nil:
		r.err = fmt.Errorf("%s is NULL", p.m.order())
		return r
	default:
		r.err = fmt.Errorf("%s has unsupported value type %T", p.m.order(), v)
		return r
	}
	d := delta.Delta{Schema: delta.SchemaV1, ExternalID: r.key, Segment: p.m.DefaultSegment, Version: r.order,
		Source: p.m.SourceName()}
	if p.segment >= 0 {
		if s, ok := vals[p.segment].(string); ok && s != "" {
			d.Segment = s
		} else if vals[p.segment] != nil && !ok {
			r.err = fmt.Errorf("segment column %s is not text", p.m.Segment)
			return r
		}
	}
	if p.deleted >= 0 {
		switch v := vals[p.deleted].(type) {
		case nil:
		case bool:
			if v {
				d.Op = delta.OpDelete
			}
		default:
			d.Op = delta.OpDelete
		}
	}
	if !d.IsDelete() {
		d.Fields = make(map[string]any, len(p.fields))
		for _, f := range p.fields {
			v, err := fieldValue(vals[f.idx], p.oids[f.idx])
			if err != nil {
				r.err = fmt.Errorf("column %s: %w", f.col, err)
				return r
			}
			if v == nil && p.m.Null == "omit" {
				continue
			}
			d.Fields[f.name] = v
		}
		if len(d.Fields) == 0 {
			r.err = fmt.Errorf("every mapped column is NULL (null: omit leaves nothing to write)")
			return r
		}
	}
	if err := d.Validate(); err != nil {
		r.err = err
		return r
	}
	r.delta = d
	return r
}

func keyString(v any) (string, error) {
	switch k := v.(type) {
	case string:
		return k, nil
	case int64:
		return strconv.FormatInt(k, 10), nil
	case int32:
		return strconv.FormatInt(int64(k), 10), nil
	case int16:
		return strconv.FormatInt(int64(k), 10), nil
	case [16]byte:
		return pgtype.UUID{Bytes: k, Valid: true}.String(), nil
	case nil:
		return "", fmt.Errorf("key is NULL")
	}
	return "", fmt.Errorf("key has unsupported value type %T", v)
}

// fieldValue converts a column value to a delta field value. Errors never
// quote the value: it may be personal data.
func fieldValue(v any, oid uint32) (any, error) {
	switch x := v.(type) {
	case nil, string, bool, int64, int32, int16:
		return x, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("number is not finite")
		}
		return x, nil
	case float32:
		return fieldValue(float64(x), oid)
	case time.Time:
		if oid == pgtype.DateOID {
			return x.Format(time.DateOnly), nil
		}
		return x.UTC().Format(time.RFC3339Nano), nil
	case pgtype.Numeric:
		if !x.Valid {
			return nil, nil
		}
		if x.NaN || x.InfinityModifier != pgtype.Finite {
			return nil, fmt.Errorf("number is not finite")
		}
		b, err := x.MarshalJSON()
		if err != nil {
			return nil, err
		}
		return json.Number(b), nil
	case [16]byte:
		return pgtype.UUID{Bytes: x, Valid: true}.String(), nil
	}
	return nil, fmt.Errorf("type %s (%T) has no Salesforce field value", typeName(oid), v)
}

func fmtInt(v int64) string { return strconv.FormatInt(v, 10) }

// orderOf is the order part of a key:order id.
func orderOf(id string) int64 {
	for i := len(id) - 1; i >= 0; i-- {
		if id[i] == ':' {
			n, _ := strconv.ParseInt(id[i+1:], 10, 64)
			return n
		}
	}
	return 0
}
