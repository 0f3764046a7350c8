package sfsim_test

import (
	"fmt"
	"testing"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

func sub(method, url, ref string, body any) map[string]any {
	m := map[string]any{"method": method, "url": url, "referenceId": ref}
	if body != nil {
		m["body"] = body
	}
	return m
}

func compositeResponses(t *testing.T, r reply) []map[string]any {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("composite status %d: %s", r.status, r.body)
	}
	var out []map[string]any
	for _, x := range r.obj(t)["compositeResponse"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

func TestComposite(t *testing.T) {
	o := start(t, sfsim.Config{})
	before := o.srv.Stats().APICalls
	r := o.do("POST", v60+"/composite", map[string]any{"allOrNone": true, "compositeRequest": []any{
		sub("PATCH", v60+"/sobjects/Contact/"+extField+"/CMP-1", "up", map[string]any{"LastName": "Comp"}),
		sub("GET", v60+"/sobjects/Contact/@{up.id}?fields=LastName", "get", nil),
		sub("POST", v60+"/sobjects/Contact_Sync_Exception__c", "exc", map[string]any{"Exception_Key__c": "K", "Existing_Contact__c": "@{up.id}"}),
		sub("GET", v60+"/query?q=SELECT+Id+FROM+Contact", "q", nil),
		sub("PATCH", v60+"/sobjects/Contact/@{q.records[0].Id}", "upd", map[string]any{"Title": "FromQuery"}),
	}})
	out := compositeResponses(t, r)
	if calls := o.srv.Stats().APICalls - before; calls != 1 {
		t.Errorf("composite counted %d API calls, want 1", calls)
	}
	wantStatus := []int{201, 200, 201, 200, 204}
	for i, s := range wantStatus {
		if out[i]["httpStatusCode"] != float64(s) {
			t.Errorf("subresponse %d: %v", i, out[i])
		}
	}
	if out[0]["referenceId"] != "up" || out[1]["body"].(map[string]any)["LastName"] != "Comp" {
		t.Errorf("responses %s", r.body)
	}
	id := out[0]["body"].(map[string]any)["id"]
	if exc := o.srv.Records("Contact_Sync_Exception__c"); len(exc) != 1 || exc[0]["Existing_Contact__c"] != id {
		t.Errorf("reference in body not resolved: %v", exc)
	}
	if c := o.srv.Records("Contact"); c[0]["Title"] != "FromQuery" {
		t.Errorf("reference to a query record not resolved: %v", c[0]["Title"])
	}
}

func TestCompositeAllOrNone(t *testing.T) {
	o := start(t, sfsim.Config{})
	r := o.do("POST", v60+"/composite", map[string]any{"allOrNone": true, "compositeRequest": []any{
		sub("PATCH", v60+"/sobjects/Contact/"+extField+"/OK", "ok", map[string]any{"LastName": "Fine"}),
		sub("PATCH", v60+"/sobjects/Contact/"+extField+"/BAD", "bad", map[string]any{"Email": "x@example.com"}),
		sub("GET", v60+"/sobjects/Contact/@{ok.id}", "after", nil),
	}})
	out := compositeResponses(t, r)
	halted := func(i int) {
		t.Helper()
		l, _ := out[i]["body"].([]any)
		if out[i]["httpStatusCode"] != 400.0 || len(l) != 1 || l[0].(map[string]any)["errorCode"] != "PROCESSING_HALTED" ||
			l[0].(map[string]any)["message"] != "The transaction was rolled back since another operation in the same transaction failed." {
			t.Errorf("subresponse %d: %v", i, out[i])
		}
	}
	halted(0)
	halted(2)
	if b := out[1]["body"].([]any)[0].(map[string]any); out[1]["httpStatusCode"] != 400.0 || b["errorCode"] != "REQUIRED_FIELD_MISSING" {
		t.Errorf("failing subresponse %v", out[1])
	}
	if n := len(o.srv.Records("Contact")); n != 0 {
		t.Errorf("%d contacts after rollback", n)
	}

	// outer allOrNone overrides a collection's allOrNone=false
	r = o.do("POST", v60+"/composite", map[string]any{"allOrNone": true, "compositeRequest": []any{
		sub("PATCH", v60+"/composite/sobjects/Contact/"+extField, "coll",
			collection(false, map[string]any{extField: "G", "LastName": "Good"}, map[string]any{extField: "B"})),
	}})
	out = compositeResponses(t, r)
	if n := len(o.srv.Records("Contact")); n != 0 {
		t.Errorf("%d contacts: inner allOrNone=false not overridden (%v)", n, out)
	}

	// allOrNone=false: independent subrequests commit; dependents of a failure fail
	r = o.do("POST", v60+"/composite", map[string]any{"allOrNone": false, "compositeRequest": []any{
		sub("PATCH", v60+"/sobjects/Contact/"+extField+"/BAD", "bad", map[string]any{"Email": "x@example.com"}),
		sub("PATCH", v60+"/sobjects/Contact/"+extField+"/OK", "ok", map[string]any{"LastName": "Fine"}),
		sub("GET", v60+"/sobjects/Contact/@{bad.id}", "dep", nil),
	}})
	out = compositeResponses(t, r)
	if out[1]["httpStatusCode"] != 201.0 {
		t.Errorf("independent subrequest: %v", out[1])
	}
	if b := out[2]["body"].([]any)[0].(map[string]any); out[2]["httpStatusCode"] != 400.0 || b["errorCode"] != "PROCESSING_HALTED" {
		t.Errorf("dependent subrequest: %v", out[2])
	}
	if n := len(o.srv.Records("Contact")); n != 1 {
		t.Errorf("%d contacts, want 1", n)
	}

	// allOrNone=false: a collection's own allOrNone rolls back only itself
	r = o.do("POST", v60+"/composite", map[string]any{"allOrNone": false, "compositeRequest": []any{
		sub("PATCH", v60+"/sobjects/Contact/"+extField+"/KEEP", "keep", map[string]any{"LastName": "Kept"}),
		sub("PATCH", v60+"/composite/sobjects/Contact/"+extField, "coll",
			collection(true, map[string]any{extField: "G2", "LastName": "Good"}, map[string]any{extField: "B2"})),
	}})
	out = compositeResponses(t, r)
	if out[0]["httpStatusCode"] != 201.0 || out[1]["httpStatusCode"] != 200.0 {
		t.Fatalf("responses %s", r.body)
	}
	names := map[any]bool{}
	for _, c := range o.srv.Records("Contact") {
		names[c["LastName"]] = true
	}
	if !names["Kept"] || names["Good"] {
		t.Errorf("contacts %v: want Kept and not Good", names)
	}
}

func TestCompositeRequestErrors(t *testing.T) {
	o := start(t, sfsim.Config{})
	many := make([]any, 26)
	for i := range many {
		many[i] = sub("GET", v60+"/limits", fmt.Sprint("r", i), nil)
	}
	for name, body := range map[string]any{
		"26 subrequests":   map[string]any{"compositeRequest": many},
		"no referenceId":   map[string]any{"compositeRequest": []any{sub("GET", v60+"/limits", "", nil)}},
		"bad referenceId":  map[string]any{"compositeRequest": []any{sub("GET", v60+"/limits", "a-b", nil)}},
		"duplicate ref":    map[string]any{"compositeRequest": []any{sub("GET", v60+"/limits", "a", nil), sub("GET", v60+"/limits", "a", nil)}},
		"empty":            map[string]any{"compositeRequest": []any{}},
		"not JSON":         "{",
		"nested composite": map[string]any{"compositeRequest": []any{sub("POST", v60+"/composite", "c", map[string]any{})}},
	} {
		t.Run(name, func(t *testing.T) {
			r := o.do("POST", v60+"/composite", body)
			if name == "nested composite" {
				out := compositeResponses(t, r)
				if out[0]["httpStatusCode"] != 400.0 {
					t.Errorf("nested: %v", out[0])
				}
				return
			}
			if r.status != 400 {
				t.Errorf("status %d: %s", r.status, r.body)
			}
			r.list(t)
		})
	}
}
