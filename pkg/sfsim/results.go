package sfsim

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// appendSaveResults appends rs as encoding/json (SetEscapeHTML(false))
// renders it, without reflection: the collections response, one per
// write call.
func appendSaveResults(b []byte, rs []saveResult) []byte {
	if rs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		r := &rs[i]
		b = append(b, `{"id":`...)
		if r.ID == nil {
			b = append(b, "null"...)
		} else {
			b = appendJSONString(b, *r.ID)
		}
		b = append(b, `,"success":`...)
		b = strconv.AppendBool(b, r.Success)
		b = append(b, `,"errors":`...)
		if r.Errors == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for j, e := range r.Errors {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"statusCode":`...)
				b = appendJSONString(b, e.StatusCode)
				b = append(b, `,"message":`...)
				b = appendJSONString(b, e.Message)
				b = append(b, `,"fields":`...)
				if e.Fields == nil {
					b = append(b, "null"...)
				} else {
					b = append(b, '[')
					for k, f := range e.Fields {
						if k > 0 {
							b = append(b, ',')
						}
						b = appendJSONString(b, f)
					}
					b = append(b, ']')
				}
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		if r.Created != nil {
			b = append(b, `,"created":`...)
			b = strconv.AppendBool(b, *r.Created)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendJSONString appends s quoted as encoding/json does with HTML
// escaping off: printable ASCII other than '"' and '\' is copied, anything
// else is left to encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(s) // a string always encodes
			return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
