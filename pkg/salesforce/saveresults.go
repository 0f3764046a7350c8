package salesforce

import (
	"bytes"
	"io"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// decodeSaveResults reads a Collections response, an array of
// {"id","success","created","errors"}, with jsontext's token reader instead
// of encoding/json's reflection: every Collections call's 200 results go
// through here. It declines (ok = false) anything it is not sure to read as
// encoding/json would: a key spelt otherwise or given twice, a value of an
// unexpected kind, a result with errors (they carry nested duplicate
// results, and are rare), trailing data. The caller then decodes with
// encoding/json. TestDecodeSaveResultsAgrees and its fuzz target hold the
// two to the same result.
func decodeSaveResults(body []byte) (out []SaveResult, ok bool) {
	st := resultDecoders.Get().(*resultDecoder)
	defer resultDecoders.Put(st)
	st.rd.Reset(body)
	dec := &st.dec
	dec.Reset(&st.rd)
	defer func() { st.rd.Reset(nil); dec.Reset(&st.rd) }()

	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '[' {
		return nil, false
	}
	out = make([]SaveResult, 0, MaxCollectionSize)
	for dec.PeekKind() == '{' {
		if _, err := dec.ReadToken(); err != nil {
			return nil, false
		}
		var r SaveResult
		for dec.PeekKind() == '"' {
			name, err := dec.ReadValue()
			if err != nil {
				return nil, false
			}
			key := resultKey(name)
			v, err := dec.ReadValue()
			if err != nil {
				return nil, false
			}
			switch k := v.Kind(); {
			case k == 'n': // null leaves the zero value, as encoding/json does
				if key == keyUnknownResult {
					return nil, false
				}
			case key == keyID && k == '"':
				raw := v[1 : len(v)-1]
				if bytes.IndexByte(raw, '\\') >= 0 {
					return nil, false
				}
				r.ID = string(raw)
			case key == keySuccess && (k == 't' || k == 'f'):
				r.Success = k == 't'
			case key == keyCreated && (k == 't' || k == 'f'):
				r.Created = k == 't'
			case key == keyErrors && k == '[' && string(bytes.TrimSpace(v)) == "[]":
				r.Errors = []RecordError{}
			default:
				return nil, false
			}
		}
		if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '}' {
			return nil, false
		}
		out = append(out, r)
	}
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != ']' {
		return nil, false
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, false // data after the array
	}
	return out, true
}

type resultDecoder struct {
	rd  bytes.Reader
	dec jsontext.Decoder
}

var resultDecoders = sync.Pool{New: func() any { return new(resultDecoder) }}

const (
	keyUnknownResult = iota
	keyID
	keySuccess
	keyCreated
	keyErrors
)

func resultKey(name []byte) int {
	switch string(name) {
	case `"id"`:
		return keyID
	case `"success"`:
		return keySuccess
	case `"created"`:
		return keyCreated
	case `"errors"`:
		return keyErrors
	}
	return keyUnknownResult
}
