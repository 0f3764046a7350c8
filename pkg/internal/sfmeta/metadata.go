// Package sfmeta parses the Salesforce metadata that contactsync ships in
// Salesforce DX source format (deployments/salesforce/force-app, embedded by
// the small package beside it): the Contact external-ID and Sync_Version__c
// fields, the Contact_Sync_Exception__c object, the email matching and duplicate rules, the validation rules (the
// external ID is immutable, Sync_Version__c never goes back), the integration
// custom permission and its permission set.
//
// The same files are what an admin deploys with `sf project deploy start` and
// what the emulator (pkg/sfsim) builds its default schema and rules from, so
// what the tests run against is what users deploy.
//
// Only custom fields are described: standard fields (Contact.LastName,
// Contact.Email, …) are not part of the metadata.
package sfmeta

import (
	"fmt"
	"io/fs"
	"sort"
	"strings"

	sfmetadata "github.com/contactsync/contactsync/deployments/salesforce"
)

// sourceRoot is the DX source directory inside the package directory.
const sourceRoot = "main/default"

// Metadata is everything under force-app/main/default, parsed.
// Slices are sorted by name (objects, fields, rules), so output is stable.
type Metadata struct {
	Objects           []Object
	MatchingRules     []MatchingRule
	DuplicateRules    []DuplicateRule
	ValidationRules   []ValidationRule
	CustomPermissions []CustomPermission
	PermissionSets    []PermissionSet
}

// Object is a standard or custom object that has metadata here. A standard
// object (Contact) has no object definition of its own, only custom fields,
// validation rules or list views.
type Object struct {
	Name        string // API name: "Contact", "Contact_Sync_Exception__c"
	Custom      bool
	Label       string // custom objects only
	PluralLabel string
	NameField   *NameField // custom objects only
	// SharingModel and DeploymentStatus as written in the object definition.
	SharingModel, DeploymentStatus string
	Fields                         []Field
	ListViews                      []ListView
}

// NameField describes a custom object's Name field.
type NameField struct {
	Label         string
	Type          string // "AutoNumber" or "Text"
	DisplayFormat string // AutoNumber only, e.g. "CSX-{000000}"
}

// Field is a custom field.
type Field struct {
	Name          string // API name, e.g. "External_Contact_ID__c"
	Label         string
	Type          string // Metadata API type: Text, Email, Number, DateTime, Picklist, Lookup, LongTextArea, …
	Length        int    // Text, LongTextArea
	Precision     int    // Number: total digits
	Scale         int    // Number: digits after the point
	ExternalID    bool
	Unique        bool
	CaseSensitive bool // meaningful with Unique
	Required      bool
	ReferenceTo   string // Lookup target object
	// DeleteConstraint is the Lookup's behaviour when the target is deleted
	// (SetNull, Restrict, Cascade).
	DeleteConstraint string
	RelationshipName string
	Picklist         []PicklistValue // Picklist only, in definition order
	Restricted       bool            // Picklist: only listed values accepted
	// InlineHelpText is the field help a user sees in the record page.
	InlineHelpText string
}

// PicklistValue is one value of a picklist field.
type PicklistValue struct {
	Name    string // the API value
	Label   string
	Default bool
}

// DefaultValue returns the picklist's default value, or "" when none is set.
func (f Field) DefaultValue() string {
	for _, v := range f.Picklist {
		if v.Default {
			return v.Name
		}
	}
	return ""
}

// PicklistValues returns the API values of a picklist field, in order.
func (f Field) PicklistValues() []string {
	out := make([]string, len(f.Picklist))
	for i, v := range f.Picklist {
		out[i] = v.Name
	}
	return out
}

// ListView is a list view on an object.
type ListView struct {
	Name, Label string
	FilterScope string
	Columns     []string
	Filters     []Filter
}

// Filter is one criterion of a list view or duplicate rule filter.
type Filter struct {
	Field, Operation, Value string
	Table                   string // duplicate rule filters only: the object holding Field
}

// MatchingRule says when two records of Object are duplicates.
type MatchingRule struct {
	Object string // the file name: matchingRules/<Object>.matchingRule-meta.xml
	Name   string // fullName / developer name, referenced by duplicate rules
	Label  string
	Active bool // ruleStatus Active
	Items  []MatchingRuleItem
}

// MatchingRuleItem compares one field.
type MatchingRuleItem struct {
	Field              string
	Method             string // "Exact", "Fuzzy…"
	BlankValueBehavior string // "NullNotAllowed" (blank never matches) or "MatchBlanks"
}

// Fields returns the API names of the fields the rule compares.
func (r MatchingRule) Fields() []string {
	out := make([]string, len(r.Items))
	for i, it := range r.Items {
		out[i] = it.Field
	}
	return out
}

// DuplicateRule says what happens when a save matches a matching rule.
type DuplicateRule struct {
	Object         string // from the file name: duplicateRules/<Object>.<Name>.duplicateRule-meta.xml
	Name           string
	Label          string
	Active         bool
	ActionOnInsert string // "Allow" or "Block"
	ActionOnUpdate string
	// OperationsOnInsert/OnUpdate are "Alert" and/or "Report".
	OperationsOnInsert, OperationsOnUpdate []string
	AlertText                              string
	SecurityOption                         string // "EnforceSharingRules" or "BypassSharingRules"
	// MatchingRules names the matching rules the duplicate rule applies, with
	// the object each one matches against in MatchObjects (same order).
	MatchingRules, MatchObjects []string
	Filters                     []Filter
	BooleanFilter               string
	// ExemptPermission is the custom permission whose holders the rule does
	// not apply to ("" if none): derived from a filter item
	// "$Permission.<name> equals false".
	ExemptPermission string
}

// AlertsOnInsert reports whether an allowed insert still raises the alert
// (which the API returns as DUPLICATES_DETECTED unless allowSave is set).
func (r DuplicateRule) AlertsOnInsert() bool { return contains(r.OperationsOnInsert, "Alert") }

// AlertsOnUpdate is AlertsOnInsert for edits.
func (r DuplicateRule) AlertsOnUpdate() bool { return contains(r.OperationsOnUpdate, "Alert") }

// ValidationRule refuses a save when its formula is true.
type ValidationRule struct {
	Object            string
	Name              string
	Active            bool
	Formula           string
	ErrorMessage      string
	ErrorDisplayField string
	// Fields are the fields the formula references, as written, sorted;
	// relationship paths (Account.Name) included.
	Fields []string
	// Permissions are the custom permissions the formula tests
	// ($Permission.Name), sorted.
	Permissions []string
}

// CustomPermission is a named permission that rules and code test for.
type CustomPermission struct {
	Name, Label, Description string
}

// PermissionSet grants object, field and custom permissions.
type PermissionSet struct {
	Name, Label       string
	CustomPermissions []string // enabled ones
	Objects           []ObjectPermission
	Fields            []FieldPermission
}

// ObjectPermission is CRUD on one object.
type ObjectPermission struct {
	Object                                         string
	Create, Read, Edit, Delete, ViewAll, ModifyAll bool
}

// FieldPermission is field-level security on one field.
type FieldPermission struct {
	Object, Field      string // "Contact", "External_Contact_ID__c"
	Readable, Editable bool
}

// Load parses the metadata embedded in the binary
// (deployments/salesforce/force-app) and checks its cross-references.
func Load() (*Metadata, error) {
	return LoadFS(sfmetadata.Source())
}

// LoadFS parses a DX package directory (the directory holding main/default)
// and checks its cross-references. Every *-meta.xml file must be of a type
// this package knows and must parse; an unknown element in a file is an
// error, so a typo cannot be silently ignored.
func LoadFS(fsys fs.FS) (*Metadata, error) {
	l := &loader{objects: map[string]*Object{}}
	err := fs.WalkDir(fsys, sourceRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		data, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(path, sourceRoot+"/")
		if err := l.file(rel, data); err != nil {
			return fmt.Errorf("sfmeta: %s: %w", rel, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	m := l.result()
	if err := m.Check(); err != nil {
		return nil, err
	}
	return m, nil
}

// Object returns the named object.
func (m *Metadata) Object(name string) (*Object, bool) {
	for i := range m.Objects {
		if m.Objects[i].Name == name {
			return &m.Objects[i], true
		}
	}
	return nil, false
}

// Field returns the named custom field of the object.
func (o *Object) Field(name string) (*Field, bool) {
	for i := range o.Fields {
		if o.Fields[i].Name == name {
			return &o.Fields[i], true
		}
	}
	return nil, false
}

// MatchingRule returns the named matching rule of an object.
func (m *Metadata) MatchingRule(object, name string) (*MatchingRule, bool) {
	for i := range m.MatchingRules {
		if r := &m.MatchingRules[i]; r.Object == object && r.Name == name {
			return r, true
		}
	}
	return nil, false
}

// DuplicateRulesFor returns the duplicate rules of an object.
func (m *Metadata) DuplicateRulesFor(object string) []DuplicateRule {
	var out []DuplicateRule
	for _, r := range m.DuplicateRules {
		if r.Object == object {
			out = append(out, r)
		}
	}
	return out
}

// ValidationRulesFor returns the validation rules of an object.
func (m *Metadata) ValidationRulesFor(object string) []ValidationRule {
	var out []ValidationRule
	for _, r := range m.ValidationRules {
		if r.Object == object {
			out = append(out, r)
		}
	}
	return out
}

// CustomPermission returns the named custom permission.
func (m *Metadata) CustomPermission(name string) (*CustomPermission, bool) {
	for i := range m.CustomPermissions {
		if m.CustomPermissions[i].Name == name {
			return &m.CustomPermissions[i], true
		}
	}
	return nil, false
}

// PermissionSet returns the named permission set.
func (m *Metadata) PermissionSet(name string) (*PermissionSet, bool) {
	for i := range m.PermissionSets {
		if m.PermissionSets[i].Name == name {
			return &m.PermissionSets[i], true
		}
	}
	return nil, false
}

// GrantsCustomPermission reports whether the set enables the custom permission.
func (p PermissionSet) GrantsCustomPermission(name string) bool {
	return contains(p.CustomPermissions, name)
}

// FieldPermission returns the set's FLS entry for object.field.
func (p PermissionSet) FieldPermission(object, field string) (FieldPermission, bool) {
	for _, f := range p.Fields {
		if f.Object == object && f.Field == field {
			return f, true
		}
	}
	return FieldPermission{}, false
}

// ObjectPermission returns the set's CRUD entry for an object.
func (p PermissionSet) ObjectPermission(object string) (ObjectPermission, bool) {
	for _, o := range p.Objects {
		if o.Object == object {
			return o, true
		}
	}
	return ObjectPermission{}, false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func sortByName[T any](s []T, name func(T) string) {
	sort.SliceStable(s, func(i, j int) bool { return name(s[i]) < name(s[j]) })
}
