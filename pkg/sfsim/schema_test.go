package sfsim_test

import (
	"os"
	"path/filepath"
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
