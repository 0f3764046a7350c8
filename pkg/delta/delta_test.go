package delta

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

const good = `{"schema":"contact.delta/v1","external_id":"MC_12345","segment":"emea",
 "version":1732615200123456,"fields":{"LastName":"Doe","Email":"jane@example.com","Age__c":42,"HasOptedOutOfEmail":false,"Title":null},
 "source":"marketing","emitted_at":"2026-11-26T10:00:00Z"}`

func TestDecodeGood(t *testing.T) {
	d, err := Decode([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if d.ExternalID != "MC_12345" || d.Segment != "emea" || d.Version != 1732615200123456 || d.Source != "marketing" {
		t.Fatalf("decoded %+v", d)
	}
	if !d.EmittedAt.Equal(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("emitted_at = %v", d.EmittedAt)
	}
	if d.Fields["Age__c"] != json.Number("42") || d.Fields["Title"] != nil || d.Fields["HasOptedOutOfEmail"] != false {
		t.Fatalf("fields = %#v", d.Fields)
	}
	if got, want := d.Subject(), "contacts.delta.emea.mc_12345"; got != want {
		t.Fatalf("Subject = %q, want %q", got, want)
	}
	if got, want := d.MsgID(), "MC_12345:1732615200123456"; got != want {
		t.Fatalf("MsgID = %q, want %q", got, want)
	}
	// A marshalled delta decodes to the same thing.
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Decode(b)
	if err != nil {
		t.Fatalf("re-decode %s: %v", b, err)
	}
	if d2.MsgID() != d.MsgID() || len(d2.Fields) != len(d.Fields) {
		t.Fatalf("round trip: %+v vs %+v", d2, d)
	}
}

func TestDecodeMinimal(t *testing.T) {
	d, err := Decode([]byte(`{"schema":"contact.delta/v1","external_id":"x/y.z é","segment":"a-b_1","version":1,"fields":{"LastName":"O'Brien"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !d.EmittedAt.IsZero() || d.Source != "" {
		t.Fatalf("optional fields: %+v", d)
	}
	b, _ := json.Marshal(d)
	if strings.Contains(string(b), "emitted_at") || strings.Contains(string(b), "source") {
		t.Fatalf("optional fields marshalled: %s", b)
	}
}

// mutate builds a delta document from the good one with key set to raw JSON
// (or removed when raw is "").
func mutate(t *testing.T, key, raw string) string {
	t.Helper()
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal([]byte(good), &m); err != nil {
		t.Fatal(err)
	}
	if raw == "" {
		delete(m, key)
	} else {
		m[key] = json.RawMessage(raw)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecodeBadInput(t *testing.T) {
	long := strings.Repeat("é", 81)
	cases := []struct {
		name      string
		doc       string
		field     string // want FieldError.Field
		reasonHas string
	}{
		// Malformed JSON.
		{"empty input", ``, "", "empty input"},
		{"truncated", good[:40], "", "malformed JSON"},
		{"syntax error offset", `{"schema": "contact.delta/v1",, }`, "", "at byte 31"},
		{"not an object", `["a"]`, "", "must be a JSON object"},
		{"trailing data", good + ` {}`, "", "data after the delta object"},
		// Unknown or duplicated keys.
		{"unknown key", mutate(t, "extra", `1`), "extra", "unknown key"},
		{"key in wrong case", `{"Schema":"contact.delta/v1","external_id":"a","segment":"s","version":1,"fields":{"LastName":"x"}}`, "Schema", "case-sensitive"},
		{"duplicate key", `{"schema":"contact.delta/v1","external_id":"a","external_id":"b","segment":"s","version":1,"fields":{"LastName":"x"}}`, "external_id", "more than once"},
		{"duplicate field", `{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":1,"fields":{"LastName":"x","LastName":"y"}}`, "fields.LastName", "more than once"},
		// Schema.
		{"missing schema", mutate(t, "schema", ""), "schema", "missing"},
		{"wrong schema", mutate(t, "schema", `"contact.delta/v2"`), "schema", "unsupported"},
		{"schema not a string", mutate(t, "schema", `1`), "schema", "must be a string"},
		// External ID.
		{"missing external_id", mutate(t, "external_id", ""), "external_id", "missing"},
		{"empty external_id", mutate(t, "external_id", `""`), "external_id", "missing"},
		{"blank external_id", mutate(t, "external_id", `"  \t "`), "external_id", "blank"},
		{"null external_id", mutate(t, "external_id", `null`), "external_id", "missing"},
		{"long external_id", mutate(t, "external_id", `"`+long+`"`), "external_id", "longer than 80"},
		{"control char in external_id", mutate(t, "external_id", `"a\nb"`), "external_id", "control character"},
		{"numeric external_id", mutate(t, "external_id", `12345`), "external_id", "must be a string"},
		// Segment.
		{"missing segment", mutate(t, "segment", ""), "segment", "missing"},
		{"segment with space", mutate(t, "segment", `"EMEA West"`), "segment", "not a segment token"},
		{"segment upper case", mutate(t, "segment", `"Emea"`), "segment", "not a segment token"},
		{"segment with dot", mutate(t, "segment", `"emea.west"`), "segment", "not a segment token"},
		{"segment wildcard", mutate(t, "segment", `"*"`), "segment", "not a segment token"},
		{"segment too long", mutate(t, "segment", `"`+strings.Repeat("a", 65)+`"`), "segment", "longer than 64"},
		// Version.
		{"missing version", mutate(t, "version", ""), "version", "positive integer"},
		{"zero version", mutate(t, "version", `0`), "version", "positive integer"},
		{"negative version", mutate(t, "version", `-5`), "version", "positive integer"},
		{"fractional version", mutate(t, "version", `1.5`), "version", "must be an integer"},
		{"string version", mutate(t, "version", `"7"`), "version", "must be an integer"},
		// Fields.
		{"missing fields", mutate(t, "fields", ""), "fields", "missing"},
		{"null fields", mutate(t, "fields", `null`), "fields", "missing"},
		{"empty fields", mutate(t, "fields", `{}`), "fields", "empty"},
		{"fields is array", mutate(t, "fields", `[{"LastName":"x"}]`), "fields", "must be an object"},
		{"fields is string", mutate(t, "fields", `"LastName=x"`), "fields", "must be an object"},
		{"nested object value", mutate(t, "fields", `{"LastName":"x","Address":{"City":"Paris"}}`), "fields.Address", "got an object"},
		{"array value", mutate(t, "fields", `{"LastName":["x"]}`), "fields.LastName", "got an array"},
		{"field name with space", mutate(t, "fields", `{"Last Name":"x"}`), "fields.Last Name", "not a Salesforce field API name"},
		{"field name starts with digit", mutate(t, "fields", `{"1Name":"x"}`), "fields.1Name", "not a Salesforce field API name"},
		{"field name double underscore", mutate(t, "fields", `{"ns__Name":"x"}`), "fields.ns__Name", "not a Salesforce field API name"},
		{"field name trailing underscore", mutate(t, "fields", `{"Name_":"x"}`), "fields.Name_", "not a Salesforce field API name"},
		{"field name only suffix", mutate(t, "fields", `{"__c":"x"}`), "fields.__c", "not a Salesforce field API name"},
		{"field name dot", mutate(t, "fields", `{"Account.Name":"x"}`), "fields.Account.Name", "not a Salesforce field API name"},
		{"empty field name", mutate(t, "fields", `{"":"x"}`), "fields", "empty field name"},
		{"Id in fields", mutate(t, "fields", `{"Id":"003000000000001"}`), "fields.Id", "Salesforce Id"},
		{"id in fields any case", mutate(t, "fields", `{"ID":"003000000000001"}`), "fields.ID", "Salesforce Id"},
		{"external ID field in fields", mutate(t, "fields", `{"External_Contact_ID__c":"MC_1"}`), "fields.External_Contact_ID__c", "external ID field"},
		// Optional keys.
		{"bad emitted_at", mutate(t, "emitted_at", `"yesterday"`), "emitted_at", "RFC 3339"},
		{"source not a string", mutate(t, "source", `true`), "source", "must be a string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.doc))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Decode(%s) = %v, want *FieldError", tc.doc, err)
			}
			if fe.Field != tc.field || !strings.Contains(fe.Reason, tc.reasonHas) {
				t.Fatalf("Decode(%s) = Field %q Reason %q; want Field %q, reason containing %q", tc.doc, fe.Field, fe.Reason, tc.field, tc.reasonHas)
			}
			if tc.field != "" && !strings.HasPrefix(err.Error(), tc.field+": ") {
				t.Fatalf("Error() = %q, want it to start with the field", err.Error())
			}
		})
	}
}

func TestValidateGoValues(t *testing.T) {
	d := Delta{Schema: SchemaV1, ExternalID: "a", Segment: "s", Version: 1,
		Fields: map[string]any{"A": 1, "B": int64(2), "C": 2.5, "D": "x", "E": true, "F": nil, "G": json.Number("3"), "H__c": uint8(1)}}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{"slice": []string{"a"}, "map": map[string]any{}, "time": time.Now(), "badnum": json.Number("1x")} {
		d.Fields = map[string]any{"X": v}
		var fe *FieldError
		if err := d.Validate(); !errors.As(err, &fe) || fe.Field != "fields.X" {
			t.Errorf("%s: Validate = %v, want FieldError on fields.X", name, err)
		}
	}
}

func TestFieldNames(t *testing.T) {
	for _, ok := range []string{"LastName", "Email", "Custom_Field__c", "A", "a1_b2", "External_Contact_ID2__c"} {
		if err := validateFieldName(ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"_A", "A__B", "A___c", "A__c__c", "A-B", "Ünïcode", "A b", "A__C_"} {
		if err := validateFieldName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDecodeOp(t *testing.T) {
	const head = `{"schema":"contact.delta/v1","external_id":"MC_1","segment":"emea","version":5`
	for _, tc := range []struct {
		name, doc, field string // field: the FieldError's field; "" = valid
		del              bool
	}{
		{"absent is upsert", head + `,"fields":{"LastName":"Doe"}}`, "", false},
		{"explicit upsert", head + `,"op":"upsert","fields":{"LastName":"Doe"}}`, "", false},
		{"delete without fields", head + `,"op":"delete"}`, "", true},
		{"delete with empty fields", head + `,"op":"delete","fields":{}}`, "", true},
		{"delete with fields", head + `,"op":"delete","fields":{"LastName":"Doe"}}`, "fields", false},
		{"upsert without fields", head + `,"op":"upsert"}`, "fields", false},
		{"unknown op", head + `,"op":"remove"}`, "op", false},
		{"op is case-sensitive", head + `,"op":"DELETE"}`, "op", false},
		{"op not a string", head + `,"op":1}`, "op", false},
		{"delete needs a version", `{"schema":"contact.delta/v1","external_id":"MC_1","segment":"emea","op":"delete"}`, "version", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decode([]byte(tc.doc))
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if d.IsDelete() != tc.del {
					t.Fatalf("IsDelete = %v, want %v", d.IsDelete(), tc.del)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("Decode error = %v, want a FieldError on %q", err, tc.field)
			}
		})
	}
}

func TestDeleteRoundTrip(t *testing.T) {
	d := Delta{Schema: SchemaV1, ExternalID: "MC_1", Segment: "emea", Op: OpDelete, Version: 7}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "fields") {
		t.Fatalf("a delete marshals fields: %s", b)
	}
	got, err := Decode(b)
	if err != nil || !got.IsDelete() || got.Version != 7 {
		t.Fatalf("Decode(%s) = %+v, %v", b, got, err)
	}
	// An upsert keeps its wire form: no op key.
	up := Delta{Schema: SchemaV1, ExternalID: "MC_1", Segment: "emea", Version: 7, Fields: map[string]any{"LastName": "Doe"}}
	if b, _ := json.Marshal(up); strings.Contains(string(b), `"op"`) {
		t.Fatalf("an upsert marshals op: %s", b)
	}
}

// The fast key check and the slow walk it falls back to agree on every
// verdict, good and bad.
func TestCheckKeysFastAgreesWithSlow(t *testing.T) {
	docs := []string{
		`{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":1,"fields":{"Email":"a@example.com"}}`,
		`{"schema":"contact.delta/v1","schema":"contact.delta/v1"}`,
		`{"schema":"contact.delta/v1","fields":{"Email":"a","Email":"b"}}`,
		`{"Schema":"contact.delta/v1"}`,
		`{"fields":{"X":{"a":1,"a":2}}}`,
		"{\"fields\":{\"LastName\":\"\xff\"}}",
		`{"fields":{"A":[1,{"b":2}]}}`,
		`[]`,
		`{"nosuch":1}`,
	}
	for _, doc := range docs {
		fast := keysWellFormed([]byte(doc))
		slow := explainKeys([]byte(doc))
		if fast && slow != nil {
			t.Errorf("%s: fast check accepts, slow walk refuses: %v", doc, slow)
		}
		if got := checkDuplicateKeys([]byte(doc)); (got == nil) != (slow == nil) {
			t.Errorf("%s: checkDuplicateKeys = %v, slow walk = %v", doc, got, slow)
		}
	}
	if keysWellFormed([]byte(docs[1])) || keysWellFormed([]byte(docs[2])) || keysWellFormed([]byte(docs[3])) {
		t.Error("fast check accepted a duplicate or a misspelt key")
	}
}

// go test -run x -bench CheckKeys ./pkg/delta: the slow walk (baseline) and
// the check Decode uses, on a typical delta.
func BenchmarkCheckKeys(b *testing.B) {
	doc := []byte(`{"schema":"contact.delta/v1","external_id":"ext-000123","segment":"retail","version":1733000000000001,` +
		`"fields":{"Email":"jane.doe@example.com","FirstName":"Jane","LastName":"Doe","Phone":"+1 555 0100","MailingCity":"Springfield"},` +
		`"source":"crm","emitted_at":"2026-12-02T10:00:00Z"}`)
	b.Run("slow-walk", func(b *testing.B) {
		for b.Loop() {
			if err := explainKeys(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("checkDuplicateKeys", func(b *testing.B) {
		for b.Loop() {
			if err := checkDuplicateKeys(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decode/encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeExplained(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := Decode(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The fast decode either declines or reads a document exactly as the
// explaining decode does: the same delta, the same verdict.
func FuzzDecodeFastAgrees(f *testing.F) {
	for _, doc := range []string{good, `{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":1,"fields":{"A":1.50,"B":-0,"C":1e3,"D":true,"E":false,"F":null,"G":"\u00e9\n"}}`,
		`{"schema":"contact.delta/v1","external_id":"a","segment":"s","op":"delete","version":2}`,
		`{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":1.0,"fields":{"A":1}}`,
		`{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":1e3,"fields":{"A":1}}`,
		`{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":"1","fields":{"A":1}}`,
		`{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":1,"fields":{"A":1},"emitted_at":"2026-12-02T10:00:00.123+01:00"}`,
		`{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":1,"fields":{"A":1},"emitted_at":""}`,
		`{"schema":"contact.delta/v1","external_id":"a","segment":"s","version":1,"fields":null}`,
		`null`, `{}`, `{"schema":null}`, `{"fields":{"a":[]}}`, `{"version":9223372036854775808}`,
		"{\"schema\":\"contact.delta/v1\",\"external_id\":\"a\xff\",\"segment\":\"s\",\"version\":1}",
	} {
		f.Add([]byte(doc))
	}
	for _, doc := range codecSeeds {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeFast(data)
		if !ok {
			return
		}
		slow, serr := decodeExplained(data)
		ferr := fast.Validate()
		switch {
		case ferr == nil && serr != nil:
			t.Fatalf("decodeFast reads %q, decodeExplained refuses it: %v", data, serr)
		case ferr == nil && !reflect.DeepEqual(fast, slow):
			t.Fatalf("%q decodes differently:\nfast %#v\nslow %#v", data, fast, slow)
		case ferr != nil && (serr == nil || serr.Error() != ferr.Error()):
			t.Fatalf("%q: fast path verdict %v, explained %v", data, ferr, serr)
		}
	})
}
