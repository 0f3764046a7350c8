package sfsim_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

const collUpsert = v60 + "/composite/sobjects/Contact/" + extField

func TestCollectionsUpsert(t *testing.T) {
	o := start(t, sfsim.Config{})
	r := o.do("PATCH", collUpsert, collection(false,
		map[string]any{extField: "C-1", "LastName": "One"},
		map[string]any{extField: "C-2", "LastName": "Two"},
		map[string]any{extField: "C-3"}, // invalid
	))
	res := r.results(t)
	if len(res) != 3 || res[0]["created"] != true || res[1]["created"] != true || res[0]["success"] != true {
		t.Fatalf("results %s", r.body)
	}
	checkID(t, str(res[0]["id"]), "003")
	if code, msg := recErr(t, res[2]); code != "REQUIRED_FIELD_MISSING" || msg != "Required fields are missing: [LastName]" {
		t.Errorf("record 3: %s %s", code, msg)
	}
	if res[2]["id"] != nil {
		t.Errorf("failed record has id %v", res[2]["id"])
	}
	// second pass: updates, in order
	r = o.do("PATCH", collUpsert, collection(false,
		map[string]any{extField: "c-2", "LastName": "Two2"},
		map[string]any{extField: "C-1", "LastName": "One2"},
	))
	res = r.results(t)
	if res[0]["created"] != false || res[1]["created"] != false || res[1]["id"] == res[0]["id"] {
		t.Fatalf("pass 2: %s", r.body)
	}
	if n := len(o.srv.Records("Contact")); n != 2 {
		t.Errorf("%d records", n)
	}
	// third pass: FirstName added to one, the other unchanged; Name follows
	r = o.do("PATCH", collUpsert, collection(false,
		map[string]any{extField: "C-1", "FirstName": "Ann"},
		map[string]any{extField: "C-2", "Title": "Same name"},
	))
	if res = r.results(t); res[0]["success"] != true || res[1]["success"] != true {
		t.Fatalf("pass 3: %s", r.body)
	}
	names := map[any]any{}
	for _, rec := range o.srv.Records("Contact") {
		names[rec[extField]] = rec["Name"]
	}
	if names["C-1"] != "Ann One2" || names["C-2"] != "Two2" {
		t.Errorf("names after pass 3: %v", names)
	}
}

func TestCollectionsRequestErrors(t *testing.T) {
	o := start(t, sfsim.Config{})
	many := make([]map[string]any, 201)
	for i := range many {
		many[i] = map[string]any{extField: fmt.Sprint(i), "LastName": "M"}
	}
	tests := []struct {
		name         string
		method, path string
		body         any
		status       int
		code         string
	}{
		{"201 records", "PATCH", collUpsert, collection(false, many...), 400, "EXCEEDED_ID_LIMIT"},
		{"no attributes.type", "PATCH", collUpsert, map[string]any{"records": []any{map[string]any{"LastName": "X"}}}, 400, "INVALID_TYPE"},
		{"create without type", "POST", v60 + "/composite/sobjects", map[string]any{"records": []any{map[string]any{"LastName": "X"}}}, 400, "INVALID_TYPE"},
		{"wrong type", "PATCH", collUpsert, map[string]any{"records": []any{map[string]any{"attributes": map[string]any{"type": "Contact_Sync_Exception__c"}}}}, 400, "INVALID_TYPE"},
		{"unknown field fails the request", "PATCH", collUpsert, collection(false, map[string]any{extField: "A", "LastName": "X"}, map[string]any{extField: "B", "LastName": "X", "Nope": 1}), 400, "INVALID_FIELD"},
		{"not an external ID field", "PATCH", v60 + "/composite/sobjects/Contact/LastName", collection(false), 400, "INVALID_FIELD"},
		{"malformed JSON", "PATCH", collUpsert, "{", 400, "JSON_PARSER_ERROR"},
		{"before v46", "PATCH", "/services/data/v45.0/composite/sobjects/Contact/" + extField, collection(false), 404, "NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o.do(tt.method, tt.path, tt.body).topError(t, tt.status, tt.code)
		})
	}
	if n := len(o.srv.Records("Contact")); n != 0 {
		t.Errorf("%d records written by refused requests", n)
	}
}

func TestCollectionsAllOrNone(t *testing.T) {
	o := start(t, sfsim.Config{})
	existing, err := o.srv.Insert("Contact", map[string]any{"LastName": "Before", extField: "E-1"})
	if err != nil {
		t.Fatal(err)
	}
	r := o.do("PATCH", collUpsert, collection(true,
		map[string]any{extField: "E-1", "LastName": "Changed"},
		map[string]any{extField: "N-1", "LastName": "New"},
		map[string]any{extField: "N-2", "Email": "bad"},
	))
	res := r.results(t)
	for i := range 2 {
		code, msg := recErr(t, res[i])
		if code != "ALL_OR_NONE_OPERATION_ROLLED_BACK" || msg != "Record rolled back because not all records were valid and the request was using AllOrNone header" {
			t.Errorf("record %d: %s %s", i, code, msg)
		}
		if res[i]["id"] != nil {
			t.Errorf("rolled back record %d has id", i)
		}
	}
	if code, _ := recErr(t, res[2]); code != "REQUIRED_FIELD_MISSING" {
		t.Errorf("failing record: %s", code)
	}
	recs := o.srv.Records("Contact")
	if len(recs) != 1 || recs[0]["Id"] != existing || recs[0]["LastName"] != "Before" {
		t.Errorf("after rollback: %v", recs)
	}
	// allOrNone with every record valid commits
	r = o.do("PATCH", collUpsert, collection(true, map[string]any{extField: "E-1", "LastName": "Changed"}))
	if res := r.results(t); res[0]["success"] != true {
		t.Fatalf("%s", r.body)
	}
}

// TestDuplicateKeyTriad is reference §1.3 / §11.6.
func TestDuplicateKeyTriad(t *testing.T) {
	o := start(t, sfsim.Config{})
	for i := range 2 {
		if _, err := o.srv.Insert("Contact", map[string]any{"LastName": fmt.Sprint("Twin", i), extField: "TWIN"}); err != nil {
			t.Fatal(err)
		}
	}
	taken := str(o.do("POST", v60+"/sobjects/Contact", map[string]any{"LastName": "T", extField: "TAKEN"}).obj(t)["id"])
	other := str(o.do("POST", v60+"/sobjects/Contact", map[string]any{"LastName": "O", extField: "OTHER"}).obj(t)["id"])

	r := o.do("PATCH", collUpsert, collection(false,
		map[string]any{extField: "SAME", "LastName": "A"},
		map[string]any{extField: "ok-1", "LastName": "B"},
		map[string]any{extField: "same", "LastName": "C"}, // same key, other case
		map[string]any{extField: "TWIN", "LastName": "D"},
	))
	res := r.results(t)
	for _, i := range []int{0, 2} {
		code, msg := recErr(t, res[i])
		if code != "DUPLICATE_VALUE" || !strings.HasPrefix(msg, "Duplicate external id specified: ") {
			t.Errorf("record %d: %s %s", i, code, msg)
		}
		if f := res[i]["errors"].([]any)[0].(map[string]any)["fields"].([]any); len(f) != 1 || f[0] != extField {
			t.Errorf("record %d fields %v", i, f)
		}
	}
	if res[1]["success"] != true {
		t.Errorf("innocent record: %v", res[1])
	}
	code, msg := recErr(t, res[3])
	if code != "DUPLICATE_EXTERNAL_ID" || !strings.HasPrefix(msg, "External Contact ID: more than one record found for external id field: [003") {
		t.Errorf("multi match: %s %s", code, msg)
	}
	// DUPLICATE_VALUE from the unique index: re-key OTHER to TAKEN by Id
	r = o.do("PATCH", v60+"/composite/sobjects", map[string]any{"records": []any{
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "id": other, extField: "taken"}}})
	res = r.results(t)
	code, msg = recErr(t, res[0])
	if code != "DUPLICATE_VALUE" || msg != "duplicate value found: "+extField+" duplicates value on record with id: "+taken[:15] {
		t.Errorf("unique: %s %s", code, msg)
	}
	for _, rec := range o.srv.Records("Contact") {
		if rec["LastName"] == "A" || rec["LastName"] == "C" || rec["LastName"] == "D" {
			t.Errorf("refused record written: %v", rec)
		}
	}
}

func TestCollectionsCreateUpdateDelete(t *testing.T) {
	o := start(t, sfsim.Config{})
	r := o.do("POST", v60+"/composite/sobjects", map[string]any{"allOrNone": false, "records": []any{
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "LastName": "C1"},
		map[string]any{"attributes": map[string]any{"type": "Contact_Sync_Exception__c"}, "Exception_Key__c": "X1"},
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "LastName": "C3", "Email": "bad"},
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "LastName": "C4", "Id": "003000000000001AAA"},
	}})
	res := r.results(t)
	if res[0]["success"] != true || res[1]["success"] != true {
		t.Fatalf("%s", r.body)
	}
	if _, ok := res[0]["created"]; ok {
		t.Error("create results carry created")
	}
	checkID(t, str(res[1]["id"]), "a0")
	if code, _ := recErr(t, res[2]); code != "INVALID_EMAIL_ADDRESS" {
		t.Errorf("record 3: %s", code)
	}
	if code, _ := recErr(t, res[3]); code != "INVALID_FIELD_FOR_INSERT_UPDATE" {
		t.Errorf("record 4: %s", code)
	}
	c1 := str(res[0]["id"])

	r = o.do("PATCH", v60+"/composite/sobjects", map[string]any{"records": []any{
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "id": c1, "Title": "Up"},
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "Title": "NoId"},
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "id": "003000000000009AAA", "Title": "Gone"},
	}})
	res = r.results(t)
	if res[0]["success"] != true || res[0]["id"] != c1 {
		t.Fatalf("%s", r.body)
	}
	if code, _ := recErr(t, res[1]); code != "MISSING_ARGUMENT" {
		t.Errorf("no id: %s", code)
	}
	if code, _ := recErr(t, res[2]); code != "INVALID_CROSS_REFERENCE_KEY" {
		t.Errorf("unknown id: %s", code)
	}
	if rec := o.srv.Records("Contact")[0]; rec["Title"] != "Up" {
		t.Errorf("Title %v", rec["Title"])
	}

	r = o.do("DELETE", v60+"/composite/sobjects?ids="+c1+",003000000000009AAA,bad!&allOrNone=false", nil)
	res = r.results(t)
	if res[0]["success"] != true || res[0]["id"] != c1 {
		t.Fatalf("%s", r.body)
	}
	if code, _ := recErr(t, res[1]); code != "INVALID_CROSS_REFERENCE_KEY" {
		t.Errorf("unknown: %s", code)
	}
	if code, _ := recErr(t, res[2]); code != "MALFORMED_ID" {
		t.Errorf("malformed: %s", code)
	}
	r = o.do("DELETE", v60+"/composite/sobjects?ids="+c1, nil)
	if code, _ := recErr(t, r.results(t)[0]); code != "ENTITY_IS_DELETED" {
		t.Errorf("deleted twice: %s", code)
	}
	if n := len(o.srv.Records("Contact")); n != 0 {
		t.Errorf("%d contacts left", n)
	}
}

// TestCollectionsKeepNothingOfTheBody: collections request buffers are
// reused, so what a request stored must not change when later requests
// (of the same size) arrive.
func TestCollectionsKeepNothingOfTheBody(t *testing.T) {
	o := start(t, sfsim.Config{})
	for i := range 5 {
		r := o.do("PATCH", collUpsert, collection(false,
			map[string]any{extField: fmt.Sprint("K-", i), "LastName": fmt.Sprint("Last-", i), "Title": fmt.Sprint("Title-", i)}))
		if res := r.results(t); res[0]["success"] != true {
			t.Fatalf("request %d: %s", i, r.body)
		}
	}
	recs := o.srv.Records("Contact")
	if len(recs) != 5 {
		t.Fatalf("%d records", len(recs))
	}
	for i, rec := range recs {
		if rec[extField] != fmt.Sprint("K-", i) || rec["LastName"] != fmt.Sprint("Last-", i) || rec["Title"] != fmt.Sprint("Title-", i) {
			t.Errorf("record %d: %v", i, rec)
		}
	}
}
