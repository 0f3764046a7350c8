package sfmeta

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Check verifies the cross-references between components, the ones a deploy
// or the running org would trip over: every referenced matching rule, custom
// permission, custom field and custom object exists. It returns all problems
// at once (errors.Join). Load and LoadFS call it.
func (m *Metadata) Check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("sfmeta: "+format, args...)) }

	customField := func(object, field string) bool {
		if !strings.HasSuffix(field, "__c") {
			return true // standard fields are not described here
		}
		o, ok := m.Object(object)
		if !ok {
			return false
		}
		_, ok = o.Field(field)
		return ok
	}
	knownObject := func(name string) bool {
		if !strings.HasSuffix(name, "__c") {
			return true // standard object
		}
		o, ok := m.Object(name)
		return ok && o.NameField != nil
	}
	knownPermission := func(name string) bool { _, ok := m.CustomPermission(name); return ok }

	for _, o := range m.Objects {
		if o.Custom && o.NameField == nil {
			bad("object %s: fields or rules but no %s.object-meta.xml", o.Name, o.Name)
		}
		for _, f := range o.Fields {
			if f.ReferenceTo != "" && !knownObject(f.ReferenceTo) {
				bad("%s.%s: lookup to unknown object %s", o.Name, f.Name, f.ReferenceTo)
			}
		}
		for _, v := range o.ListViews {
			for _, c := range v.Columns {
				if !customField(o.Name, c) {
					bad("list view %s.%s: column %s is not a field of %s", o.Name, v.Name, c, o.Name)
				}
			}
			for _, f := range v.Filters {
				if !customField(o.Name, f.Field) {
					bad("list view %s.%s: filter on unknown field %s", o.Name, v.Name, f.Field)
				}
				if fd, ok := o.Field(f.Field); ok && fd.Type == "Picklist" && fd.Restricted && f.Value != "" &&
					!slices.Contains(fd.PicklistValues(), f.Value) {
					bad("list view %s.%s: filter value %q is not a value of picklist %s", o.Name, v.Name, f.Value, f.Field)
				}
			}
		}
	}
	for _, r := range m.MatchingRules {
		for _, f := range r.Fields() {
			if !customField(r.Object, f) {
				bad("matching rule %s.%s: unknown field %s", r.Object, r.Name, f)
			}
		}
	}
	for _, r := range m.DuplicateRules {
		for i, name := range r.MatchingRules {
			mr, ok := m.MatchingRule(r.MatchObjects[i], name)
			switch {
			case !ok:
				bad("duplicate rule %s.%s: matching rule %s.%s does not exist", r.Object, r.Name, r.MatchObjects[i], name)
			case r.Active && !mr.Active:
				bad("duplicate rule %s.%s is active but matching rule %s is not", r.Object, r.Name, name)
			}
		}
		for _, f := range r.Filters {
			if (f.Table == "$Permission" || f.Table == "CustomPermission") && !knownPermission(f.Field) {
				bad("duplicate rule %s.%s: filter on unknown custom permission %s", r.Object, r.Name, f.Field)
			}
		}
	}
	for _, r := range m.ValidationRules {
		for _, p := range r.Permissions {
			if !knownPermission(p) {
				bad("validation rule %s.%s: unknown custom permission %s", r.Object, r.Name, p)
			}
		}
		for _, f := range r.Fields {
			// A relationship path (Account.Name) leaves the object, whose
			// fields are not all described here.
			if !strings.Contains(f, ".") && !customField(r.Object, f) {
				bad("validation rule %s.%s: unknown field %s", r.Object, r.Name, f)
			}
		}
		if r.ErrorDisplayField != "" && !customField(r.Object, r.ErrorDisplayField) {
			bad("validation rule %s.%s: errorDisplayField %s is not a field of %s", r.Object, r.Name, r.ErrorDisplayField, r.Object)
		}
	}
	for _, p := range m.PermissionSets {
		for _, c := range p.CustomPermissions {
			if !knownPermission(c) {
				bad("permission set %s: unknown custom permission %s", p.Name, c)
			}
		}
		for _, o := range p.Objects {
			if !knownObject(o.Object) {
				bad("permission set %s: unknown object %s", p.Name, o.Object)
			}
		}
		for _, f := range p.Fields {
			if !customField(f.Object, f.Field) {
				bad("permission set %s: unknown field %s.%s", p.Name, f.Object, f.Field)
				continue
			}
			if o, ok := m.Object(f.Object); ok {
				if fd, ok := o.Field(f.Field); ok && fd.Required {
					bad("permission set %s: %s.%s is required; Salesforce rejects FLS on required fields", p.Name, f.Object, f.Field)
				}
			}
		}
	}
	return errors.Join(errs...)
}
