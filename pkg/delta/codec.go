package delta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/contactsync/contactsync/pkg/internal/jsonw"
)

// The delta codec on the hot path. Every delta is decoded twice on its way
// (by the producer, which validates it, and by the upserter) and encoded
// once (by the producer), so at a backlog's rate these three steps were a
// tenth of the whole process's CPU when they went through reflection
// (encoding/json to encode, go-json-experiment's Unmarshal into a struct
// with a map of raw values to decode). Here both are written out for the
// one shape a delta has; the reflective code stays the reference:
//
//   - decodeFast reads a well-formed delta with jsontext's token reader
//     (which checks the syntax, UTF-8 and duplicate names itself) and
//     declines anything unusual, which decodeExplained then reads or
//     explains. FuzzDecodeFastAgrees holds the two together.
//   - AppendJSON writes the bytes json.Marshal writes for the same Delta
//     (same key order, same escaping). FuzzAppendJSONMatchesMarshal and
//     TestAppendJSONGoValues hold it to that.
//
// BenchmarkCodec compares each with its reflective baseline in one run.

// decoder is a pooled token reader over one document.
type decoder struct {
	rd  bytes.Reader
	dec jsontext.Decoder
}

var decoders = sync.Pool{New: func() any { return new(decoder) }}

// decodeFast decodes a well-formed delta in one pass. It declines (ok =
// false) anything it is not sure to read exactly as decodeExplained would:
// malformed input, a duplicate or misspelt key, a value of an unexpected
// kind (a field value that is an object or array, a null where a string
// goes), a version that is not a plain integer.
func decodeFast(data []byte) (d Delta, ok bool) {
	st := decoders.Get().(*decoder)
	defer decoders.Put(st)
	st.rd.Reset(data)
	dec := &st.dec
	dec.Reset(&st.rd)
	defer func() { // drop the reference to data before pooling
		st.rd.Reset(nil)
		dec.Reset(&st.rd)
	}()

	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return Delta{}, false
	}
	for dec.PeekKind() == '"' {
		name, err := dec.ReadValue()
		if err != nil {
			return Delta{}, false
		}
		key := topKey(name)
		if key == keyFields {
			if d.Fields, ok = decodeFields(dec); !ok {
				return Delta{}, false
			}
			continue
		}
		v, err := dec.ReadValue()
		if err != nil {
			return Delta{}, false
		}
		switch key {
		case keyVersion:
			if d.Version, ok = plainInt(v); !ok {
				return Delta{}, false
			}
		case keyEmittedAt:
			// What encoding/json does with a time, so the verdicts agree.
			if v.Kind() != '"' || d.EmittedAt.UnmarshalJSON(v) != nil {
				return Delta{}, false
			}
		default:
			if v.Kind() != '"' {
				return Delta{}, false
			}
			var p *string
			switch key {
			case keySchema:
				p = &d.Schema
			case keyExternalID:
				p = &d.ExternalID
			case keySegment:
				p = &d.Segment
			case keyOp:
				p = &d.Op
			case keySource:
				p = &d.Source
			default: // unknown, or a name with escapes: decodeExplained decides
				return Delta{}, false
			}
			if *p, ok = unquote(v, key != keyExternalID); !ok {
				return Delta{}, false
			}
		}
	}
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '}' {
		return Delta{}, false
	}
	if _, err := dec.ReadToken(); err != io.EOF { // data after the delta
		return Delta{}, false
	}
	return d, true
}

// The top-level keys, as decodeFast tells them apart.
const (
	keyUnknown = iota
	keySchema
	keyExternalID
	keySegment
	keyOp
	keyVersion
	keyFields
	keySource
	keyEmittedAt
)

// topKey names a raw (quoted) top-level key without allocating.
func topKey(name []byte) int {
	switch string(name) {
	case `"schema"`:
		return keySchema
	case `"external_id"`:
		return keyExternalID
	case `"segment"`:
		return keySegment
	case `"op"`:
		return keyOp
	case `"version"`:
		return keyVersion
	case `"fields"`:
		return keyFields
	case `"source"`:
		return keySource
	case `"emitted_at"`:
		return keyEmittedAt
	}
	return keyUnknown
}

// decodeFields reads the fields object: names to strings, numbers (kept as
// written, as json.Number), booleans and nulls.
func decodeFields(dec *jsontext.Decoder) (map[string]any, bool) {
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, false
	}
	fields := make(map[string]any, 8)
	for dec.PeekKind() == '"' {
		n, err := dec.ReadValue()
		if err != nil {
			return nil, false
		}
		name, ok := unquote(n, true)
		if !ok {
			return nil, false
		}
		v, err := dec.ReadValue()
		if err != nil {
			return nil, false
		}
		switch v.Kind() {
		case '"':
			s, ok := unquote(v, false)
			if !ok {
				return nil, false
			}
			fields[name] = s
		case '0':
			fields[name] = json.Number(v)
		case 't':
			fields[name] = true
		case 'f':
			fields[name] = false
		case 'n':
			fields[name] = nil
		default:
			return nil, false
		}
	}
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '}' {
		return nil, false
	}
	return fields, true
}

// unquote returns the string a JSON string token holds. Short strings that
// recur from delta to delta (field names, segments, the schema) are
// interned when intern is set, so they are not allocated once per delta.
func unquote(v jsontext.Value, intern bool) (string, bool) {
	raw := v[1 : len(v)-1]
	if bytes.IndexByte(raw, '\\') < 0 {
		if intern {
			return interned(raw), true
		}
		return string(raw), true
	}
	b, err := jsontext.AppendUnquote(nil, v)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// plainInt reads a JSON number written as an integer, as encoding/json
// reads it into an int64; anything else (a fraction, an exponent, out of
// range) is declined.
func plainInt(v jsontext.Value) (int64, bool) {
	if v.Kind() != '0' {
		return 0, false
	}
	for i, c := range v {
		if !(c >= '0' && c <= '9' || c == '-' && i == 0) {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil
}

// The intern table: a fixed number of slots, each holding the last string
// hashed to it. A miss allocates as string(b) would; the table never grows,
// so odd values cost nothing but a slot.
const internSlots = 1024

var internTable [internSlots]atomic.Pointer[string]

func interned(b []byte) string {
	if len(b) > 40 {
		return string(b)
	}
	h := uint32(2166136261) // FNV-1a
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	slot := &internTable[h%internSlots]
	if p := slot.Load(); p != nil && *p == string(b) {
		return *p
	}
	s := string(b)
	slot.Store(&s)
	return s
}

// AppendJSON appends d as JSON to b: the same bytes json.Marshal(d) writes
// (keys in struct order, field names sorted, HTML characters escaped), and
// its error for a value json.Marshal refuses.
func (d Delta) AppendJSON(b []byte) ([]byte, error) {
	n := 160 + len(d.ExternalID) + len(d.Segment) + len(d.Source)
	for k, v := range d.Fields {
		n += len(k) + 8
		if s, ok := v.(string); ok {
			n += len(s)
		} else {
			n += 8
		}
	}
	b = slices.Grow(b, n)
	b = append(b, `{"schema":`...)
	b = jsonw.AppendString(b, d.Schema)
	b = append(b, `,"external_id":`...)
	b = jsonw.AppendString(b, d.ExternalID)
	b = append(b, `,"segment":`...)
	b = jsonw.AppendString(b, d.Segment)
	if d.Op != "" {
		b = append(b, `,"op":`...)
		b = jsonw.AppendString(b, d.Op)
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, d.Version, 10)
	if len(d.Fields) > 0 {
		b = append(b, `,"fields":{`...)
		var arr [16]string
		names := arr[:0]
		for k := range d.Fields {
			names = append(names, k)
		}
		slices.Sort(names)
		for i, k := range names {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonw.AppendString(b, k)
			b = append(b, ':')
			var err error
			if b, err = jsonw.AppendValue(b, d.Fields[k]); err != nil {
				return nil, err
			}
		}
		b = append(b, '}')
	}
	if d.Source != "" {
		b = append(b, `,"source":`...)
		b = jsonw.AppendString(b, d.Source)
	}
	if !d.EmittedAt.IsZero() {
		t, err := d.EmittedAt.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("json: error calling MarshalJSON for type time.Time: %w", err)
		}
		b = append(b, `,"emitted_at":`...)
		b = append(b, t...)
	}
	return append(b, '}'), nil
}
