package delta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// AppendJSON writes what json.Marshal writes, for every value kind a Delta
// built in Go (CSV, PostgreSQL sources, synth) may hold, and refuses what
// json.Marshal refuses.
func TestAppendJSONGoValues(t *testing.T) {
	many := map[string]any{}
	for i := range 20 {
		many[fmt.Sprintf("F%02d__c", 19-i)] = i
	}
	cases := []Delta{
		{Schema: SchemaV1, ExternalID: "a", Segment: "s", Version: 1, Fields: map[string]any{"Email": "x@example.com"}},
		{Schema: SchemaV1, ExternalID: "a<b>&c", Segment: "s", Op: OpDelete, Version: 9},
		{Schema: SchemaV1, ExternalID: "a", Segment: "s", Version: 1, Fields: map[string]any{}},
		{Schema: SchemaV1, ExternalID: "a", Segment: "s", Version: -5, Fields: map[string]any{
			"S": "tab\there \"q\" back\\slash \x01\x1f\x7f <html> & \u2028\u2029 é 漢 \xff\xfe bad", "B": true, "F": false, "N": nil,
			"I": 42, "I64": int64(-7), "U8": uint8(200), "U": uint(3), "I32": int32(-2), "F64": 1.5, "F64e": 1e21, "F64s": 1e-7, "F32": float32(0.1),
			"Num": json.Number("1.50"), "NumE": json.Number("-2E+10"), "Empty": json.Number(""), "Z": json.Number("0")}},
		{Schema: SchemaV1, ExternalID: "a", Segment: "s", Version: 1, Fields: many, Source: "crm",
			EmittedAt: time.Date(2026, 12, 3, 10, 1, 2, 345678900, time.FixedZone("x", 3600))},
		{Schema: SchemaV1, ExternalID: "a", Segment: "s", Version: 1, EmittedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{},
	}
	for i, d := range cases {
		want, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("case %d: json.Marshal: %v", i, err)
		}
		got, err := d.AppendJSON(nil)
		if err != nil {
			t.Fatalf("case %d: AppendJSON: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
	for _, v := range []any{json.Number("Inf"), json.Number("1."), json.Number("0x10"), json.Number("--1"), json.Number("1e")} {
		d := Delta{Schema: SchemaV1, ExternalID: "a", Segment: "s", Version: 1, Fields: map[string]any{"A": v}}
		_, merr := json.Marshal(d)
		_, aerr := d.AppendJSON(nil)
		if merr == nil || aerr == nil {
			t.Errorf("%#v: json.Marshal error %v, AppendJSON error %v; want both to refuse", v, merr, aerr)
		}
	}
	d := Delta{Schema: SchemaV1, ExternalID: "a", Segment: "s", Version: 1, EmittedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := d.AppendJSON(nil); err == nil {
		t.Error("AppendJSON accepted a year json.Marshal refuses")
	}
	// Appends, not overwrites.
	b, _ := cases[0].AppendJSON([]byte("x"))
	if !strings.HasPrefix(string(b), `x{"schema"`) {
		t.Errorf("AppendJSON(prefix) = %s", b)
	}
}

// Every delta the strict decoder accepts encodes to json.Marshal's bytes.
func FuzzAppendJSONMatchesMarshal(f *testing.F) {
	for _, doc := range codecSeeds {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decodeExplained(data)
		if err != nil {
			return
		}
		want, merr := json.Marshal(d)
		got, aerr := d.AppendJSON(nil)
		if (merr == nil) != (aerr == nil) {
			t.Fatalf("%q: json.Marshal error %v, AppendJSON error %v", data, merr, aerr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s\nwant %s", data, got, want)
		}
	})
}

var codecSeeds = []string{good,
	`{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":1,"fields":{"A":1.50,"B":-0,"C":1e3,"D":true,"E":false,"F":null,"G":"\u00e9\n"}}`,
	`{"schema":"contact.delta/v1","external_id":"a","segment":"s","op":"delete","version":2}`,
	`{"schema":"contact.delta/v1","external_id":"a\u003c&","segment":"s","version":1,"fields":{"A\u0042":"<&>\u2028"}}`,
	`{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":1,"fields":{"A":1},"emitted_at":"2026-12-02T10:00:00.123+01:00"}`,
	`{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":1,"fields":{"A":1},"emitted_at":null}`,
	`{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":1,"fields":{"A":1}} `,
	`{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":1,"fields":{"A":1}}{}`,
	`{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":1,"fields":{"A":1,"A":2}}`,
	`{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":1,"fields":{"A":1},"Source":"x"}`,
	`{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":-0,"fields":{"A":1}}`,
	`{"schema":null,"external_id":"a","segment":"s","version":1,"fields":{"A":1}}`,
	`{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":1,"fields":{"A":1}}x`,
	`{"schem\u0061":"contact.delta/v1","external_id":"a","segment":"s","version":1,"fields":{"A":1}}`,
}

// decodeReflect is the decoder decodeFast replaced (go-json-experiment's
// Unmarshal into a struct with a map of raw values), kept as the baseline
// BenchmarkCodec compares with.
func decodeReflect(data []byte) (Delta, bool) {
	var w struct {
		Schema     string                    `json:"schema"`
		ExternalID string                    `json:"external_id"`
		Segment    string                    `json:"segment"`
		Op         string                    `json:"op"`
		Version    int64                     `json:"version"`
		Fields     map[string]jsontext.Value `json:"fields"`
		Source     string                    `json:"source"`
		EmittedAt  time.Time                 `json:"emitted_at"`
	}
	if err := jsonv2.Unmarshal(data, &w, jsonv2.RejectUnknownMembers(true)); err != nil {
		return Delta{}, false
	}
	d := Delta{Schema: w.Schema, ExternalID: w.ExternalID, Segment: w.Segment, Op: w.Op, Version: w.Version,
		Source: w.Source, EmittedAt: w.EmittedAt}
	if w.Fields != nil {
		d.Fields = make(map[string]any, len(w.Fields))
		for k, raw := range w.Fields {
			switch raw.Kind() {
			case '"':
				v, err := jsontext.AppendUnquote(nil, raw)
				if err != nil {
					return Delta{}, false
				}
				d.Fields[k] = string(v)
			case '0':
				d.Fields[k] = json.Number(raw)
			case 't':
				d.Fields[k] = true
			case 'f':
				d.Fields[k] = false
			case 'n':
				d.Fields[k] = nil
			default:
				return Delta{}, false
			}
		}
	}
	return d, true
}

// go test -run '^$' -bench Codec -benchmem ./pkg/delta: each step of the
// codec next to its reflective baseline, on a typical delta.
func BenchmarkCodec(b *testing.B) {
	doc := []byte(`{"schema":"contact.delta/v1","external_id":"ext-000123","segment":"retail","version":1733000000000001,` +
		`"fields":{"Email":"jane.doe@example.com","FirstName":"Jane","LastName":"Doe","Phone":"+1 555 0100","MailingCity":"Springfield"},` +
		`"source":"crm","emitted_at":"2026-12-02T10:00:00Z"}`)
	d, err := Decode(doc)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decode/baseline-jsonv2-reflect", func(b *testing.B) {
		for b.Loop() {
			if _, ok := decodeReflect(doc); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("decode/decodeFast", func(b *testing.B) {
		for b.Loop() {
			if _, ok := decodeFast(doc); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("encode/baseline-json.Marshal", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode/AppendJSON", func(b *testing.B) {
		for b.Loop() {
			if _, err := d.AppendJSON(nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The fast decoder takes the deltas a producer writes (or else every
// delta would pay for the slow one and the fuzz test above would prove
// nothing), and reads them as decodeExplained does.
func TestDecodeFastReadsWhatProducersWrite(t *testing.T) {
	for _, doc := range []string{good, codecSeeds[1], codecSeeds[2], codecSeeds[3], codecSeeds[4], codecSeeds[6]} {
		fast, ok := decodeFast([]byte(doc))
		if !ok {
			t.Errorf("decodeFast declined %s", doc)
			continue
		}
		slow, err := decodeExplained([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if fmt.Sprintf("%#v", fast) != fmt.Sprintf("%#v", slow) {
			t.Errorf("%s:\nfast %#v\nslow %#v", doc, fast, slow)
		}
		// And what the producer writes back reads the same again.
		b, err := fast.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		again, ok := decodeFast(b)
		if !ok || fmt.Sprintf("%#v", again) != fmt.Sprintf("%#v", fast) {
			t.Errorf("round trip of %s: ok=%v\n got %#v\nwant %#v", b, ok, again, fast)
		}
	}
	// What it must leave to decodeExplained.
	for _, doc := range []string{codecSeeds[5], codecSeeds[7], codecSeeds[8], codecSeeds[9], codecSeeds[11], codecSeeds[12],
		`{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":1.0,"fields":{"A":1}}`,
		`{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":1,"fields":{"A":{"b":1}}}`, `[]`, ``} {
		if _, ok := decodeFast([]byte(doc)); ok {
			t.Errorf("decodeFast took %s", doc)
		}
	}
}

// Validate refuses a json.Number json.Marshal would refuse to write, so a
// delta built in Go fails where it is made, not when it is published.
func TestValidateRefusesNumbersJSONCannotWrite(t *testing.T) {
	for _, n := range []string{"Inf", "NaN", "0x10", "1_000", "+1", ".5", "1e400"} {
		d := Delta{Schema: SchemaV1, ExternalID: "a", Segment: "s", Version: 1, Fields: map[string]any{"A": json.Number(n)}}
		err := d.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "fields.A" {
			t.Errorf("json.Number(%q): Validate = %v, want a FieldError on fields.A", n, err)
		}
	}
	d := Delta{Schema: SchemaV1, ExternalID: "a", Segment: "s", Version: 1, Fields: map[string]any{"A": json.Number("-1.5E+3")}}
	if err := d.Validate(); err != nil {
		t.Errorf("a valid number: %v", err)
	}
}
