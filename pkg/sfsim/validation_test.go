package sfsim_test

import (
	"os"
	"path/filepath"
	"slices"
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

const syncField = "Sync_Version__c"

// fieldsOf returns an error's fields, asserting they are an array.
func fieldsOf(t *testing.T, e map[string]any) []string {
	t.Helper()
	raw, ok := e["fields"].([]any)
	if !ok {
		t.Fatalf("error without a fields array: %v", e)
	}
	out := make([]string, len(raw))
	for i, f := range raw {
		out[i] = str(f)
	}
	return out
}

// recordError returns the first error of a failed collections result.
func recordError(t *testing.T, res map[string]any) map[string]any {
	t.Helper()
	recErr(t, res)
	return res["errors"].([]any)[0].(map[string]any)
}

// TestSyncVersionMonotonic: the Sync_Version_Monotonic rule refuses an edit
// that carries an older Sync_Version__c, by upsert and by Id, for every
// user; equal and newer versions, inserts and writes without the field pass.
func TestSyncVersionMonotonic(t *testing.T) {
	o := start(t, sfsim.Config{RestrictedClients: map[string]string{"steward": "s3cret"}})
	steward := o.login("steward", "s3cret")
	const (
		v       = 1732615200123456.0 // updated_at in microseconds
		message = "contactsync: this write carries an older source version (Sync_Version__c) than the contact already has; newer data is kept."
	)
	upsert := func(recs ...map[string]any) []map[string]any {
		t.Helper()
		return o.do("PATCH", collUpsert, collection(false, recs...)).results(t)
	}
	version := func(id string) any {
		t.Helper()
		return o.do("GET", v60+"/sobjects/Contact/"+id+"?fields="+syncField, nil).obj(t)[syncField]
	}

	// Inserts pass whatever the version, by upsert and by create.
	res := upsert(map[string]any{extField: "SV-1", "LastName": "One", syncField: v},
		map[string]any{extField: "SV-2", "LastName": "Two", syncField: 1})
	if res[0]["created"] != true || res[1]["created"] != true {
		t.Fatalf("inserts: %v", res)
	}
	id := str(res[0]["id"])
	if r := o.do("POST", v60+"/sobjects/Contact", map[string]any{"LastName": "Three", syncField: 0}); r.status != 201 {
		t.Errorf("create with version 0: %d %s", r.status, r.body)
	}

	// An older version is refused by collections upsert, per record.
	res = upsert(map[string]any{extField: "SV-1", "LastName": "Stale", syncField: v - 1},
		map[string]any{extField: "SV-2", "LastName": "Two2", syncField: 2})
	e := recordError(t, res[0])
	if e["statusCode"] != "FIELD_CUSTOM_VALIDATION_EXCEPTION" || e["message"] != message || !slices.Equal(fieldsOf(t, e), []string{syncField}) {
		t.Errorf("stale upsert: %v", e)
	}
	if res[1]["success"] != true {
		t.Errorf("the other record failed: %v", res[1])
	}
	// Equal and newer pass.
	for _, ver := range []float64{v, v + 1} {
		if res := upsert(map[string]any{extField: "SV-1", "LastName": "Fresh", syncField: ver}); res[0]["success"] != true {
			t.Errorf("upsert version %v: %v", ver, res[0])
		}
	}
	// A write without the field leaves it unchanged, and passes.
	if res := upsert(map[string]any{extField: "SV-1", "Title": "T"}); res[0]["success"] != true {
		t.Errorf("upsert without a version: %v", res[0])
	}
	if got := version(id); got != v+1 {
		t.Errorf("version %v, want %v", got, v+1)
	}

	// PATCH by Id: older refused (the integration user too: no exemption),
	// equal and newer pass.
	for _, token := range []string{o.token, steward} {
		e := o.doAs(token, "PATCH", v60+"/sobjects/Contact/"+id, map[string]any{syncField: v}).topError(t, 400, "FIELD_CUSTOM_VALIDATION_EXCEPTION")
		if e["message"] != message || !slices.Equal(fieldsOf(t, e), []string{syncField}) {
			t.Errorf("stale PATCH: %v", e)
		}
	}
	for _, ver := range []float64{v + 1, v + 2} {
		if r := o.do("PATCH", v60+"/sobjects/Contact/"+id, map[string]any{syncField: ver}); r.status != 204 {
			t.Errorf("PATCH version %v: %d %s", ver, r.status, r.body)
		}
	}
	// And by the single-record upsert.
	o.do("PATCH", v60+"/sobjects/Contact/"+extField+"/SV-1", map[string]any{syncField: v}).topError(t, 400, "FIELD_CUSTOM_VALIDATION_EXCEPTION")
	if got := version(id); got != v+2 {
		t.Errorf("version %v after refusals, want %v", got, v+2)
	}

	// Numbers compare as numbers: 999 < 1000, though "999" > "1000".
	res = upsert(map[string]any{extField: "SV-N", "LastName": "N", syncField: 1000})
	if res = upsert(map[string]any{extField: "SV-N", syncField: 999}); res[0]["success"] != false {
		t.Errorf("999 after 1000 accepted: %v", res[0])
	}
	if res = upsert(map[string]any{extField: "SV-N", syncField: 10000}); res[0]["success"] != true {
		t.Errorf("10000 after 1000 refused: %v", res[0])
	}
}

// TestSchemaFileValidationRules: rules of an SFSIM_SCHEMA_FILE-style schema
// are compiled and enforced on creates and edits, not on seeds.
func TestSchemaFileValidationRules(t *testing.T) {
	const schema = `
objects:
  - name: Contact
    fields:
      - {name: LastName, type: string, required: true}
      - {name: Phone, type: phone}
      - {name: Title, type: string}
      - {name: Score__c, type: double}
validation_rules:
  - name: VP_Needs_Phone
    object: Contact
    formula: 'AND(ISBLANK(Phone), BEGINS(Title, "VP"))'
    error_display_field: phone
    message: A VP needs a phone number.
  - name: No_Test_Titles
    object: contact
    formula: |
      /* the emulator's one user */
      contains(title, "Test") && $User.Username = "contactsync@sfsim.invalid"
    message: No test titles.
  - name: Score_Up_Only
    object: Contact
    formula: Score__c < PRIORVALUE(Score__c) && NOT($Permission.Score_Admin)
    message: Scores only go up.
`
	path := filepath.Join(t.TempDir(), "schema.yaml")
	if err := os.WriteFile(path, []byte(schema), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := sfsim.LoadSchema(path)
	if err != nil {
		t.Fatal(err)
	}
	o := start(t, sfsim.Config{Schema: s, RestrictedClients: map[string]string{"steward": "s3cret"}})
	steward := o.login("steward", "s3cret")
	const contacts = v60 + "/sobjects/Contact"

	e := o.do("POST", contacts, map[string]any{"LastName": "V", "Title": "VP Sales"}).topError(t, 400, "FIELD_CUSTOM_VALIDATION_EXCEPTION")
	if e["message"] != "A VP needs a phone number." || !slices.Equal(fieldsOf(t, e), []string{"Phone"}) {
		t.Errorf("VP without phone: %v", e)
	}
	r := o.do("POST", contacts, map[string]any{"LastName": "V", "Title": "VP Sales", "Phone": "555"})
	if r.status != 201 {
		t.Fatalf("VP with phone: %d %s", r.status, r.body)
	}
	id := str(r.obj(t)["id"])
	if r := o.do("POST", contacts, map[string]any{"LastName": "D", "Title": "Director"}); r.status != 201 {
		t.Errorf("director without phone: %d %s", r.status, r.body)
	}
	// An edit that makes the rule true is refused too.
	o.do("PATCH", contacts+"/"+id, map[string]any{"Phone": nil}).topError(t, 400, "FIELD_CUSTOM_VALIDATION_EXCEPTION")

	// No display field: fields is [].
	e = o.do("POST", contacts, map[string]any{"LastName": "X", "Title": "Test lead"}).topError(t, 400, "FIELD_CUSTOM_VALIDATION_EXCEPTION")
	if e["message"] != "No test titles." || len(fieldsOf(t, e)) != 0 {
		t.Errorf("test title: %v", e)
	}

	// $Permission: the integration user holds every custom permission the
	// schema names; a restricted client holds none.
	if r := o.do("PATCH", contacts+"/"+id, map[string]any{"Score__c": 5}); r.status != 204 {
		t.Fatalf("score: %d %s", r.status, r.body)
	}
	if r := o.do("PATCH", contacts+"/"+id, map[string]any{"Score__c": 4}); r.status != 204 {
		t.Errorf("integration lowers the score: %d %s", r.status, r.body)
	}
	o.doAs(steward, "PATCH", contacts+"/"+id, map[string]any{"Score__c": 3}).topError(t, 400, "FIELD_CUSTOM_VALIDATION_EXCEPTION")

	// Seeds are not validated.
	if _, err := o.srv.Insert("Contact", map[string]any{"LastName": "Seed", "Title": "VP Seeds"}); err != nil {
		t.Errorf("seed: %v", err)
	}
}
