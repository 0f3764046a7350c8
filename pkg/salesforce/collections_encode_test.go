package salesforce

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// The request body is the records as JSON: attributes.type first, fields by
// name, Id left out for an upsert, values exactly as given (numbers as
// written, HTML characters and invalid UTF-8 as encoding/json writes them).
func TestCollectionEncoderBody(t *testing.T) {
	recs := []Record{
		{"External_Contact_ID__c": "a<1>", "Email": "jane@example.com", "Age__c": json.Number("42.50"), "Id": "003X", "Opt__c": true, "Title": nil, "N": 7},
		{"attributes": map[string]any{"type": "Contact", "referenceId": "r1"}, "LastName": "D\xffoe", "Sub": map[string]any{"b": 1}},
	}
	var e collectionEncoder
	raw, err := e.encode(false, recs, "Contact", true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw), `{"allOrNone":false,"records":[{"attributes":{"type":"Contact"},"Age__c":42.50,"Email":`) {
		t.Errorf("body starts %s", raw[:min(len(raw), 100)])
	}
	var got struct {
		AllOrNone bool             `json:"allOrNone"`
		Records   []map[string]any `json:"records"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, raw)
	}
	want := []map[string]any{
		{"attributes": map[string]any{"type": "Contact"}, "External_Contact_ID__c": "a<1>", "Email": "jane@example.com",
			"Age__c": json.Number("42.50"), "Opt__c": true, "Title": nil, "N": json.Number("7")},
		{"attributes": map[string]any{"type": "Contact", "referenceId": "r1"}, "LastName": "D\ufffdoe", "Sub": map[string]any{"b": json.Number("1")}},
	}
	if !reflect.DeepEqual(got.Records, want) {
		t.Errorf("records\n got %#v\nwant %#v", got.Records, want)
	}
	if _, ok := recs[0]["Id"]; !ok {
		t.Error("encode modified the caller's record")
	}
	// A second body from the same encoder does not carry the first.
	raw2, err := e.encode(true, recs[:1], "Lead", false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw2), `{"allOrNone":true,"records":[{"attributes":{"type":"Lead"}`) || !strings.Contains(string(raw2), `"Id":"003X"`) || strings.Count(string(raw2), "attributes") != 1 {
		t.Errorf("second body %s", raw2)
	}
	if string(raw[:20]) != `{"allOrNone":false,"` {
		t.Errorf("first body changed under the second: %s", raw[:20])
	}
	if _, err := e.encode(false, []Record{{"Bad__c": json.Number("Inf")}}, "Contact", true); err == nil || !strings.Contains(err.Error(), "Bad__c") {
		t.Errorf("a value JSON cannot hold: err = %v, want one naming Bad__c", err)
	}
}
