package sfsim_test

import (
	"testing"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

const dupHeader = "Sforce-Duplicate-Rule-Header"

// TestDuplicateRule is reference §2 / §11.7, action by action.
func TestDuplicateRule(t *testing.T) {
	tests := []struct {
		name      string
		action    string
		key       string
		header    string
		wantSaved bool
		allowSave bool // duplicateResult.allowSave when refused
	}{
		{"allow-alert refuses without header", "", "duplicateResut", "", false, true},
		{"allow-alert saves with allowSave", "allow-alert", "duplicateResut", "allowSave=true; includeRecordDetails=false; runAsCurrentUser=false", true, false},
		{"allow-alert with details", "", "duplicateResult", "allowSave=false; includeRecordDetails=true", false, true},
		{"block refuses", "block", "duplicateResut", "", false, false},
		{"block is not overridden by allowSave", "block", "duplicateResut", "allowSave=true", false, false},
		{"off saves", "off", "duplicateResut", "", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := sfsim.Config{DuplicateAction: tt.action}
			if tt.key == "duplicateResult" {
				cfg.DuplicateResultKey = tt.key
			}
			o := start(t, cfg)
			first := str(o.do("PATCH", upsertPath("v60.0", "A"), map[string]any{"LastName": "Doe", "FirstName": "Jane", "Email": "jane@example.com"}).obj(t)["id"])
			r := o.do("PATCH", upsertPath("v60.0", "B"), map[string]any{"LastName": "Roe", "Email": "JANE@example.com"}, dupHeader, tt.header)
			if tt.wantSaved {
				if r.status != 201 {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				return
			}
			e := r.topError(t, 400, "DUPLICATES_DETECTED")
			if e["message"] != "Use one of these records?" {
				t.Errorf("message %v", e["message"])
			}
			other := "duplicateResult"
			if tt.key == "duplicateResult" {
				other = "duplicateResut"
			}
			if _, ok := e[other]; ok {
				t.Errorf("both keys present")
			}
			dr, ok := e[tt.key].(map[string]any)
			if !ok {
				t.Fatalf("no %s in %s", tt.key, r.body)
			}
			if dr["allowSave"] != tt.allowSave || dr["duplicateRule"] != "Contact_Email_Duplicate" || dr["duplicateRuleEntityType"] != "Contact" {
				t.Errorf("duplicate result %v", dr)
			}
			mr := dr["matchResults"].([]any)[0].(map[string]any)
			recs := mr["matchRecords"].([]any)
			if mr["entityType"] != "Contact" || mr["size"] != 1.0 || len(recs) != 1 {
				t.Fatalf("match result %v", mr)
			}
			m := recs[0].(map[string]any)
			rec := m["record"].(map[string]any)
			if m["matchConfidence"] != 100.0 || rec["Id"] != first || rec["attributes"].(map[string]any)["type"] != "Contact" {
				t.Errorf("match record %v", m)
			}
			_, hasEmail := rec["Email"]
			if details := tt.header == "allowSave=false; includeRecordDetails=true"; hasEmail != details {
				t.Errorf("record fields present = %v, want %v: %v", hasEmail, details, rec)
			}
			if n := len(o.srv.Records("Contact")); n != 1 {
				t.Errorf("%d contacts", n)
			}
		})
	}
}

func TestDuplicateRuleCollectionsForm(t *testing.T) {
	o := start(t, sfsim.Config{})
	if _, err := o.srv.Insert("Contact", map[string]any{"LastName": "Old", "Email": "dup@example.com"}); err != nil {
		t.Fatal(err)
	}
	r := o.do("PATCH", collUpsert, collection(false,
		map[string]any{extField: "X1", "LastName": "New", "Email": "Dup@Example.com"},
		map[string]any{extField: "X2", "LastName": "Fine", "Email": "fine@example.com"},
		map[string]any{extField: "X3", "LastName": "Fine", "Email": "fine@example.com"}, // matches X2, saved just before
	))
	res := r.results(t)
	code, msg := recErr(t, res[0])
	if code != "DUPLICATES_DETECTED" || msg != "Use one of these records?" {
		t.Errorf("record 1: %s %s", code, msg)
	}
	e := res[0]["errors"].([]any)[0].(map[string]any)
	if len(e) != 3 {
		t.Errorf("per-record error has extra keys: %v", e)
	}
	if res[1]["success"] != true {
		t.Errorf("record 2: %v", res[1])
	}
	if code, _ := recErr(t, res[2]); code != "DUPLICATES_DETECTED" {
		t.Errorf("record 3: %s", code)
	}
	// allowSave on the collection saves them
	r = o.do("PATCH", collUpsert, collection(false, map[string]any{extField: "X1", "LastName": "New", "Email": "dup@example.com"}), dupHeader, "allowSave=true")
	if res := r.results(t); res[0]["success"] != true || res[0]["created"] != true {
		t.Errorf("with allowSave: %s", r.body)
	}
}

// TestDuplicateRuleOnEdit: the rule fires on an edit that changes Email to
// another contact's, except for the integration user's edits by Id.
func TestDuplicateRuleOnEdit(t *testing.T) {
	for _, action := range []string{"allow-alert", "block"} {
		t.Run(action, func(t *testing.T) {
			o := start(t, sfsim.Config{DuplicateAction: action, RestrictedClients: map[string]string{"steward": "pw"}})
			steward := o.login("steward", "pw")
			if _, err := o.srv.Insert("Contact", map[string]any{"LastName": "Taken", "Email": "taken@example.com", extField: "T"}); err != nil {
				t.Fatal(err)
			}
			id, err := o.srv.Insert("Contact", map[string]any{"LastName": "Mine", "Email": "mine@example.com", extField: "M"})
			if err != nil {
				t.Fatal(err)
			}
			change := map[string]any{"Email": "taken@example.com"}
			// a non-integration user's edit by Id is refused
			o.doAs(steward, "PATCH", v60+"/sobjects/Contact/"+id, change).topError(t, 400, "DUPLICATES_DETECTED")
			// an upsert by external ID is an edit the rule checks, for anyone
			o.do("PATCH", upsertPath("v60.0", "M"), change).topError(t, 400, "DUPLICATES_DETECTED")
			// edits that keep the email are not checked
			if r := o.doAs(steward, "PATCH", v60+"/sobjects/Contact/"+id, map[string]any{"Title": "x"}); r.status != 204 {
				t.Errorf("unrelated edit: %d %s", r.status, r.body)
			}
			// the integration user's edit by Id (adopt / re-key) is exempt
			if r := o.do("PATCH", v60+"/sobjects/Contact/"+id, change); r.status != 204 {
				t.Fatalf("integration edit by Id: %d %s", r.status, r.body)
			}
			r := o.do("PATCH", v60+"/composite/sobjects", map[string]any{"records": []any{
				map[string]any{"attributes": map[string]any{"type": "Contact"}, "id": id, "Email": "taken@example.com", "Title": "again"}}})
			if res := r.results(t); res[0]["success"] != true {
				t.Errorf("integration collections update by Id: %s", r.body)
			}
		})
	}
}
