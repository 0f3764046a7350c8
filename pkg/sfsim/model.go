package sfsim

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/contactsync/contactsync/pkg/sfsim/formula"
	"github.com/contactsync/contactsync/pkg/sfsim/soql"
)

// model is a compiled Schema: lookups by lower-case name, indexes to keep.
type model struct {
	objects []*objectInfo
	byName  map[string]*objectInfo // as the schema spells them
	byLower map[string]*objectInfo
	byPfx   map[string]*objectInfo
}

type objectInfo struct {
	name, label, prefix string
	custom              bool
	fields              []*fieldInfo
	byName              map[string]*fieldInfo // canonical name
	byLower             map[string]*fieldInfo
	indexed             []*fieldInfo // unique or external ID: kept in an index
	dupRules            []*dupRule
	valRules            []*valRule
	computedName        bool   // Name = FirstName + " " + LastName
	system              bool   // Organization or User (org.go): read-only through the API
	nameFormat          string // auto-number Name
	soql                soql.ObjectInfo
	// Derived from fields once, for writes (build, validate):
	blank    map[string]any // every field → its default: a new record's start
	required []*fieldInfo   // Required fields, in schema order
	texts    []*fieldInfo   // fields of a textTypes type, in schema order
}

type fieldInfo struct {
	Field
	system     bool // Id and audit fields
	unique     bool
	ci         bool // matching / uniqueness ignore case
	idLookup   bool
	index      int // position in objectInfo.indexed, -1 if not indexed
	picklist   map[string]string
	defaultVal any
}

type dupRule struct {
	DuplicateRule
	obj    *objectInfo
	fields []*fieldInfo
}

// valRule is a ValidationRule with its compiled condition.
type valRule struct {
	ValidationRule
	cond    *formula.Formula
	display []string // fields of the error: [ErrorDisplayField] or []
}

// formulaTypes maps describe types to formula types.
var formulaTypes = map[string]formula.Type{
	"id": formula.Text, "string": formula.Text, "email": formula.Text, "textarea": formula.Text, "phone": formula.Text,
	"url": formula.Text, "reference": formula.Text, "picklist": formula.Picklist, "boolean": formula.Boolean,
	"double": formula.Number, "int": formula.Number, "currency": formula.Number, "percent": formula.Number,
	"date": formula.Date, "datetime": formula.DateTime,
}

// formulaFields are the fields a validation rule on o may reference.
func (o *objectInfo) formulaFields() formula.FieldTypes {
	ft := make(formula.FieldTypes, len(o.fields))
	for _, f := range o.fields {
		ft[f.Name] = formulaTypes[f.Type]
	}
	return ft
}

var textTypes = map[string]bool{"string": true, "email": true, "textarea": true, "phone": true, "url": true, "picklist": true}

var knownTypes = map[string]bool{"id": true, "string": true, "email": true, "textarea": true, "phone": true, "url": true,
	"picklist": true, "reference": true, "boolean": true, "double": true, "int": true, "currency": true, "percent": true,
	"date": true, "datetime": true}

// defaultLabel turns an API name into a label: "Mailing_City__c" → "Mailing City".
func defaultLabel(name string) string {
	name = strings.TrimSuffix(name, "__c")
	name = strings.ReplaceAll(name, "_", " ")
	var b strings.Builder
	for i, r := range name {
		if i > 0 && unicode.IsUpper(r) && name[i-1] != ' ' && !unicode.IsUpper(rune(name[i-1])) {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func compileSchema(s *Schema) (*model, error) {
	m := &model{byName: map[string]*objectInfo{}, byLower: map[string]*objectInfo{}, byPfx: map[string]*objectInfo{}}
	nextCustom := 0
	const b62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	objects := s.Objects
	system := map[string]bool{}
	for _, so := range systemObjects() {
		taken := false
		for _, o := range s.Objects {
			taken = taken || strings.EqualFold(o.Name, so.Name) || o.KeyPrefix == so.KeyPrefix
		}
		if !taken {
			objects = append(objects[:len(objects):len(objects)], so)
			system[so.Name] = true
		}
	}
	for _, o := range objects {
		if o.Name == "" || !validAPIName(o.Name) {
			return nil, fmt.Errorf("objects: invalid object name %q", o.Name)
		}
		if _, dup := m.byLower[strings.ToLower(o.Name)]; dup {
			return nil, fmt.Errorf("objects: %s defined twice", o.Name)
		}
		oi := &objectInfo{name: o.Name, label: o.Label, prefix: o.KeyPrefix, custom: strings.HasSuffix(o.Name, "__c"),
			byName: map[string]*fieldInfo{}, byLower: map[string]*fieldInfo{}, system: system[o.Name]}
		if oi.label == "" {
			oi.label = defaultLabel(o.Name)
		}
		if oi.prefix == "" {
			switch o.Name {
			case "Contact":
				oi.prefix = "003"
			case "Account":
				oi.prefix = "001"
			case "Lead":
				oi.prefix = "00Q"
			default:
				for {
					oi.prefix = "a0" + string(b62[10+nextCustom%52])
					nextCustom++
					if m.byPfx[oi.prefix] == nil {
						break
					}
				}
			}
		}
		if len(oi.prefix) != 3 || !isAlnum(oi.prefix) {
			return nil, fmt.Errorf("objects: %s: key_prefix %q must be 3 letters or digits", o.Name, oi.prefix)
		}
		if other := m.byPfx[oi.prefix]; other != nil {
			return nil, fmt.Errorf("objects: %s: key_prefix %s already used by %s", o.Name, oi.prefix, other.name)
		}
		add := func(f *fieldInfo) error {
			lf := strings.ToLower(f.Name)
			if _, dup := oi.byLower[lf]; dup {
				return fmt.Errorf("objects: %s: field %s defined twice", o.Name, f.Name)
			}
			if f.Label == "" {
				f.Label = defaultLabel(f.Name)
			}
			f.index = -1
			oi.fields = append(oi.fields, f)
			oi.byName[f.Name] = f
			oi.byLower[lf] = f
			return nil
		}
		sys := func(name, typ string) {
			_ = add(&fieldInfo{Field: Field{Name: name, Type: typ, ReadOnly: true, Length: 18}, system: true})
		}
		sys("Id", "id")
		oi.byName["Id"].idLookup = true
		sys("IsDeleted", "boolean")
		var hasName, hasFirst, hasLast bool
		for _, f := range o.Fields {
			if !validAPIName(f.Name) {
				return nil, fmt.Errorf("objects: %s: invalid field name %q", o.Name, f.Name)
			}
			if !knownTypes[f.Type] || f.Type == "id" {
				return nil, fmt.Errorf("objects: %s.%s: unknown type %q", o.Name, f.Name, f.Type)
			}
			if f.Length < 0 {
				return nil, fmt.Errorf("objects: %s.%s: negative length", o.Name, f.Name)
			}
			fi := &fieldInfo{Field: f}
			if textTypes[f.Type] && fi.Length == 0 {
				fi.Length = 255
				if f.Type == "textarea" {
					fi.Length = 32768
				}
			}
			if f.Type == "reference" {
				fi.Length = 18
			}
			fi.unique = f.Unique != nil && *f.Unique || f.Unique == nil && f.ExternalID
			if f.ExternalID && !(textTypes[f.Type] || f.Type == "double" || f.Type == "int") {
				return nil, fmt.Errorf("objects: %s.%s: an external ID must be text, email or number", o.Name, f.Name)
			}
			cs := f.CaseSensitive != nil && *f.CaseSensitive
			// Matching ignores case only for unique case-insensitive fields;
			// a non-unique external ID matches exactly.
			fi.ci = fi.unique && !cs
			fi.idLookup = f.ExternalID || fi.unique
			if f.Type == "picklist" {
				fi.picklist = map[string]string{}
				for _, v := range f.Picklist {
					fi.picklist[strings.ToLower(v)] = v
				}
			}
			if f.Default != "" {
				fi.defaultVal = f.Default
			}
			if f.Type == "boolean" {
				fi.defaultVal = false
				if strings.EqualFold(f.Default, "true") {
					fi.defaultVal = true
				}
			}
			switch f.Name {
			case "Name":
				hasName = true
			case "FirstName":
				hasFirst = true
			case "LastName":
				hasLast = true
			case "Email":
				fi.idLookup = true
			}
			if err := add(fi); err != nil {
				return nil, err
			}
		}
		oi.nameFormat = o.NameFormat
		if o.NameFormat != "" {
			if hasName {
				return nil, fmt.Errorf("objects: %s: name_format and a Name field", o.Name)
			}
			_ = add(&fieldInfo{Field: Field{Name: "Name", Label: oi.label + " Name", Type: "string", Length: 80, ReadOnly: true}})
		} else if !hasName {
			if hasFirst && hasLast {
				oi.computedName = true
				_ = add(&fieldInfo{Field: Field{Name: "Name", Label: "Full Name", Type: "string", Length: 121, ReadOnly: true}})
			} else if oi.custom {
				_ = add(&fieldInfo{Field: Field{Name: "Name", Label: oi.label + " Name", Type: "string", Length: 80}})
			}
		}
		sys("CreatedDate", "datetime")
		sys("CreatedById", "reference")
		sys("LastModifiedDate", "datetime")
		sys("LastModifiedById", "reference")
		sys("SystemModstamp", "datetime")
		for _, f := range oi.fields {
			if f.unique || f.ExternalID {
				f.index = len(oi.indexed)
				oi.indexed = append(oi.indexed, f)
			}
		}
		oi.blank = make(map[string]any, len(oi.fields))
		for _, f := range oi.fields {
			oi.blank[f.Name] = f.defaultVal
			if f.Required {
				oi.required = append(oi.required, f)
			}
			if textTypes[f.Type] {
				oi.texts = append(oi.texts, f)
			}
		}
		oi.soql = soql.ObjectInfo{Name: oi.name, Fields: map[string]soql.FieldInfo{}}
		for _, f := range oi.fields {
			oi.soql.Fields[strings.ToLower(f.Name)] = soql.FieldInfo{Name: f.Name, Type: f.Type, CaseSensitive: f.unique && !f.ci}
		}
		m.objects = append(m.objects, oi)
		m.byName[oi.name] = oi
		m.byLower[strings.ToLower(oi.name)] = oi
		m.byPfx[oi.prefix] = oi
	}
	for _, r := range s.DuplicateRules {
		oi := m.byLower[strings.ToLower(r.Object)]
		if oi == nil {
			return nil, fmt.Errorf("duplicate_rules: %s: unknown object %q", r.Name, r.Object)
		}
		if r.Name == "" || len(r.Fields) == 0 {
			return nil, fmt.Errorf("duplicate_rules: %s on %s needs a name and fields", r.Name, r.Object)
		}
		dr := &dupRule{DuplicateRule: r, obj: oi}
		if dr.AlertText == "" {
			dr.AlertText = "Use one of these records?"
		}
		if dr.MatchingRule == "" {
			dr.MatchingRule = r.Name + "_Match"
		}
		for _, fn := range r.Fields {
			f := oi.byLower[strings.ToLower(fn)]
			if f == nil || f.system {
				return nil, fmt.Errorf("duplicate_rules: %s: unknown field %s.%s", r.Name, oi.name, fn)
			}
			dr.fields = append(dr.fields, f)
		}
		oi.dupRules = append(oi.dupRules, dr)
	}
	for _, r := range s.ValidationRules {
		oi := m.byLower[strings.ToLower(r.Object)]
		if oi == nil {
			return nil, fmt.Errorf("validation_rules: %s: unknown object %q", r.Name, r.Object)
		}
		if r.Name == "" || strings.TrimSpace(r.Formula) == "" || strings.TrimSpace(r.Message) == "" {
			return nil, fmt.Errorf("validation_rules: %q on %s needs a name, a formula and a message", r.Name, oi.name)
		}
		cond, err := formula.Compile(r.Formula, oi.formulaFields())
		if err != nil {
			return nil, fmt.Errorf("validation_rules: %s on %s: formula: %w", r.Name, oi.name, err)
		}
		vr := &valRule{ValidationRule: r, cond: cond, display: []string{}}
		if r.ErrorDisplayField != "" {
			f := oi.field(r.ErrorDisplayField)
			if f == nil {
				return nil, fmt.Errorf("validation_rules: %s: error_display_field: unknown field %s.%s", r.Name, oi.name, r.ErrorDisplayField)
			}
			vr.display = []string{f.Name}
		}
		oi.valRules = append(oi.valRules, vr)
	}
	return m, nil
}

// object finds an object by any case of its name (the schema's own
// spelling first: no lower-casing per record of a collection).
func (m *model) object(name string) *objectInfo {
	if o := m.byName[name]; o != nil {
		return o
	}
	return m.byLower[strings.ToLower(name)]
}

// soqlSchema adapts the model for the SOQL parser.
func (m *model) soqlSchema(name string) (soql.ObjectInfo, bool) {
	o := m.object(name)
	if o == nil {
		return soql.ObjectInfo{}, false
	}
	return o.soql, true
}

// field finds a field by any case of its name.
func (o *objectInfo) field(name string) *fieldInfo {
	if f := o.byName[name]; f != nil {
		return f
	}
	return o.byLower[strings.ToLower(name)]
}

func validAPIName(s string) bool {
	if s == "" || len(s) > 80 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case (r >= '0' && r <= '9' || r == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
