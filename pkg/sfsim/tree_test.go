package sfsim_test

import (
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

func treeRec(ref string, fields map[string]any) map[string]any {
	r := map[string]any{"attributes": map[string]any{"type": "Contact", "referenceId": ref}}
	for k, v := range fields {
		r[k] = v
	}
	return r
}

// TestTree is POST /composite/tree/{type} (sf data import tree).
func TestTree(t *testing.T) {
	o := start(t, sfsim.Config{})
	r := o.do("POST", v60+"/composite/tree/Contact", map[string]any{"records": []any{
		treeRec("c1", map[string]any{"LastName": "T1", extField: "T-1"}),
		treeRec("c2", map[string]any{"LastName": "T2", extField: "T-2", "Email": "t2@example.com"}),
	}})
	m := r.obj(t)
	if r.status != 201 || m["hasErrors"] != false {
		t.Fatalf("%d %s", r.status, r.body)
	}
	res := m["results"].([]any)
	recs := o.srv.Records("Contact")
	if len(res) != 2 || len(recs) != 2 {
		t.Fatalf("results %v, stored %d", res, len(recs))
	}
	for i, x := range res {
		e := x.(map[string]any)
		if e["referenceId"] != []string{"c1", "c2"}[i] || e["id"] != recs[i]["Id"] {
			t.Errorf("result %d: %v, stored %v", i, e, recs[i]["Id"])
		}
	}

	// One bad record: nothing stored, the failure named by its referenceId.
	r = o.do("POST", v60+"/composite/tree/Contact", map[string]any{"records": []any{
		treeRec("ok", map[string]any{"LastName": "T3", extField: "T-3"}),
		treeRec("bad", map[string]any{"LastName": "T4", "Email": "not-an-email"}),
		treeRec("dup", map[string]any{"LastName": "T5", extField: "t-1"}),
	}})
	m = r.obj(t)
	if r.status != 400 || m["hasErrors"] != true {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var failed []string
	for _, x := range m["results"].([]any) {
		e := x.(map[string]any)
		errs := e["errors"].([]any)
		failed = append(failed, str(e["referenceId"])+":"+str(errs[0].(map[string]any)["statusCode"]))
	}
	if strings.Join(failed, " ") != "bad:INVALID_EMAIL_ADDRESS dup:DUPLICATE_VALUE" {
		t.Errorf("failures %v", failed)
	}
	if n := len(o.srv.Records("Contact")); n != 2 {
		t.Errorf("%d contacts after a refused tree, want 2", n)
	}

	for _, tc := range []struct {
		path string
		body any
		code string
	}{
		{"/composite/tree/Contact", map[string]any{"records": []any{}}, "INVALID_INPUT"},
		{"/composite/tree/Contact", map[string]any{"records": []any{map[string]any{"LastName": "x"}}}, "INVALID_INPUT"},
		{"/composite/tree/Contact", map[string]any{"records": []any{treeRec("a", nil), treeRec("A", nil)}}, "INVALID_INPUT"},
		{"/composite/tree/Contact", map[string]any{"records": []any{map[string]any{"attributes": map[string]any{"type": "Contact_Sync_Exception__c", "referenceId": "a"}}}}, "INVALID_INPUT"},
		{"/composite/tree/Nope__c", map[string]any{"records": []any{treeRec("a", nil)}}, "INVALID_TYPE"},
		{"/composite/tree/Contact", `{"records":[`, "JSON_PARSER_ERROR"},
	} {
		o.do("POST", v60+tc.path, tc.body).topError(t, 400, tc.code)
	}
	many := make([]any, 201)
	for i := range many {
		many[i] = treeRec("r"+strings.Repeat("x", i%3)+string(rune('a'+i%26))+strings.Repeat("1", i/26), map[string]any{"LastName": "M"})
	}
	o.do("POST", v60+"/composite/tree/Contact", map[string]any{"records": many}).topError(t, 400, "LIMIT_EXCEEDED")
	if r := o.do("GET", v60+"/composite/tree/Contact", nil); r.status != 405 {
		t.Errorf("GET tree: %d", r.status)
	}
}
