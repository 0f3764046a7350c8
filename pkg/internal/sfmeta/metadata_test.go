package sfmeta

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	sfmetadata "github.com/contactsync/contactsync/deployments/salesforce"
)

const (
	contact     = "Contact"
	exception   = "Contact_Sync_Exception__c"
	extIDField  = "External_Contact_ID__c"
	syncVersion = "Sync_Version__c"
	integration = "Contact_Sync_Integration"
)

func mustLoad(t *testing.T) *Metadata {
	t.Helper()
	m, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return m
}

func mustField(t *testing.T, m *Metadata, object, field string) *Field {
	t.Helper()
	o, ok := m.Object(object)
	if !ok {
		t.Fatalf("object %s missing", object)
	}
	f, ok := o.Field(field)
	if !ok {
		t.Fatalf("field %s.%s missing", object, field)
	}
	return f
}

// embeddedFiles returns every file of the embedded package directory.
func embeddedFiles(t *testing.T) fstest.MapFS {
	t.Helper()
	sub := sfmetadata.Source()
	out := fstest.MapFS{}
	err := fs.WalkDir(sub, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(sub, path)
		out[path] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEveryFileParsesOnItsOwn(t *testing.T) {
	files := embeddedFiles(t)
	if len(files) == 0 {
		t.Fatal("no files embedded")
	}
	for path, f := range files {
		rel, ok := strings.CutPrefix(path, sourceRoot+"/")
		if !ok {
			t.Errorf("%s is outside %s", path, sourceRoot)
			continue
		}
		l := &loader{objects: map[string]*Object{}}
		if err := l.file(rel, f.Data); err != nil {
			t.Errorf("%s: %v", rel, err)
		}
	}
	// Every file became exactly one component (matching rule files may hold
	// several rules, ours holds one).
	m := mustLoad(t)
	components := len(m.MatchingRules) + len(m.DuplicateRules) + len(m.ValidationRules) +
		len(m.CustomPermissions) + len(m.PermissionSets)
	for _, o := range m.Objects {
		components += len(o.Fields) + len(o.ListViews)
		if o.NameField != nil {
			components++ // the object definition file
		}
	}
	if components != len(files) {
		t.Errorf("%d files but %d components loaded", len(files), components)
	}
}

func TestExternalContactIDIsAnUpsertKey(t *testing.T) {
	m := mustLoad(t)
	f := mustField(t, m, contact, extIDField)
	if f.Type != "Text" || f.Length != 80 || !f.ExternalID || !f.Unique || f.CaseSensitive || f.Required {
		t.Errorf("External_Contact_ID__c = %+v, want Text(80) externalId unique case-insensitive optional", *f)
	}
	o, _ := m.Object(contact)
	if o.Custom || o.NameField != nil {
		t.Errorf("Contact must stay a standard object without a definition here: %+v", o)
	}
	if len(o.Fields) != 2 {
		t.Errorf("Contact custom fields = %v, want %s and %s", o.Fields, extIDField, syncVersion)
	}
}

// TestSyncVersionHoldsMicrosecondTimestamps: Number(18,0) holds a source
// version (updated_at in microseconds, about 1.7e15) exactly.
func TestSyncVersionHoldsMicrosecondTimestamps(t *testing.T) {
	m := mustLoad(t)
	f := mustField(t, m, contact, syncVersion)
	if f.Type != "Number" || f.Precision != 18 || f.Scale != 0 || f.Required || f.ExternalID || f.Unique || f.Label != "Sync Version" {
		t.Errorf("Sync_Version__c = %+v, want an optional Number(18,0) labelled Sync Version", *f)
	}
}

func TestExceptionObjectMatchesTheDesign(t *testing.T) {
	m := mustLoad(t)
	o, ok := m.Object(exception)
	if !ok || !o.Custom || o.NameField == nil || o.NameField.Type != "AutoNumber" {
		t.Fatalf("object %s = %+v, want a custom object with an AutoNumber name", exception, o)
	}
	if o.Label == "" || o.PluralLabel == "" || o.DeploymentStatus != "Deployed" || o.SharingModel == "" {
		t.Errorf("object definition incomplete: %+v", o)
	}
	want := []struct {
		name, typ           string
		length, precision   int
		ext, unique, noCase bool
	}{
		{"Exception_Key__c", "Text", 64, 0, true, true, true},
		{"Kind__c", "Picklist", 0, 0, false, false, false},
		{"Policy__c", "Picklist", 0, 0, false, false, false},
		{"Segment__c", "Text", 64, 0, false, false, false},
		{"Incoming_External_Id__c", "Text", 80, 0, false, false, false},
		{"Existing_Contact__c", "Lookup", 0, 0, false, false, false},
		{"Existing_External_Id__c", "Text", 255, 0, false, false, false},
		{"Email__c", "Email", 0, 0, false, false, false},
		{"Payload__c", "LongTextArea", 131072, 0, false, false, false},
		{"Status__c", "Picklist", 0, 0, false, false, false},
		{"Source_Version__c", "Number", 0, 18, false, false, false},
		{"Last_Seen__c", "DateTime", 0, 0, false, false, false},
		{"Resolution__c", "Picklist", 0, 0, false, false, false},
		{"Applied_At__c", "DateTime", 0, 0, false, false, false},
		{"Apply_Error__c", "Text", 255, 0, false, false, false},
	}
	if len(o.Fields) != len(want) {
		t.Errorf("%d fields, want %d", len(o.Fields), len(want))
	}
	for _, w := range want {
		f := mustField(t, m, exception, w.name)
		if f.Type != w.typ || f.Length != w.length || f.Precision != w.precision || f.ExternalID != w.ext || f.Unique != w.unique {
			t.Errorf("%s = %+v, want %+v", w.name, *f, w)
		}
		if w.noCase && f.CaseSensitive {
			t.Errorf("%s is case-sensitive", w.name)
		}
		if f.Required {
			t.Errorf("%s is required; the reconciler fills fields per kind", w.name)
		}
	}
	if f := mustField(t, m, exception, "Source_Version__c"); f.Scale != 0 {
		t.Errorf("Source_Version__c scale %d, want 0", f.Scale)
	}
	if f := mustField(t, m, exception, "Existing_Contact__c"); f.ReferenceTo != contact || f.DeleteConstraint != "SetNull" {
		t.Errorf("Existing_Contact__c = %+v, want lookup to Contact, SetNull", *f)
	}

	kinds := []string{"Email_Conflict", "Duplicate_Created", "Rekeyed", "Ambiguous_Email", "Blocked_By_Rule", "Multiple_External_Id_Matches"}
	if f := mustField(t, m, exception, "Kind__c"); !slices.Equal(f.PicklistValues(), kinds) || !f.Restricted || f.DefaultValue() != "" {
		t.Errorf("Kind__c values %v restricted %v default %q, want %v restricted, no default", f.PicklistValues(), f.Restricted, f.DefaultValue(), kinds)
	}
	if f := mustField(t, m, exception, "Policy__c"); !slices.Equal(f.PicklistValues(), []string{"strict", "external-id", "email"}) {
		t.Errorf("Policy__c values %v", f.PicklistValues())
	}
	statuses := []string{"New", "Resolved", "Ignored", "Applied", "Apply_Failed"}
	if f := mustField(t, m, exception, "Status__c"); !slices.Equal(f.PicklistValues(), statuses) || !f.Restricted || f.DefaultValue() != "New" {
		t.Errorf("Status__c values %v restricted %v default %q, want %v restricted, default New", f.PicklistValues(), f.Restricted, f.DefaultValue(), statuses)
	}
	resolutions := []string{"Link_To_Existing", "Keep_Both", "Discard_Incoming", "Reprocess"}
	if f := mustField(t, m, exception, "Resolution__c"); !slices.Equal(f.PicklistValues(), resolutions) || !f.Restricted || f.DefaultValue() != "" {
		t.Errorf("Resolution__c values %v restricted %v default %q, want %v restricted, no default", f.PicklistValues(), f.Restricted, f.DefaultValue(), resolutions)
	}
	// The fields a steward touches explain themselves on the record page.
	for _, name := range []string{"Status__c", "Resolution__c", "Applied_At__c", "Apply_Error__c"} {
		if f := mustField(t, m, exception, name); f.InlineHelpText == "" {
			t.Errorf("%s has no inlineHelpText", name)
		}
	}
	if f := mustField(t, m, exception, "Resolution__c"); func() bool {
		for _, v := range resolutions {
			if !strings.Contains(f.InlineHelpText, v) {
				return true
			}
		}
		return false
	}() {
		t.Errorf("Resolution__c help does not explain every value: %q", f.InlineHelpText)
	}

	views := map[string]string{"New_Exceptions": "New", "Awaiting_Apply": "Resolved", "Apply_Failed": "Apply_Failed"}
	for name, status := range views {
		var view *ListView
		for i := range o.ListViews {
			if o.ListViews[i].Name == name {
				view = &o.ListViews[i]
			}
		}
		if view == nil || !slices.Contains(view.Filters, Filter{Field: "Status__c", Operation: "equals", Value: status}) {
			t.Errorf("list view %s filtering Status__c = %s missing: %+v", name, status, o.ListViews)
		}
	}
	if !slices.ContainsFunc(o.ListViews, func(v ListView) bool {
		return v.Name == "Apply_Failed" && slices.Contains(v.Columns, "Apply_Error__c")
	}) {
		t.Error("list view Apply_Failed does not show Apply_Error__c")
	}
}

func TestDuplicateRuleUsesTheEmailMatchingRuleAndExemptsTheIntegration(t *testing.T) {
	m := mustLoad(t)
	rules := m.DuplicateRulesFor(contact)
	if len(rules) != 1 {
		t.Fatalf("Contact duplicate rules = %+v, want one", rules)
	}
	r := rules[0]
	if r.Name != "Contact_Email_Duplicate" || !r.Active || r.ActionOnInsert != "Allow" || r.ActionOnUpdate != "Allow" {
		t.Errorf("rule %+v, want active Contact_Email_Duplicate with Allow on insert and update", r)
	}
	if !r.AlertsOnInsert() || !r.AlertsOnUpdate() || !slices.Contains(r.OperationsOnInsert, "Report") || !slices.Contains(r.OperationsOnUpdate, "Report") {
		t.Errorf("operations insert %v update %v, want Alert and Report on both", r.OperationsOnInsert, r.OperationsOnUpdate)
	}
	if r.AlertText == "" || r.SecurityOption != "EnforceSharingRules" {
		t.Errorf("alert %q security %q", r.AlertText, r.SecurityOption)
	}
	if !slices.Equal(r.MatchingRules, []string{"Contact_Email_Exact"}) || !slices.Equal(r.MatchObjects, []string{contact}) {
		t.Fatalf("matching rules %v on %v, want Contact_Email_Exact on Contact", r.MatchingRules, r.MatchObjects)
	}
	mr, ok := m.MatchingRule(contact, "Contact_Email_Exact")
	if !ok {
		t.Fatal("the duplicate rule's matching rule does not exist")
	}
	if !mr.Active || !slices.Equal(mr.Fields(), []string{"Email"}) || mr.Items[0].Method != "Exact" || mr.Items[0].BlankValueBehavior != "NullNotAllowed" {
		t.Errorf("matching rule %+v, want active, Email Exact, blanks never match", mr)
	}
	if r.ExemptPermission != integration {
		t.Errorf("exempt permission %q, want %s", r.ExemptPermission, integration)
	}
}

func TestValidationRules(t *testing.T) {
	m := mustLoad(t)
	rules := map[string]ValidationRule{}
	for _, r := range m.ValidationRulesFor(contact) {
		rules[r.Name] = r
	}
	if len(rules) != 2 {
		t.Fatalf("Contact validation rules = %+v, want External_Id_Immutable and Sync_Version_Monotonic", rules)
	}
	tests := []struct {
		name, formula, display string
		fields, perms          []string
	}{
		{"External_Id_Immutable",
			"AND(ISCHANGED(External_Contact_ID__c), NOT(ISBLANK(PRIORVALUE(External_Contact_ID__c))), NOT($Permission.Contact_Sync_Integration))",
			extIDField, []string{extIDField}, []string{integration}},
		{"Sync_Version_Monotonic", "AND(NOT(ISNEW()), Sync_Version__c < PRIORVALUE(Sync_Version__c))",
			syncVersion, []string{syncVersion}, []string{}},
	}
	for _, tt := range tests {
		r, ok := rules[tt.name]
		if !ok {
			t.Errorf("rule %s missing", tt.name)
			continue
		}
		if !r.Active || r.Formula != tt.formula || r.ErrorDisplayField != tt.display || r.ErrorMessage == "" {
			t.Errorf("rule %+v, want active, formula %s, display field %s, a message", r, tt.formula, tt.display)
		}
		if !slices.Equal(r.Fields, tt.fields) || !slices.Equal(r.Permissions, tt.perms) {
			t.Errorf("%s references fields %v permissions %v, want %v %v", tt.name, r.Fields, r.Permissions, tt.fields, tt.perms)
		}
	}
	if msg := rules["Sync_Version_Monotonic"].ErrorMessage; !strings.HasPrefix(msg, "contactsync: ") || !strings.Contains(msg, syncVersion) {
		t.Errorf("Sync_Version_Monotonic message %q, want it to name contactsync and %s", msg, syncVersion)
	}
}

func TestPermissionSetGrantsWhatTheIntegrationNeeds(t *testing.T) {
	m := mustLoad(t)
	if _, ok := m.CustomPermission(integration); !ok {
		t.Fatalf("custom permission %s missing", integration)
	}
	ps, ok := m.PermissionSet(integration)
	if !ok {
		t.Fatalf("permission set %s missing", integration)
	}
	// The permission that the rules exempt is the one the set grants.
	for _, r := range m.DuplicateRules {
		if r.ExemptPermission != "" && !ps.GrantsCustomPermission(r.ExemptPermission) {
			t.Errorf("duplicate rule %s exempts %s, which the permission set does not grant", r.Name, r.ExemptPermission)
		}
	}
	for _, r := range m.ValidationRules {
		for _, p := range r.Permissions {
			if !ps.GrantsCustomPermission(p) {
				t.Errorf("validation rule %s tests %s, which the permission set does not grant", r.Name, p)
			}
		}
	}
	for _, object := range []string{contact, exception} {
		op, ok := ps.ObjectPermission(object)
		if !ok || !op.Create || !op.Read || !op.Edit {
			t.Errorf("object permission on %s = %+v, want create/read/edit", object, op)
		}
	}
	for _, o := range m.Objects {
		for _, f := range o.Fields {
			fp, ok := ps.FieldPermission(o.Name, f.Name)
			if !ok || !fp.Readable || !fp.Editable {
				t.Errorf("no edit FLS for %s.%s", o.Name, f.Name)
			}
		}
	}
}

// TestValidationRuleReferences: the checks read a formula's tokens, so text
// literals are not fields, relationship paths leave the object, and
// functions the emulator does not evaluate are still valid metadata.
func TestValidationRuleReferences(t *testing.T) {
	const vr = sourceRoot + "/objects/Contact/validationRules/Extra.validationRule-meta.xml"
	rule := func(formula string) func(fstest.MapFS) {
		return func(files fstest.MapFS) {
			files[vr] = &fstest.MapFile{Data: []byte(`<?xml version="1.0" encoding="UTF-8"?>
<ValidationRule xmlns="http://soap.sforce.com/2006/04/metadata">
    <fullName>Extra</fullName>
    <active>true</active>
    <errorConditionFormula>` + formula + `</errorConditionFormula>
    <errorMessage>No.</errorMessage>
</ValidationRule>
`)}
		}
	}
	tests := []struct {
		formula, want string // want "" = loads
	}{
		{`AND(TODAY() &gt; Birthdate, Account.Rating__c = "Hot", "Nope__c" = Title)`, ""},
		{`AND(ISBLANK(Nope__c), NOT($Permission.Contact_Sync_Integration))`, "unknown field Nope__c"},
		{`AND(ISBLANK(Phone), NOT($Permission.Bypass))`, "unknown custom permission Bypass"},
		{`ISBLANK("open)`, "errorConditionFormula: unterminated text literal"},
	}
	for _, tt := range tests {
		files := embeddedFiles(t)
		rule(tt.formula)(files)
		_, err := LoadFS(files)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.formula, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want %q", tt.formula, err, tt.want)
		}
	}
}

// TestLoadFSRejectsBrokenMetadata changes one file of the real metadata at a
// time and expects LoadFS to name the problem.
func TestLoadFSRejectsBrokenMetadata(t *testing.T) {
	const (
		extPath  = sourceRoot + "/objects/Contact/fields/External_Contact_ID__c.field-meta.xml"
		dupPath  = sourceRoot + "/duplicateRules/Contact.Contact_Email_Duplicate.duplicateRule-meta.xml"
		psPath   = sourceRoot + "/permissionsets/Contact_Sync_Integration.permissionset-meta.xml"
		vrPath   = sourceRoot + "/objects/Contact/validationRules/External_Id_Immutable.validationRule-meta.xml"
		svPath   = sourceRoot + "/objects/Contact/validationRules/Sync_Version_Monotonic.validationRule-meta.xml"
		kindPath = sourceRoot + "/objects/Contact_Sync_Exception__c/fields/Kind__c.field-meta.xml"
		cpPath   = sourceRoot + "/customPermissions/Contact_Sync_Integration.customPermission-meta.xml"
		mrPath   = sourceRoot + "/matchingRules/Contact.matchingRule-meta.xml"
	)
	replace := func(path, old, new string) func(fstest.MapFS) {
		return func(files fstest.MapFS) {
			s := string(files[path].Data)
			if !strings.Contains(s, old) {
				panic("test setup: " + old + " not in " + path)
			}
			files[path] = &fstest.MapFile{Data: []byte(strings.ReplaceAll(s, old, new))}
		}
	}
	tests := []struct {
		name   string
		change func(fstest.MapFS)
		want   string
	}{
		{"misspelt element", replace(extPath, "externalId>", "externalID>"), "unknown element <externalID> in <CustomField>"},
		{"wrong namespace", replace(extPath, "2006/04/metadata", "2006/04/meta"), "expected element <CustomField> in name space"},
		{"fullName differs from file name", replace(extPath, "<fullName>External_Contact_ID__c", "<fullName>Other__c"), "does not match the file name"},
		{"text too long", replace(extPath, "<length>80</length>", "<length>300</length>"), "Text length 300"},
		{"case-sensitive but not unique", func(f fstest.MapFS) {
			replace(extPath, "<unique>true</unique>", "<unique>false</unique>")(f)
			replace(extPath, "<caseSensitive>false</caseSensitive>", "<caseSensitive>true</caseSensitive>")(f)
		}, "caseSensitive without unique"},
		{"not XML", func(f fstest.MapFS) { f[extPath] = &fstest.MapFile{Data: []byte("<CustomField")} }, "XML syntax error"},
		{"two picklist defaults", replace(kindPath, "<default>false</default>", "<default>true</default>"), "Picklist has 6 default values"},
		{"duplicate rule names a missing matching rule", replace(dupPath, "<matchingRule>Contact_Email_Exact<", "<matchingRule>Nope<"), "matching rule Contact.Nope does not exist"},
		{"active duplicate rule on an inactive matching rule", replace(mrPath, "<ruleStatus>Active", "<ruleStatus>Inactive"), "is active but matching rule"},
		{"bad duplicate action", replace(dupPath, "<actionOnInsert>Allow", "<actionOnInsert>Warn"), `actionOnInsert "Warn"`},
		{"permission set grants FLS on a missing field", replace(psPath, "Contact_Sync_Exception__c.Email__c", "Contact_Sync_Exception__c.Mail__c"), "unknown field Contact_Sync_Exception__c.Mail__c"},
		{"validation rule names a missing permission", replace(vrPath, "NOT($Permission.Contact_Sync_Integration)", "NOT($Permission.Other)"), "unknown custom permission Other"},
		{"validation rule names a missing field", replace(svPath, "Sync_Version__c &lt; PRIORVALUE(Sync_Version__c)", "Sync_Versio__c &lt; PRIORVALUE(Sync_Version__c)"), "unknown field Sync_Versio__c"},
		{"validation rule displays a missing field", replace(svPath, "<errorDisplayField>Sync_Version__c", "<errorDisplayField>Version__c"), "errorDisplayField Version__c is not a field of Contact"},
		{"field permission on the version removed with the field", func(f fstest.MapFS) {
			delete(f, sourceRoot+"/objects/Contact/fields/Sync_Version__c.field-meta.xml")
		}, "unknown field Contact.Sync_Version__c"},
		{"list view filters on a value the picklist lacks", replace(sourceRoot+"/objects/Contact_Sync_Exception__c/listViews/Apply_Failed.listView-meta.xml",
			"<value>Apply_Failed</value>", "<value>Failed</value>"), `filter value "Failed" is not a value of picklist Status__c`},
		{"custom permission removed", func(f fstest.MapFS) { delete(f, cpPath) }, "unknown custom permission Contact_Sync_Integration"},
		{"unknown file", func(f fstest.MapFS) {
			f[sourceRoot+"/flows/X.flow-meta.xml"] = &fstest.MapFile{Data: []byte("<Flow/>")}
		}, "not a metadata file this loader knows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := embeddedFiles(t)
			tt.change(files)
			_, err := LoadFS(files)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadFS error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	// The unchanged copy loads: the failures above are the changes' doing.
	if _, err := LoadFS(embeddedFiles(t)); err != nil {
		t.Fatalf("unchanged copy: %v", err)
	}
}
