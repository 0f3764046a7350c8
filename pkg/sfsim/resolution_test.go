package sfsim_test

import (
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

// TestStewardFieldsArePicklistEnforced: the steward's decision fields of the
// shipped metadata (Resolution__c, the Applied / Apply_Failed statuses) are
// in the default schema, and a value outside a restricted picklist is
// refused as Salesforce does (INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST naming
// the field), on create and on update.
func TestStewardFieldsArePicklistEnforced(t *testing.T) {
	o := start(t, sfsim.Config{})
	const obj = v60 + "/sobjects/Contact_Sync_Exception__c"
	r := o.do("POST", obj, map[string]any{"Exception_Key__c": "k1", "Status__c": "Resolved", "Resolution__c": "Keep_Both"})
	if r.status != 201 {
		t.Fatalf("create with Resolution__c Keep_Both: %d %s", r.status, r.body)
	}
	id := str(r.obj(t)["id"])
	for _, status := range []string{"Applied", "Apply_Failed"} {
		if r := o.do("PATCH", obj+"/"+id, map[string]any{"Status__c": status, "Apply_Error__c": "reason",
			"Applied_At__c": "2026-12-02T08:00:00.000Z"}); r.status != 204 {
			t.Errorf("Status__c %s: %d %s", status, r.status, r.body)
		}
	}
	bad := []map[string]any{
		{"Resolution__c": "Merge"},
		{"Resolution__c": "keep both"},
		{"Status__c": "Done"},
	}
	for _, body := range bad {
		e := o.do("PATCH", obj+"/"+id, body).topError(t, 400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
		var field, value string
		for k, v := range body {
			field, value = k, v.(string)
		}
		if msg := str(e["message"]); !strings.Contains(msg, "bad value for restricted picklist field") || !strings.Contains(msg, value) {
			t.Errorf("%v: message %q", body, msg)
		}
		if f, _ := e["fields"].([]any); len(f) != 1 || f[0] != field {
			t.Errorf("%v: fields %v, want [%s]", body, e["fields"], field)
		}
	}
	e := o.do("POST", obj, map[string]any{"Exception_Key__c": "k2", "Resolution__c": "Discard"}).
		topError(t, 400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
	if f, _ := e["fields"].([]any); len(f) != 1 || f[0] != "Resolution__c" {
		t.Errorf("create: fields %v", e["fields"])
	}
}
