package sfsim_test

import (
	"testing"

	"github.com/contactsync/contactsync/pkg/internal/sfmeta"
	"github.com/contactsync/contactsync/pkg/sfsim"
)

// TestDefaultSchemaIsTheShippedMetadata: the default org is what
// deployments/salesforce deploys, and agrees with the built-in description.
func TestDefaultSchemaIsTheShippedMetadata(t *testing.T) {
	md, err := sfmeta.Load()
	if err != nil {
		t.Fatal(err)
	}
	fromMD, err := sfsim.SchemaFromMetadata(md)
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ object, field string }
	fields := func(s *sfsim.Schema) map[key]sfsim.Field {
		m := map[key]sfsim.Field{}
		for _, o := range s.Objects {
			for _, f := range o.Fields {
				m[key{o.Name, f.Name}] = f
			}
		}
		return m
	}
	got, want := fields(sfsim.DefaultSchema()), fields(sfsim.BuiltinSchema())
	if len(fields(fromMD)) != len(got) {
		t.Errorf("DefaultSchema is not the metadata schema")
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%v missing from the metadata schema", k)
			continue
		}
		if g.Type != w.Type || g.Length != w.Length || g.ExternalID != w.ExternalID || g.Required != w.Required ||
			g.ReferenceTo != w.ReferenceTo || g.Restricted != w.Restricted || len(g.Picklist) != len(w.Picklist) {
			t.Errorf("%v: metadata %+v, built-in %+v", k, g, w)
		}
	}
	d := sfsim.DefaultSchema()
	if len(d.DuplicateRules) != 1 || d.DuplicateRules[0].Fields[0] != "Email" || !d.DuplicateRules[0].ExemptIntegration {
		t.Errorf("duplicate rules %+v", d.DuplicateRules)
	}
	rules := func(s *sfsim.Schema) map[string]sfsim.ValidationRule {
		m := map[string]sfsim.ValidationRule{}
		for _, r := range s.ValidationRules {
			m[r.Name] = r
		}
		return m
	}
	gotRules, wantRules := rules(d), rules(sfsim.BuiltinSchema())
	if len(gotRules) != 2 || len(wantRules) != 2 {
		t.Errorf("validation rules: metadata %+v, built-in %+v; want External_Id_Immutable and Sync_Version_Monotonic", d.ValidationRules,
			sfsim.BuiltinSchema().ValidationRules)
	}
	for name, w := range wantRules {
		if g := gotRules[name]; g != w {
			t.Errorf("validation rule %s: metadata %+v, built-in %+v", name, g, w)
		}
	}
	// DefaultSchema returns a copy
	d.Objects[0].Fields[0].Length = 1
	if sfsim.DefaultSchema().Objects[0].Fields[0].Length == 1 {
		t.Error("DefaultSchema shares its fields")
	}
}

// TestVersionGuardIsShippedAndBuiltIn: the Sync_Version__c field and the
// Sync_Version_Monotonic rule of the metadata are those of BuiltinSchema,
// so `go run ./workers/standalone` enforces what users deploy either way.
func TestVersionGuardIsShippedAndBuiltIn(t *testing.T) {
	md, err := sfmeta.Load()
	if err != nil {
		t.Fatal(err)
	}
	fromMD, err := sfsim.SchemaFromMetadata(md)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*sfsim.Schema{fromMD, sfsim.DefaultSchema(), sfsim.BuiltinSchema()} {
		var field *sfsim.Field
		for _, o := range s.Objects {
			for i, f := range o.Fields {
				if o.Name == "Contact" && f.Name == syncField {
					field = &o.Fields[i]
				}
			}
		}
		if field == nil || field.Type != "double" || field.Required || field.ExternalID || field.Label != "Sync Version" {
			t.Errorf("Contact.%s = %+v, want an optional number labelled Sync Version", syncField, field)
		}
		var rule *sfsim.ValidationRule
		for i, r := range s.ValidationRules {
			if r.Name == "Sync_Version_Monotonic" {
				rule = &s.ValidationRules[i]
			}
		}
		want := sfsim.ValidationRule{Name: "Sync_Version_Monotonic", Object: "Contact",
			Formula:           "AND(NOT(ISNEW()), Sync_Version__c < PRIORVALUE(Sync_Version__c))",
			ErrorDisplayField: syncField,
			Message:           "contactsync: this write carries an older source version (Sync_Version__c) than the contact already has; newer data is kept."}
		if rule == nil || *rule != want {
			t.Errorf("rule %+v, want %+v", rule, want)
		}
	}
}

func TestAutoNumberName(t *testing.T) {
	o := start(t, sfsim.Config{})
	for range 2 {
		if r := o.do("POST", v60+"/sobjects/Contact_Sync_Exception__c", map[string]any{}); r.status != 201 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	recs := o.srv.Records("Contact_Sync_Exception__c")
	if recs[0]["Name"] != "CSX-000001" || recs[1]["Name"] != "CSX-000002" {
		t.Errorf("names %v %v", recs[0]["Name"], recs[1]["Name"])
	}
	o.do("POST", v60+"/sobjects/Contact_Sync_Exception__c", map[string]any{"Name": "x"}).topError(t, 400, "INVALID_FIELD_FOR_INSERT_UPDATE")
}
