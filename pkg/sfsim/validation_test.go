package sfsim_test

import (
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

// TestFieldValidation is reference §5 / §9 / §11.12: status, code, message
// and fields of each single-record error.
func TestFieldValidation(t *testing.T) {
	o := start(t, sfsim.Config{})
	tests := []struct {
		name   string
		body   any
		code   string
		msg    string // exact, or prefix when ending in "…"
		fields []string
	}{
		{"required", map[string]any{"FirstName": "X"}, "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", []string{"LastName"}},
		{"required null", map[string]any{"LastName": nil}, "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", []string{"LastName"}},
		{"first name too long", map[string]any{"LastName": "X", "FirstName": strings.Repeat("f", 41)},
			"STRING_TOO_LONG", "First Name: data value too large: " + strings.Repeat("f", 41) + " (max length=40)", []string{"FirstName"}},
		{"last name too long", map[string]any{"LastName": strings.Repeat("l", 81)}, "STRING_TOO_LONG", "Last Name: data value too large: …", []string{"LastName"}},
		{"title too long", map[string]any{"LastName": "X", "Title": strings.Repeat("t", 129)}, "STRING_TOO_LONG", "…(max length=128)", []string{"Title"}},
		{"postal code too long", map[string]any{"LastName": "X", "MailingPostalCode": strings.Repeat("9", 21)}, "STRING_TOO_LONG", "…(max length=20)", []string{"MailingPostalCode"}},
		{"email too long", map[string]any{"LastName": "X", "Email": strings.Repeat("e", 70) + "@example.com"}, "STRING_TOO_LONG", "…(max length=80)", []string{"Email"}},
		{"invalid email", map[string]any{"LastName": "X", "Email": "not an email"}, "INVALID_EMAIL_ADDRESS", "Email: invalid email address: not an email", []string{"Email"}},
		{"email starting with a dot", map[string]any{"LastName": "X", "Email": ".a@test.jp"}, "INVALID_EMAIL_ADDRESS", "…", []string{"Email"}},
		{"unknown field", map[string]any{"LastName": "X", "Bogus__c": 1}, "INVALID_FIELD", "No such column 'Bogus__c' on sobject of type Contact", nil},
		{"read-only field", map[string]any{"LastName": "X", "CreatedDate": "2020-01-01T00:00:00.000+0000"}, "INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: CreatedDate…", []string{"CreatedDate"}},
		{"computed Name", map[string]any{"LastName": "X", "Name": "Y"}, "INVALID_FIELD_FOR_INSERT_UPDATE", "…", []string{"Name"}},
		{"not JSON", "{\"LastName\": x}", "JSON_PARSER_ERROR", "Unexpected character ('x' (code 120))…", nil},
		{"empty body", "", "JSON_PARSER_ERROR", "The HTTP entity body is required, but this request has no entity body.", nil},
		{"array body", "[1]", "JSON_PARSER_ERROR", "Cannot deserialize instance of…", nil},
		{"object for a string", map[string]any{"LastName": map[string]any{"a": 1}}, "JSON_PARSER_ERROR", "Cannot deserialize instance of string from START_OBJECT…", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := o.do("POST", v60+"/sobjects/Contact", tt.body)
			e := r.topError(t, 400, tt.code)
			msg := str(e["message"])
			switch {
			case strings.HasPrefix(tt.msg, "…"):
				if !strings.HasSuffix(msg, strings.TrimPrefix(tt.msg, "…")) {
					t.Errorf("message %q, want suffix %q", msg, tt.msg)
				}
			case strings.HasSuffix(tt.msg, "…"):
				if !strings.HasPrefix(msg, strings.TrimSuffix(tt.msg, "…")) {
					t.Errorf("message %q, want prefix %q", msg, tt.msg)
				}
			case msg != tt.msg:
				t.Errorf("message %q, want %q", msg, tt.msg)
			}
			if tt.fields != nil {
				f, _ := e["fields"].([]any)
				if len(f) != len(tt.fields) || f[0] != tt.fields[0] {
					t.Errorf("fields %v, want %v", e["fields"], tt.fields)
				}
			}
		})
	}
	if n := len(o.srv.Records("Contact")); n != 0 {
		t.Errorf("%d records written by refused requests", n)
	}
}

func TestEmailStoredLowerCaseAndPermissive(t *testing.T) {
	o := start(t, sfsim.Config{DuplicateAction: sfsim.ActionOff})
	for _, email := range []string{"Jane.DOE@Example.com", "o'neil+x@example.co.uk", "a..a@test.jp", "a..@test.jp", "用户@例子.广告"} {
		r := o.do("POST", v60+"/sobjects/Contact", map[string]any{"LastName": "E", "Email": email})
		if r.status != 201 {
			t.Errorf("%s refused: %s", email, r.body)
			continue
		}
		rec := o.do("GET", v60+"/sobjects/Contact/"+str(r.obj(t)["id"])+"?fields=Email", nil).obj(t)
		if rec["Email"] != strings.ToLower(email) {
			t.Errorf("stored %v, want %s", rec["Email"], strings.ToLower(email))
		}
	}
}

func TestUniqueAndExternalIDs(t *testing.T) {
	o := start(t, sfsim.Config{})
	r := o.do("POST", v60+"/sobjects/Contact", map[string]any{"LastName": "A", extField: "Key-1"})
	if r.status != 201 {
		t.Fatal(r.status)
	}
	id := str(r.obj(t)["id"])
	// the external ID is unique and case-insensitive
	for _, v := range []string{"Key-1", "KEY-1"} {
		e := o.do("POST", v60+"/sobjects/Contact", map[string]any{"LastName": "B", extField: v}).topError(t, 400, "DUPLICATE_VALUE")
		want := "duplicate value found: " + extField + " duplicates value on record with id: " + id[:15]
		if e["message"] != want {
			t.Errorf("message %q, want %q", e["message"], want)
		}
	}
	// an update to the same value of its own record is fine
	if r := o.do("PATCH", v60+"/sobjects/Contact/"+id, map[string]any{extField: "Key-1", "LastName": "A2"}); r.status != 204 {
		t.Errorf("self update: %d %s", r.status, r.body)
	}
	// restricted picklist
	o.do("POST", v60+"/sobjects/Contact_Sync_Exception__c", map[string]any{"Exception_Key__c": "k", "Status__c": "Open"}).
		topError(t, 400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
	// a malformed reference
	o.do("POST", v60+"/sobjects/Contact_Sync_Exception__c", map[string]any{"Exception_Key__c": "k", "Existing_Contact__c": "xyz"}).
		topError(t, 400, "MALFORMED_ID")
	// typed fields
	r = o.do("POST", v60+"/sobjects/Contact_Sync_Exception__c", map[string]any{"Exception_Key__c": "k2",
		"Source_Version__c": 1732615200123456, "Last_Seen__c": "2026-11-26T10:00:00Z", "Existing_Contact__c": id[:15]})
	if r.status != 201 {
		t.Fatalf("typed create: %s", r.body)
	}
	rec := o.do("GET", v60+"/sobjects/Contact_Sync_Exception__c/"+str(r.obj(t)["id"]), nil).obj(t)
	if rec["Source_Version__c"] != 1732615200123456.0 || rec["Last_Seen__c"] != "2026-11-26T10:00:00.000+0000" || rec["Existing_Contact__c"] != id {
		t.Errorf("typed fields: %v %v %v", rec["Source_Version__c"], rec["Last_Seen__c"], rec["Existing_Contact__c"])
	}
	o.do("POST", v60+"/sobjects/Contact_Sync_Exception__c", map[string]any{"Exception_Key__c": "k3", "Last_Seen__c": "yesterday"}).
		topError(t, 400, "JSON_PARSER_ERROR")
}

// TestImmutableExternalID: the validation rule refuses changing a set
// external ID, except for the integration user (custom permission).
func TestImmutableExternalID(t *testing.T) {
	o := start(t, sfsim.Config{RestrictedClients: map[string]string{"steward": "s3cret"}})
	steward := o.login("steward", "s3cret")
	r := o.do("POST", v60+"/sobjects/Contact", map[string]any{"LastName": "I", extField: "OLD"})
	id := str(r.obj(t)["id"])
	blank := str(o.do("POST", v60+"/sobjects/Contact", map[string]any{"LastName": "Blank"}).obj(t)["id"])

	e := o.doAs(steward, "PATCH", v60+"/sobjects/Contact/"+id, map[string]any{extField: "NEW"}).topError(t, 400, "FIELD_CUSTOM_VALIDATION_EXCEPTION")
	if f := e["fields"].([]any); len(f) != 1 || f[0] != extField || !strings.Contains(str(e["message"]), "cannot be changed") {
		t.Errorf("error %v", e)
	}
	// setting a blank one is allowed for anyone; other fields too
	if r := o.doAs(steward, "PATCH", v60+"/sobjects/Contact/"+blank, map[string]any{extField: "SET"}); r.status != 204 {
		t.Errorf("set blank: %d %s", r.status, r.body)
	}
	if r := o.doAs(steward, "PATCH", v60+"/sobjects/Contact/"+id, map[string]any{"Title": "T"}); r.status != 204 {
		t.Errorf("other field: %d %s", r.status, r.body)
	}
	// the integration user re-keys
	if r := o.do("PATCH", v60+"/sobjects/Contact/"+id, map[string]any{extField: "NEW"}); r.status != 204 {
		t.Errorf("integration re-key: %d %s", r.status, r.body)
	}
}
