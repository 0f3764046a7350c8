package sfsim_test

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

var idRE = regexp.MustCompile(`^[0-9A-Za-z]{18}$`)

// checkID asserts an 18-char Id with the key prefix and a correct
// case-safe suffix, computed here independently of the emulator.
func checkID(t testing.TB, id, prefix string) {
	t.Helper()
	if !idRE.MatchString(id) || !strings.HasPrefix(id, prefix) {
		t.Fatalf("Id %q: want 18 alphanumerics starting %s", id, prefix)
	}
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	for chunk := range 3 {
		bits := 0
		for i := range 5 {
			if c := id[chunk*5+i]; c >= 'A' && c <= 'Z' {
				bits |= 1 << i
			}
		}
		if id[15+chunk] != chars[bits] {
			t.Fatalf("Id %q: suffix char %d is %c, want %c", id, chunk, id[15+chunk], chars[bits])
		}
	}
}

func TestTo18(t *testing.T) {
	// a recorded Id (reference §2.3)
	if got := sfsim.To18("0038M0000016Wv8"); got != "0038M0000016Wv8QAE" {
		t.Errorf("To18 = %s", got)
	}
	if got := sfsim.To18("0038m0000016wv8qae"); got != "0038M0000016Wv8QAE" {
		t.Errorf("To18 of a lower-cased 18-char Id = %s", got)
	}
	for _, bad := range []string{"", "003", "0038M0000016Wv8Q", "0038M0000016Wv8!AE", "0038M0000016Wv899"} {
		if got := sfsim.To18(bad); got != "" {
			t.Errorf("To18(%q) = %q, want \"\"", bad, got)
		}
	}
}

func upsertPath(v, value string) string {
	return "/services/data/" + v + "/sobjects/Contact/" + extField + "/" + url.PathEscape(value)
}

// TestUpsertMatrix is reference §1.2 / §11.2-4: one row per case.
func TestUpsertMatrix(t *testing.T) {
	o := start(t, sfsim.Config{})
	for i := range 2 {
		if _, err := o.srv.Insert("Contact", map[string]any{"LastName": fmt.Sprint("Twin", i), extField: "TWIN"}); err != nil {
			t.Fatal(err)
		}
	}
	body := map[string]any{"LastName": "Doe"}
	var id string
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		check  func(t *testing.T, r reply)
	}{
		{"create v60", "PATCH", upsertPath("v60.0", "A-1"), body, 201, func(t *testing.T, r reply) {
			m := r.obj(t)
			id = str(m["id"])
			checkID(t, id, "003")
			if m["success"] != true || m["created"] != true || len(m["errors"].([]any)) != 0 {
				t.Errorf("body %s", r.body)
			}
		}},
		{"update v60 is 200 created:false", "PATCH", upsertPath("v60.0", "A-1"), map[string]any{"LastName": "Doe2"}, 200, func(t *testing.T, r reply) {
			m := r.obj(t)
			if m["id"] != id || m["created"] != false || m["success"] != true {
				t.Errorf("body %s", r.body)
			}
		}},
		{"update matches case-insensitively", "PATCH", upsertPath("v60.0", "a-1"), map[string]any{"Title": "CI"}, 200, func(t *testing.T, r reply) {
			if r.obj(t)["id"] != id {
				t.Errorf("matched another record: %s", r.body)
			}
		}},
		{"update v46 is 200", "PATCH", upsertPath("v46.0", "A-1"), body, 200, nil},
		{"update v45 is 204 empty", "PATCH", upsertPath("v45.0", "A-1"), body, 204, func(t *testing.T, r reply) {
			if len(r.body) != 0 {
				t.Errorf("body %q", r.body)
			}
		}},
		{"create v45 has no created", "PATCH", upsertPath("v45.0", "A-45"), body, 201, func(t *testing.T, r reply) {
			if _, ok := r.obj(t)["created"]; ok {
				t.Errorf("created present on v45: %s", r.body)
			}
		}},
		{"several matches is 300 with URLs", "PATCH", upsertPath("v60.0", "TWIN"), body, 300, func(t *testing.T, r reply) {
			l := r.list(t)
			if len(l) != 2 {
				t.Fatalf("body %s", r.body)
			}
			for _, u := range l {
				s := str(u)
				if !strings.HasPrefix(s, "/services/data/v60.0/sobjects/Contact/") {
					t.Errorf("match %q", s)
				}
				checkID(t, s[strings.LastIndexByte(s, '/')+1:], "003")
			}
		}},
		{"unknown field is 404", "PATCH", "/services/data/v60.0/sobjects/Contact/Nope__c/X", body, 404, nil},
		{"not an external ID is 404", "PATCH", "/services/data/v60.0/sobjects/Contact/LastName/X", body, 404, nil},
		{"unknown object is 404", "PATCH", "/services/data/v60.0/sobjects/Bogus__c/" + extField + "/X", body, 404, nil},
		{"unencoded slash is 404", "PATCH", "/services/data/v60.0/sobjects/Contact/" + extField + "/a/b", body, 404, nil},
		{"encoded slash is 404", "PATCH", "/services/data/v60.0/sobjects/Contact/" + extField + "/a%2Fb", body, 404, nil},
		{"Id in body is 400", "PATCH", upsertPath("v60.0", "A-2"), map[string]any{"LastName": "X", "Id": "003000000000001AAA"}, 400, nil},
		{"validation error is 400", "PATCH", upsertPath("v60.0", "A-3"), map[string]any{"FirstName": "NoLast"}, 400, func(t *testing.T, r reply) {
			e := r.topError(t, 400, "REQUIRED_FIELD_MISSING")
			if e["message"] != "Required fields are missing: [LastName]" {
				t.Errorf("message %v", e["message"])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := o.do(tt.method, tt.path, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status == 404 {
				r.topError(t, 404, "NOT_FOUND")
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
	for _, rec := range o.srv.Records("Contact") {
		if rec["LastName"] == "Doe" && rec[extField] == "TWIN" {
			t.Error("the 300 case wrote a record")
		}
	}
}

func TestSObjectRows(t *testing.T) {
	o := start(t, sfsim.Config{})
	r := o.do("POST", v60+"/sobjects/Contact", map[string]any{"LastName": "Row", "FirstName": "Ann", "Email": "Ann@Example.COM"})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	m := r.obj(t)
	id := str(m["id"])
	checkID(t, id, "003")
	if m["success"] != true || len(m["errors"].([]any)) != 0 {
		t.Errorf("create body %s", r.body)
	}
	if _, ok := m["created"]; ok {
		t.Error("plain create carries created")
	}

	r = o.do("GET", v60+"/sobjects/Contact/"+id, nil)
	rec := r.obj(t)
	attrs := rec["attributes"].(map[string]any)
	if r.status != 200 || attrs["type"] != "Contact" || attrs["url"] != v60+"/sobjects/Contact/"+id {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	if rec["Email"] != "ann@example.com" || rec["Name"] != "Ann Row" || rec["Phone"] != nil {
		t.Errorf("get: %s", r.body)
	}
	if _, ok := rec["Phone"]; !ok {
		t.Error("null field omitted")
	}
	for _, f := range []string{"CreatedDate", "LastModifiedDate", "SystemModstamp"} {
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$`).MatchString(str(rec[f])) {
			t.Errorf("%s = %v, want Salesforce datetime", f, rec[f])
		}
	}

	r = o.do("GET", v60+"/sobjects/Contact/"+id+"?fields=LastName,email", nil)
	if rec := r.obj(t); len(rec) != 3 || rec["LastName"] != "Row" || rec["Email"] != "ann@example.com" {
		t.Errorf("?fields: %s", r.body)
	}
	o.do("GET", v60+"/sobjects/Contact/"+id+"?fields=Nope", nil).topError(t, 400, "INVALID_FIELD")

	// update by Id: 204, empty; lower-case 18-char Id still resolves
	r = o.do("PATCH", v60+"/sobjects/Contact/"+strings.ToLower(id), map[string]any{"Title": "Boss"})
	if r.status != 204 || len(r.body) != 0 {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	if rec := o.do("GET", v60+"/sobjects/Contact/"+id[:15], nil).obj(t); rec["Title"] != "Boss" || rec["Id"] != id {
		t.Errorf("after update: %v", rec)
	}
	o.do("PATCH", v60+"/sobjects/Contact/003000000000001AAA", map[string]any{"Title": "x"}).topError(t, 404, "NOT_FOUND")
	o.do("PUT", v60+"/sobjects/Contact/"+id, map[string]any{}).topError(t, 405, "METHOD_NOT_ALLOWED")

	if r := o.do("DELETE", v60+"/sobjects/Contact/"+id, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	o.do("GET", v60+"/sobjects/Contact/"+id, nil).topError(t, 404, "ENTITY_IS_DELETED")
	o.do("GET", v60+"/sobjects/Contact/not-an-id", nil).topError(t, 404, "NOT_FOUND")
	if n := len(o.srv.Records("Contact")); n != 0 {
		t.Errorf("%d records after delete", n)
	}

	// POST /sobjects/Contact/Id is a plain create (v37+)
	if r := o.do("POST", v60+"/sobjects/Contact/Id", map[string]any{"LastName": "ViaId"}); r.status != 201 {
		t.Errorf("POST …/Id: %d %s", r.status, r.body)
	}
	// custom objects get an a0X prefix
	r = o.do("POST", v60+"/sobjects/Contact_Sync_Exception__c", map[string]any{"Exception_Key__c": "k1"})
	if r.status != 201 {
		t.Fatalf("custom create: %d %s", r.status, r.body)
	}
	checkID(t, str(r.obj(t)["id"]), "a0")
	if rec := o.srv.Records("Contact_Sync_Exception__c")[0]; rec["Status__c"] != "New" {
		t.Errorf("picklist default: %v", rec["Status__c"])
	}
}

func TestDescribe(t *testing.T) {
	o := start(t, sfsim.Config{})
	r := o.do("GET", v60+"/sobjects/Contact/describe", nil)
	m := r.obj(t)
	if r.status != 200 || m["name"] != "Contact" || m["keyPrefix"] != "003" {
		t.Fatalf("describe: %d", r.status)
	}
	fields := map[string]map[string]any{}
	for _, f := range m["fields"].([]any) {
		fm := f.(map[string]any)
		for _, k := range []string{"name", "type", "length", "externalId", "unique", "caseSensitive", "nillable", "updateable", "createable", "idLookup"} {
			if _, ok := fm[k]; !ok {
				t.Fatalf("field %v lacks %s", fm["name"], k)
			}
		}
		fields[str(fm["name"])] = fm
	}
	want := map[string]map[string]any{
		"LastName":          {"type": "string", "length": 80.0, "nillable": false},
		"FirstName":         {"type": "string", "length": 40.0, "nillable": true},
		"Email":             {"type": "email", "length": 80.0, "idLookup": true},
		"Title":             {"length": 128.0},
		"MailingPostalCode": {"length": 20.0},
		"Description":       {"type": "textarea", "length": 32000.0},
		extField:            {"externalId": true, "unique": true, "caseSensitive": false, "idLookup": true, "length": 80.0},
		"Id":                {"type": "id", "updateable": false, "createable": false},
		"CreatedDate":       {"type": "datetime", "updateable": false},
		"SystemModstamp":    {"type": "datetime"},
	}
	for name, props := range want {
		f := fields[name]
		if f == nil {
			t.Errorf("no field %s", name)
			continue
		}
		for k, v := range props {
			if f[k] != v {
				t.Errorf("%s.%s = %v, want %v", name, k, f[k], v)
			}
		}
	}
	r = o.do("GET", v60+"/sobjects/Contact_Sync_Exception__c/describe", nil)
	if r.status != 200 {
		t.Fatal(r.status)
	}
	o.do("GET", v60+"/sobjects/Nope__c/describe", nil).topError(t, 404, "NOT_FOUND")
	r = o.do("GET", v60+"/sobjects", nil)
	var names []string
	for _, x := range r.obj(t)["sobjects"].([]any) {
		so := x.(map[string]any)
		names = append(names, fmt.Sprintf("%s:%v", so["name"], so["createable"]))
	}
	// The schema's objects, then the read-only system objects (org.go).
	if want := "Contact:true Contact_Sync_Exception__c:true Organization:false User:false Profile:false"; r.status != 200 || strings.Join(names, " ") != want {
		t.Errorf("describe global: %d %v, want %s", r.status, names, want)
	}
}
