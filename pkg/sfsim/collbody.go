package sfsim

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// fastCollection decodes a collections body the way decodeBody(body,
// &collectionBody{}) does, without reflection, for the bodies clients
// send: one object with the exact keys "allOrNone" and "records" (each at
// most once), records that are objects or null, and nothing after the
// closing brace. ok is false for anything else (a syntax error, a type
// mismatch, a duplicate or differently spelt top-level key, a number out
// of float64 range, deep nesting, trailing bytes): the caller then decodes
// with encoding/json, which gives the result or the error message it
// always gave. When ok is true the result equals encoding/json's: objects
// are map[string]any (a repeated key keeps its last value), arrays []any,
// numbers float64, strings unquoted by encoding/json itself whenever they
// hold an escape or invalid UTF-8.
func fastCollection(body []byte) (b collectionBody, ok bool) {
	p := collParser{b: body}
	p.ws()
	if !p.eat('{') {
		return b, false
	}
	p.ws()
	if p.eat('}') {
		return b, p.end()
	}
	var seenAll, seenRecs bool
	for {
		key, ok := p.rawString()
		if !ok {
			return b, false
		}
		p.ws()
		if !p.eat(':') {
			return b, false
		}
		p.ws()
		switch {
		case key == "allOrNone" && !seenAll:
			seenAll = true
			switch {
			case p.lit("true"):
				b.AllOrNone = true
			case p.lit("false"), p.lit("null"):
			default:
				return b, false
			}
		case key == "records" && !seenRecs:
			seenRecs = true
			if p.lit("null") {
				break
			}
			if b.Records, ok = p.records(); !ok {
				return b, false
			}
		default:
			return b, false
		}
		p.ws()
		if p.eat('}') {
			return b, p.end()
		}
		if !p.eat(',') {
			return b, false
		}
		p.ws()
	}
}

// maxFastDepth bounds the nesting the fast path follows (encoding/json's
// own limit, 10000, is left to encoding/json).
const maxFastDepth = 100

type collParser struct {
	b     []byte
	i     int
	depth int
	hint  int                   // keys in the last record: the next map's size
	keys  map[string]*fieldSlot // record field names seen (at most maxSlots)
}

// fieldSlot is a record field name, shared by every record, and its last
// string or object value with the bytes it was parsed from: a record that
// repeats those bytes (the attributes object, a common title or city)
// shares the value instead of decoding it again. Both are self-delimiting
// ('"'…'"', '{'…'}'), so equal bytes are an equal value; shared values are
// only read (the handlers never write into a record's nested values).
type fieldSlot struct {
	name string
	raw  []byte
	val  any
}

const maxSlots = 64

func (p *collParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *collParser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// lit consumes the literal s (true, false, null).
func (p *collParser) lit(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// end reports whether only JSON whitespace follows.
func (p *collParser) end() bool {
	p.ws()
	return p.i == len(p.b)
}

// records parses the records array: objects or nulls.
func (p *collParser) records() ([]map[string]any, bool) {
	if !p.eat('[') {
		return nil, false
	}
	recs := make([]map[string]any, 0, maxCollection)
	p.ws()
	if p.eat(']') {
		return recs, true
	}
	for {
		switch {
		case p.lit("null"):
			recs = append(recs, nil)
		case p.i < len(p.b) && p.b[p.i] == '{':
			m, ok := p.object(p.hint, true)
			if !ok {
				return nil, false
			}
			p.hint = len(m)
			recs = append(recs, m)
		default:
			return nil, false
		}
		p.ws()
		if p.eat(']') {
			return recs, true
		}
		if !p.eat(',') {
			return nil, false
		}
		p.ws()
	}
}

// object parses an object at '{'; size is a hint, shareKeys interns the
// names (a record's field names repeat in every record).
func (p *collParser) object(size int, shareKeys bool) (map[string]any, bool) {
	p.i++ // '{'
	if p.depth++; p.depth > maxFastDepth {
		return nil, false
	}
	defer func() { p.depth-- }()
	m := make(map[string]any, size)
	p.ws()
	if p.eat('}') {
		return m, true
	}
	for {
		var key string
		var slot *fieldSlot
		var ok bool
		if shareKeys {
			key, slot, ok = p.sharedString()
		} else {
			key, ok = p.str()
		}
		if !ok {
			return nil, false
		}
		p.ws()
		if !p.eat(':') {
			return nil, false
		}
		p.ws()
		var v any
		switch start := p.i; {
		case slot != nil && slot.raw != nil && bytes.HasPrefix(p.b[p.i:], slot.raw):
			v = slot.val
			p.i += len(slot.raw)
		default:
			if v, ok = p.value(); !ok {
				return nil, false
			}
			if slot != nil && (p.b[start] == '"' || p.b[start] == '{') {
				slot.raw, slot.val = p.b[start:p.i], v
			}
		}
		m[key] = v
		p.ws()
		if p.eat('}') {
			return m, true
		}
		if !p.eat(',') {
			return nil, false
		}
		p.ws()
	}
}

func (p *collParser) array() ([]any, bool) {
	p.i++ // '['
	if p.depth++; p.depth > maxFastDepth {
		return nil, false
	}
	defer func() { p.depth-- }()
	a := make([]any, 0)
	p.ws()
	if p.eat(']') {
		return a, true
	}
	for {
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		a = append(a, v)
		p.ws()
		if p.eat(']') {
			return a, true
		}
		if !p.eat(',') {
			return nil, false
		}
		p.ws()
	}
}

func (p *collParser) value() (any, bool) {
	if p.i >= len(p.b) {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		return p.str()
	case c == '{':
		// "attributes" and the like: small objects.
		return p.object(0, false)
	case c == '[':
		return p.array()
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case p.lit("true"):
		return true, true
	case p.lit("false"):
		return false, true
	case p.lit("null"):
		return nil, true
	}
	return nil, false
}

// number parses a JSON number (RFC 8259 grammar) into a float64 as
// encoding/json does; out of range is not ok.
func (p *collParser) number() (any, bool) {
	b, start := p.b, p.i
	i := p.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	f, err := strconv.ParseFloat(string(b[start:i]), 64)
	if err != nil {
		return nil, false
	}
	p.i = i
	return f, true
}

// rawString scans a string at '"' and returns its contents and whether
// they hold an escape or a byte that is not ASCII; ok is false for an
// unterminated string or a control character (both syntax errors).
func (p *collParser) scanString() (raw []byte, escaped, nonASCII, ok bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, false, false, false
	}
	b := p.b
	for i := p.i + 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			raw = b[p.i+1 : i]
			p.i = i + 1
			return raw, escaped, nonASCII, true
		case c == '\\':
			escaped = true
			i++
		case c < 0x20:
			return nil, false, false, false
		case c >= utf8.RuneSelf:
			nonASCII = true
		}
	}
	return nil, false, false, false
}

// rawString is a string that needs no unquoting, as a string without
// copying it (only for comparisons).
func (p *collParser) rawString() (string, bool) {
	raw, escaped, nonASCII, ok := p.scanString()
	if !ok || escaped || nonASCII {
		return "", false
	}
	return string(raw), true
}

// str parses a string value.
func (p *collParser) str() (string, bool) {
	start := p.i
	raw, escaped, nonASCII, ok := p.scanString()
	switch {
	case !ok:
		return "", false
	case !escaped && (!nonASCII || utf8.Valid(raw)):
		return string(raw), true
	}
	// Escapes and invalid UTF-8 (replaced by U+FFFD): encoding/json's
	// own unquoting, so the result cannot differ.
	var s string
	if err := json.Unmarshal(p.b[start:p.i], &s); err != nil {
		return "", false
	}
	return s, true
}

// sharedString is str for record field names: one string per distinct
// name, with its slot (nil past maxSlots names or for a name that needs
// unquoting).
func (p *collParser) sharedString() (string, *fieldSlot, bool) {
	start := p.i
	raw, escaped, nonASCII, ok := p.scanString()
	if !ok {
		return "", nil, false
	}
	if !escaped && !nonASCII {
		if sl := p.keys[string(raw)]; sl != nil {
			return sl.name, sl, true
		}
		s := string(raw)
		if len(p.keys) >= maxSlots {
			return s, nil, true
		}
		if p.keys == nil {
			p.keys = make(map[string]*fieldSlot, 16)
		}
		sl := &fieldSlot{name: s}
		p.keys[s] = sl
		return s, sl, true
	}
	p.i = start
	s, ok := p.str()
	return s, nil, ok
}
