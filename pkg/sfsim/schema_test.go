package sfsim_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

const invoiceYAML = `
objects:
  - name: Invoice__c
    fields:
      - {name: Number__c, type: string, length: 10, external_id: true, case_sensitive: true}
      - {name: Amount__c, type: currency, required: true}
      - {name: Paid__c, type: boolean}
duplicate_rules:
  - {name: Invoice_Amount, object: Invoice__c, fields: [Amount__c]}
`

func TestLoadSchema(t *testing.T) {
	dir := t.TempDir()
	yml := filepath.Join(dir, "schema.yaml")
	if err := os.WriteFile(yml, []byte(invoiceYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := sfsim.LoadSchema(yml)
	if err != nil {
		t.Fatal(err)
	}
	o := start(t, sfsim.Config{Schema: s})
	const path = v60 + "/sobjects/Invoice__c/Number__c/"
	r := o.do("PATCH", path+"INV-1", map[string]any{"Amount__c": 10})
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	checkID(t, str(r.obj(t)["id"]), "a0A")
	// case-sensitive external ID: another case is another record
	if r := o.do("PATCH", path+"inv-1", map[string]any{"Amount__c": 11}); r.status != 201 {
		t.Errorf("case-sensitive key matched: %d %s", r.status, r.body)
	}
	o.do("PATCH", path+"INV-2", map[string]any{"Paid__c": true}).topError(t, 400, "REQUIRED_FIELD_MISSING")
	o.do("PATCH", path+"INV-3", map[string]any{"Amount__c": 10}).topError(t, 400, "DUPLICATES_DETECTED")
	o.do("PATCH", path+"INV-12345678901", map[string]any{"Amount__c": 12}).topError(t, 400, "STRING_TOO_LONG")
	rec := o.srv.Records("Invoice__c")[0]
	if rec["Paid__c"] != false || rec["Amount__c"] != 10.0 {
		t.Errorf("record %v", rec)
	}
	if o.srv.Records("Contact") != nil {
		t.Error("Contact exists in a custom schema")
	}

	js := filepath.Join(dir, "schema.json")
	if err := os.WriteFile(js, []byte(`{"objects":[{"name":"Thing__c","key_prefix":"a9Z","fields":[{"name":"Code__c","type":"string","external_id":true}]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := sfsim.LoadSchema(js); err != nil || s.Objects[0].KeyPrefix != "a9Z" {
		t.Fatalf("json schema: %v", err)
	}
	for name, body := range map[string]string{
		"bad.yaml": "objects:\n  - name: X__c\n    colour: red\n",
		"bad.json": `{"objects":[{"name":"X__c","fields":[{"name":"F__c","type":"blob"}]}]}`,
		"dup.json": `{"objects":[{"name":"X__c","fields":[]},{"name":"x__c","fields":[]}]}`,
		"ref.json": `{"objects":[{"name":"X__c","fields":[]}],"duplicate_rules":[{"name":"R","object":"Y__c","fields":["Name"]}]}`,
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := sfsim.LoadSchema(p); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := sfsim.LoadSchema(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file accepted")
	}
}

// TestLoadSchemaRefusesRules: a rule the emulator cannot evaluate fails the
// load, naming the rule and what is wrong.
func TestLoadSchemaRefusesRules(t *testing.T) {
	const objects = `
objects:
  - name: Contact
    fields:
      - {name: LastName, type: string, required: true}
      - {name: Title, type: string}
validation_rules:
  - name: My_Rule
    object: Contact
`
	tests := []struct {
		rule string
		want []string
	}{
		{"    formula: FOO(Title)\n    message: m\n", []string{"My_Rule", "FOO"}},
		{"    formula: ISBLANK(Nope__c)\n    message: m\n", []string{"My_Rule", "Nope__c"}},
		{"    formula: 'Title = 5'\n    message: m\n", []string{"My_Rule", "Incorrect parameter type for operator '='. Expected Text, received Number"}},
		{"    formula: LEN(Title)\n    message: m\n", []string{"My_Rule", "Formula result is data type (Number)"}},
		{"    formula: ISBLANK(Title)\n    message: m\n    error_display_field: Nope\n", []string{"My_Rule", "error_display_field", "Nope"}},
		{"    formula: ISBLANK(Title)\n", []string{"My_Rule", "needs a name, a formula and a message"}},
		{"    immutable_field: Title\n    message: m\n", []string{"immutable_field"}}, // the old form is gone
	}
	dir := t.TempDir()
	for i, tt := range tests {
		path := filepath.Join(dir, fmt.Sprintf("s%d.yaml", i))
		if err := os.WriteFile(path, []byte(objects+tt.rule), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := sfsim.LoadSchema(path)
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %v, want it to contain %q", tt.rule, err, w)
			}
		}
	}
	// sfsim.New compiles a Schema built in Go the same way.
	_, err := sfsim.New(sfsim.Config{Schema: &sfsim.Schema{
		Objects:         []sfsim.Object{{Name: "Thing__c"}},
		ValidationRules: []sfsim.ValidationRule{{Name: "R", Object: "Thing__c", Formula: "TODAY() > 1", Message: "m"}},
	}})
	if err == nil || !strings.Contains(err.Error(), "R on Thing__c") || !strings.Contains(err.Error(), "TODAY") {
		t.Errorf("New: %v", err)
	}
}
