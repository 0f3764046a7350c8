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
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
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
	b = appendString(b, d.Schema)
	b = append(b, `,"external_id":`...)
	b = appendString(b, d.ExternalID)
	b = append(b, `,"segment":`...)
	b = appendString(b, d.Segment)
	if d.Op != "" {
		b = append(b, `,"op":`...)
		b = appendString(b, d.Op)
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
			b = appendString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendValue(b, d.Fields[k]); err != nil {
				return nil, err
			}
		}
		b = append(b, '}')
	}
	if d.Source != "" {
		b = append(b, `,"source":`...)
		b = appendString(b, d.Source)
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

// appendValue writes one field value; types other than those a decoded
// delta holds go through encoding/json itself.
func appendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case json.Number:
		if v == "" {
			return append(b, '0'), nil
		}
		if !isValidNumber(string(v)) {
			return nil, fmt.Errorf("json: invalid number literal %q", string(v))
		}
		return append(b, v...), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// lowerHex spells \u escapes as encoding/json does.
const lowerHex = "0123456789abcdef"

// appendString writes s as encoding/json does by default: <, > and & as
// \u escapes, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', lowerHex[c>>4], lowerHex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', lowerHex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// isValidNumber reports whether s is a JSON number literal (RFC 8259).
func isValidNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
		if s == "" {
			return false
		}
	}
	switch {
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		s = s[1:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	default:
		return false
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		s = s[2:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
			if s == "" {
				return false
			}
		}
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	return s == ""
}
