package sfmeta

import (
	"fmt"
	"strings"

	"github.com/contactsync/contactsync/pkg/sfsim/formula"
)

// loader collects parsed files; result() assembles and sorts them.
type loader struct {
	objects     map[string]*Object
	matching    []MatchingRule
	duplicate   []DuplicateRule
	validation  []ValidationRule
	permissions []CustomPermission
	permsets    []PermissionSet
}

func (l *loader) object(name string) *Object {
	o, ok := l.objects[name]
	if !ok {
		o = &Object{Name: name, Custom: strings.HasSuffix(name, "__c")}
		l.objects[name] = o
	}
	return o
}

// file parses one source file, identified by its path below main/default.
func (l *loader) file(rel string, data []byte) error {
	parts := strings.Split(rel, "/")
	base := parts[len(parts)-1]
	switch {
	case len(parts) == 3 && parts[0] == "objects" && base == parts[1]+".object-meta.xml":
		return l.customObject(parts[1], data)
	case len(parts) == 4 && parts[0] == "objects" && parts[2] == "fields":
		name, ok := strings.CutSuffix(base, ".field-meta.xml")
		if !ok {
			break
		}
		return l.customField(parts[1], name, data)
	case len(parts) == 4 && parts[0] == "objects" && parts[2] == "validationRules":
		name, ok := strings.CutSuffix(base, ".validationRule-meta.xml")
		if !ok {
			break
		}
		return l.validationRule(parts[1], name, data)
	case len(parts) == 4 && parts[0] == "objects" && parts[2] == "listViews":
		name, ok := strings.CutSuffix(base, ".listView-meta.xml")
		if !ok {
			break
		}
		return l.listView(parts[1], name, data)
	case len(parts) == 2 && parts[0] == "matchingRules":
		object, ok := strings.CutSuffix(base, ".matchingRule-meta.xml")
		if !ok {
			break
		}
		return l.matchingRules(object, data)
	case len(parts) == 2 && parts[0] == "duplicateRules":
		full, ok := strings.CutSuffix(base, ".duplicateRule-meta.xml")
		object, name, dotted := strings.Cut(full, ".")
		if !ok || !dotted {
			break
		}
		return l.duplicateRule(object, name, data)
	case len(parts) == 2 && parts[0] == "customPermissions":
		name, ok := strings.CutSuffix(base, ".customPermission-meta.xml")
		if !ok {
			break
		}
		return l.customPermission(name, data)
	case len(parts) == 2 && parts[0] == "permissionsets":
		name, ok := strings.CutSuffix(base, ".permissionset-meta.xml")
		if !ok {
			break
		}
		return l.permissionSet(name, data)
	}
	return fmt.Errorf("not a metadata file this loader knows (objects/*/fields|validationRules|listViews, matchingRules, duplicateRules, customPermissions, permissionsets)")
}

func checkFullName(got, want string) error {
	if got != "" && got != want {
		return fmt.Errorf("fullName %q does not match the file name %q", got, want)
	}
	return nil
}

func (l *loader) customObject(name string, data []byte) error {
	var x xCustomObject
	if err := strictUnmarshal(data, &x); err != nil {
		return err
	}
	if !strings.HasSuffix(name, "__c") {
		return fmt.Errorf("object definition for %s: only custom objects are defined here", name)
	}
	if x.Label == "" || x.PluralLabel == "" {
		return fmt.Errorf("label and pluralLabel are required")
	}
	if x.NameField == nil || x.NameField.Label == "" {
		return fmt.Errorf("nameField with a label is required")
	}
	switch x.NameField.Type {
	case "AutoNumber":
		if x.NameField.DisplayFormat == "" {
			return fmt.Errorf("nameField: AutoNumber needs a displayFormat")
		}
	case "Text":
	default:
		return fmt.Errorf("nameField: type %q, want AutoNumber or Text", x.NameField.Type)
	}
	if x.DeploymentStatus == "" || x.SharingModel == "" {
		return fmt.Errorf("deploymentStatus and sharingModel are required")
	}
	o := l.object(name)
	o.Label, o.PluralLabel = x.Label, x.PluralLabel
	o.NameField = &NameField{Label: x.NameField.Label, Type: x.NameField.Type, DisplayFormat: x.NameField.DisplayFormat}
	o.SharingModel, o.DeploymentStatus = x.SharingModel, x.DeploymentStatus
	return nil
}

func (l *loader) customField(object, name string, data []byte) error {
	var x xCustomField
	if err := strictUnmarshal(data, &x); err != nil {
		return err
	}
	if err := checkFullName(x.FullName, name); err != nil {
		return err
	}
	if !strings.HasSuffix(name, "__c") {
		return fmt.Errorf("%s is not a custom field name (no __c suffix)", name)
	}
	if x.Label == "" {
		return fmt.Errorf("label is required")
	}
	f := Field{
		Name: name, Label: x.Label, Type: x.Type, Length: x.Length, Precision: x.Precision, Scale: x.Scale,
		ExternalID: x.ExternalID, Unique: x.Unique, CaseSensitive: x.CaseSensitive, Required: x.Required,
		ReferenceTo: x.ReferenceTo, DeleteConstraint: x.DeleteConstraint, RelationshipName: x.RelationshipName,
		InlineHelpText: x.InlineHelpText,
	}
	if err := shapeField(&f, &x); err != nil {
		return err
	}
	o := l.object(object)
	o.Fields = append(o.Fields, f)
	return nil
}

// shapeField checks the attributes each field type requires or forbids
// (the Metadata API's CustomField rules that decide whether a deploy works).
func shapeField(f *Field, x *xCustomField) error {
	switch f.Type {
	case "Text":
		if f.Length < 1 || f.Length > 255 {
			return fmt.Errorf("Text length %d, want 1..255", f.Length)
		}
	case "LongTextArea":
		if f.Length < 256 || f.Length > 131072 {
			return fmt.Errorf("LongTextArea length %d, want 256..131072", f.Length)
		}
		if x.VisibleLines < 1 {
			return fmt.Errorf("LongTextArea needs visibleLines")
		}
	case "Number":
		if f.Precision < 1 || f.Precision > 18 || f.Scale < 0 || f.Scale > f.Precision {
			return fmt.Errorf("Number precision %d scale %d, want 1..18 and 0..precision", f.Precision, f.Scale)
		}
	case "Lookup":
		if f.ReferenceTo == "" || f.RelationshipName == "" {
			return fmt.Errorf("Lookup needs referenceTo and relationshipName")
		}
		switch f.DeleteConstraint {
		case "SetNull", "Restrict", "Cascade":
		default:
			return fmt.Errorf("Lookup deleteConstraint %q, want SetNull, Restrict or Cascade", f.DeleteConstraint)
		}
	case "Picklist":
		if x.ValueSet == nil || len(x.ValueSet.ValueSetDefinition.Values) == 0 {
			return fmt.Errorf("Picklist needs a valueSet with values")
		}
		f.Restricted = x.ValueSet.Restricted
		seen := map[string]bool{}
		defaults := 0
		for _, v := range x.ValueSet.ValueSetDefinition.Values {
			if v.FullName == "" || seen[v.FullName] {
				return fmt.Errorf("Picklist value %q empty or repeated", v.FullName)
			}
			seen[v.FullName] = true
			if v.Default {
				defaults++
			}
			f.Picklist = append(f.Picklist, PicklistValue{Name: v.FullName, Label: v.Label, Default: v.Default})
		}
		if defaults > 1 {
			return fmt.Errorf("Picklist has %d default values, want at most 1", defaults)
		}
	case "Email", "DateTime", "Date", "Checkbox", "Phone", "Url":
	default:
		return fmt.Errorf("field type %q is not one this loader knows", f.Type)
	}
	if f.Type != "Picklist" && x.ValueSet != nil {
		return fmt.Errorf("valueSet on a %s field", f.Type)
	}
	if f.Type != "Lookup" && f.ReferenceTo != "" {
		return fmt.Errorf("referenceTo on a %s field", f.Type)
	}
	if f.ExternalID || f.Unique {
		switch f.Type {
		case "Text", "Number", "Email":
		default:
			return fmt.Errorf("externalId/unique on a %s field (only Text, Number, Email)", f.Type)
		}
	}
	if f.CaseSensitive && !f.Unique {
		return fmt.Errorf("caseSensitive without unique")
	}
	return nil
}

func (l *loader) validationRule(object, name string, data []byte) error {
	var x xValidationRule
	if err := strictUnmarshal(data, &x); err != nil {
		return err
	}
	if err := checkFullName(x.FullName, name); err != nil {
		return err
	}
	if strings.TrimSpace(x.ErrorConditionFormula) == "" || strings.TrimSpace(x.ErrorMessage) == "" {
		return fmt.Errorf("errorConditionFormula and errorMessage are required")
	}
	r := ValidationRule{
		Object: object, Name: name, Active: x.Active, Formula: strings.TrimSpace(x.ErrorConditionFormula),
		ErrorMessage: strings.TrimSpace(x.ErrorMessage), ErrorDisplayField: x.ErrorDisplayField,
	}
	// The references only: whether the emulator can evaluate the formula is
	// the emulator's business (pkg/sfsim), not the deploy's.
	refs, err := formula.References(r.Formula)
	if err != nil {
		return fmt.Errorf("errorConditionFormula: %w", err)
	}
	r.Fields, r.Permissions = refs.Fields, refs.Permissions
	l.validation = append(l.validation, r)
	return nil
}

func (l *loader) listView(object, name string, data []byte) error {
	var x xListView
	if err := strictUnmarshal(data, &x); err != nil {
		return err
	}
	if err := checkFullName(x.FullName, name); err != nil {
		return err
	}
	if x.Label == "" || x.FilterScope == "" {
		return fmt.Errorf("label and filterScope are required")
	}
	v := ListView{Name: name, Label: x.Label, FilterScope: x.FilterScope, Columns: x.Columns}
	for _, f := range x.Filters {
		v.Filters = append(v.Filters, Filter{Field: f.Field, Operation: f.Operation, Value: f.Value})
	}
	o := l.object(object)
	o.ListViews = append(o.ListViews, v)
	return nil
}

func (l *loader) matchingRules(object string, data []byte) error {
	var x xMatchingRules
	if err := strictUnmarshal(data, &x); err != nil {
		return err
	}
	if len(x.MatchingRules) == 0 {
		return fmt.Errorf("no matchingRules")
	}
	for _, r := range x.MatchingRules {
		if r.FullName == "" || r.Label == "" || len(r.MatchingRuleItems) == 0 {
			return fmt.Errorf("matching rule %q: fullName, label and at least one matchingRuleItems are required", r.FullName)
		}
		var status bool
		switch r.RuleStatus {
		case "Active":
			status = true
		case "Inactive":
		default:
			return fmt.Errorf("matching rule %s: ruleStatus %q, want Active or Inactive", r.FullName, r.RuleStatus)
		}
		mr := MatchingRule{Object: object, Name: r.FullName, Label: r.Label, Active: status}
		for _, it := range r.MatchingRuleItems {
			if it.FieldName == "" || it.MatchingMethod == "" {
				return fmt.Errorf("matching rule %s: item needs fieldName and matchingMethod", r.FullName)
			}
			mr.Items = append(mr.Items, MatchingRuleItem{Field: it.FieldName, Method: it.MatchingMethod, BlankValueBehavior: it.BlankValueBehavior})
		}
		l.matching = append(l.matching, mr)
	}
	return nil
}

func (l *loader) duplicateRule(object, name string, data []byte) error {
	var x xDuplicateRule
	if err := strictUnmarshal(data, &x); err != nil {
		return err
	}
	for what, v := range map[string]string{"actionOnInsert": x.ActionOnInsert, "actionOnUpdate": x.ActionOnUpdate} {
		if v != "Allow" && v != "Block" {
			return fmt.Errorf("%s %q, want Allow or Block", what, v)
		}
	}
	if x.AlertText != "" && x.ActionOnInsert != "Allow" && x.ActionOnUpdate != "Allow" {
		return fmt.Errorf("alertText is only allowed when an action is Allow")
	}
	for _, op := range append(append([]string(nil), x.OperationsOnInsert...), x.OperationsOnUpdate...) {
		if op != "Alert" && op != "Report" {
			return fmt.Errorf("operation %q, want Alert or Report", op)
		}
	}
	if x.SecurityOption != "EnforceSharingRules" && x.SecurityOption != "BypassSharingRules" {
		return fmt.Errorf("securityOption %q, want EnforceSharingRules or BypassSharingRules", x.SecurityOption)
	}
	if x.MasterLabel == "" || len(x.DuplicateRuleMatchRules) == 0 {
		return fmt.Errorf("masterLabel and duplicateRuleMatchRules are required")
	}
	r := DuplicateRule{
		Object: object, Name: name, Label: x.MasterLabel, Active: x.IsActive,
		ActionOnInsert: x.ActionOnInsert, ActionOnUpdate: x.ActionOnUpdate,
		OperationsOnInsert: x.OperationsOnInsert, OperationsOnUpdate: x.OperationsOnUpdate,
		AlertText: strings.TrimSpace(x.AlertText), SecurityOption: x.SecurityOption,
	}
	for _, m := range x.DuplicateRuleMatchRules {
		if m.MatchingRule == "" || m.MatchRuleSObjectType == "" {
			return fmt.Errorf("duplicateRuleMatchRules needs matchingRule and matchRuleSObjectType")
		}
		r.MatchingRules = append(r.MatchingRules, m.MatchingRule)
		r.MatchObjects = append(r.MatchObjects, m.MatchRuleSObjectType)
	}
	if x.DuplicateRuleFilter != nil {
		r.BooleanFilter = strings.TrimSpace(x.DuplicateRuleFilter.BooleanFilter)
		for _, it := range x.DuplicateRuleFilter.DuplicateRuleFilterItems {
			if it.Field == "" || it.Operation == "" || it.Table == "" {
				return fmt.Errorf("duplicateRuleFilterItems needs field, operation and table")
			}
			r.Filters = append(r.Filters, Filter{Field: it.Field, Operation: it.Operation, Value: it.Value, Table: it.Table})
		}
		r.ExemptPermission = exemptPermission(r.BooleanFilter, r.Filters)
	}
	l.duplicate = append(l.duplicate, r)
	return nil
}

// exemptPermission finds the "$Permission.<name> equals false" condition
// that keeps a duplicate rule away from holders of a custom permission. It
// only counts when every condition must hold (no OR in the filter logic),
// since otherwise holders could still be caught by another branch.
func exemptPermission(booleanFilter string, items []Filter) string {
	if strings.Contains(strings.ToUpper(booleanFilter), "OR") {
		return ""
	}
	for _, it := range items {
		if (it.Table == "$Permission" || it.Table == "CustomPermission") &&
			it.Operation == "equals" && strings.EqualFold(it.Value, "false") {
			return it.Field
		}
	}
	return ""
}

func (l *loader) customPermission(name string, data []byte) error {
	var x xCustomPermission
	if err := strictUnmarshal(data, &x); err != nil {
		return err
	}
	if x.Label == "" {
		return fmt.Errorf("label is required")
	}
	l.permissions = append(l.permissions, CustomPermission{Name: name, Label: x.Label, Description: strings.TrimSpace(x.Description)})
	return nil
}

func (l *loader) permissionSet(name string, data []byte) error {
	var x xPermissionSet
	if err := strictUnmarshal(data, &x); err != nil {
		return err
	}
	if x.Label == "" {
		return fmt.Errorf("label is required")
	}
	p := PermissionSet{Name: name, Label: x.Label}
	for _, c := range x.CustomPermissions {
		if c.Enabled {
			p.CustomPermissions = append(p.CustomPermissions, c.Name)
		}
	}
	for _, o := range x.ObjectPermissions {
		p.Objects = append(p.Objects, ObjectPermission{
			Object: o.Object, Create: o.AllowCreate, Read: o.AllowRead, Edit: o.AllowEdit,
			Delete: o.AllowDelete, ViewAll: o.ViewAllRecords, ModifyAll: o.ModifyAllRecords,
		})
	}
	for _, f := range x.FieldPermissions {
		object, field, ok := strings.Cut(f.Field, ".")
		if !ok {
			return fmt.Errorf("fieldPermissions field %q, want Object.Field", f.Field)
		}
		if f.Editable && !f.Readable {
			return fmt.Errorf("fieldPermissions %s: editable without readable", f.Field)
		}
		p.Fields = append(p.Fields, FieldPermission{Object: object, Field: field, Readable: f.Readable, Editable: f.Editable})
	}
	l.permsets = append(l.permsets, p)
	return nil
}

func (l *loader) result() *Metadata {
	m := &Metadata{
		MatchingRules: l.matching, DuplicateRules: l.duplicate, ValidationRules: l.validation,
		CustomPermissions: l.permissions, PermissionSets: l.permsets,
	}
	for _, o := range l.objects {
		sortByName(o.Fields, func(f Field) string { return f.Name })
		sortByName(o.ListViews, func(v ListView) string { return v.Name })
		m.Objects = append(m.Objects, *o)
	}
	sortByName(m.Objects, func(o Object) string { return o.Name })
	sortByName(m.MatchingRules, func(r MatchingRule) string { return r.Object + "." + r.Name })
	sortByName(m.DuplicateRules, func(r DuplicateRule) string { return r.Object + "." + r.Name })
	sortByName(m.ValidationRules, func(r ValidationRule) string { return r.Object + "." + r.Name })
	sortByName(m.CustomPermissions, func(p CustomPermission) string { return p.Name })
	sortByName(m.PermissionSets, func(p PermissionSet) string { return p.Name })
	return m
}
