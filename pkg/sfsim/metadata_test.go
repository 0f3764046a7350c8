package sfsim_test

import (
	"testing"

	sfmetadata "github.com/contactsync/contactsync/deployments/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
)

// TestDefaultSchemaIsTheShippedMetadata: the default org is what
// deployments/salesforce deploys, and agrees with the built-in description.
func TestDefaultSchemaIsTheShippedMetadata(t *testing.T) {
	md, err := sfmetadata.Load()
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
	if len(d.ValidationRules) != 1 || d.ValidationRules[0].ImmutableField != extField || !d.ValidationRules[0].ExemptIntegration {
		t.Errorf("validation rules %+v", d.ValidationRules)
	}
	// DefaultSchema returns a copy
	d.Objects[0].Fields[0].Length = 1
	if sfsim.DefaultSchema().Objects[0].Fields[0].Length == 1 {
		t.Error("DefaultSchema shares its fields")
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
