package sfsim

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestAppendSaveResultsMatchesEncodingJSON: the hand-written collections
// response is byte for byte what encoding/json wrote.
func TestAppendSaveResultsMatchesEncodingJSON(t *testing.T) {
	id := "003000000000001AAA"
	odd := "q\"uote \\ <a&b> \u2028\u2029 tab\t nl\n \x01 é 日本 \xff end"
	cases := [][]saveResult{
		nil,
		{},
		{okResult(&id)},
		{okResult(&id), errResult(newErr(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", "LastName"))},
		{{ID: &odd, Success: false, Errors: []recordError{{StatusCode: odd, Message: odd, Fields: []string{odd, "", "x"}}}}},
		{{Errors: nil}, {Errors: []recordError{{}}}, {Errors: []recordError{{Fields: []string{}}, {StatusCode: "A"}}}},
		{{ID: &id, Success: true, Errors: []recordError{}, Created: &created}, {ID: &id, Success: true, Errors: []recordError{}, Created: &updated}},
		{errResult(&apiError{code: "ALL_OR_NONE_OPERATION_ROLLED_BACK", msg: msgRolledBack})},
	}
	for _, rs := range cases {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(rs); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		got, err := encodeJSON(rs)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("encodeJSON(%#v)\n = %s\nwant %s", rs, got, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "abc", "a\"b", "<>&", "\u2028", "\xff", "é", "\x7f", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s)
		want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	})
}
