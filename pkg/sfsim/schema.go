package sfsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goccy/go-yaml"
)

// Schema is the org's objects with their fields, and the rules on them.
// Every object also gets the system fields Id, IsDeleted, CreatedDate,
// CreatedById, LastModifiedDate, LastModifiedById and SystemModstamp; a
// custom object without a Name field gets one (Text 80); an object with
// FirstName and LastName gets a read-only Name computed from them.
type Schema struct {
	Objects         []Object         `json:"objects" yaml:"objects"`
	DuplicateRules  []DuplicateRule  `json:"duplicate_rules,omitempty" yaml:"duplicate_rules,omitempty"`
	ValidationRules []ValidationRule `json:"validation_rules,omitempty" yaml:"validation_rules,omitempty"`
}

// Object is one sObject type.
type Object struct {
	Name  string `json:"name" yaml:"name"` // API name, e.g. "Contact", "Invoice__c"
	Label string `json:"label,omitempty" yaml:"label,omitempty"`
	// KeyPrefix is the 3-character Id prefix; "" = 003 for Contact, 001
	// Account, 00Q Lead, and a0A, a0B, … for other objects in order.
	KeyPrefix string `json:"key_prefix,omitempty" yaml:"key_prefix,omitempty"`
	// NameFormat makes Name an auto-number, e.g. "CSX-{000000}" (read-only).
	NameFormat string  `json:"name_format,omitempty" yaml:"name_format,omitempty"`
	Fields     []Field `json:"fields" yaml:"fields"`
}

// Field is one field of an object.
type Field struct {
	Name  string `json:"name" yaml:"name"`
	Label string `json:"label,omitempty" yaml:"label,omitempty"` // "" = derived from Name
	// Type is a describe type: string, email, textarea, phone, url,
	// picklist, reference, boolean, double, int, currency, percent, date,
	// datetime.
	Type     string `json:"type" yaml:"type"`
	Length   int    `json:"length,omitempty" yaml:"length,omitempty"` // text types; 0 = 255 (textarea 32768)
	Required bool   `json:"required,omitempty" yaml:"required,omitempty"`
	// ExternalID fields can key an upsert. They are unique and
	// case-insensitive unless Unique / CaseSensitive say otherwise.
	ExternalID    bool  `json:"external_id,omitempty" yaml:"external_id,omitempty"`
	Unique        *bool `json:"unique,omitempty" yaml:"unique,omitempty"`
	CaseSensitive *bool `json:"case_sensitive,omitempty" yaml:"case_sensitive,omitempty"`
	// ReferenceTo is the object a reference field points to.
	ReferenceTo string `json:"reference_to,omitempty" yaml:"reference_to,omitempty"`
	// Picklist values; Restricted refuses others; Default is the value of
	// a new record that does not set the field.
	Picklist   []string `json:"picklist,omitempty" yaml:"picklist,omitempty"`
	Restricted bool     `json:"restricted,omitempty" yaml:"restricted,omitempty"`
	Default    string   `json:"default,omitempty" yaml:"default,omitempty"`
	ReadOnly   bool     `json:"read_only,omitempty" yaml:"read_only,omitempty"`
}

// DuplicateRule refuses a save whose match key equals another record's:
// the key is the listed fields, normalised (trimmed, lower-cased); a blank
// field never matches. The action is Config.DuplicateAction.
type DuplicateRule struct {
	Name         string   `json:"name" yaml:"name"`
	Object       string   `json:"object" yaml:"object"`
	MatchingRule string   `json:"matching_rule" yaml:"matching_rule"`
	Fields       []string `json:"fields" yaml:"fields"`
	AlertText    string   `json:"alert_text,omitempty" yaml:"alert_text,omitempty"` // "" = "Use one of these records?"
	// ExemptIntegration exempts the integration user's edits by Id (the
	// custom-permission model). Creates and upserts are always checked.
	ExemptIntegration bool `json:"exempt_integration,omitempty" yaml:"exempt_integration,omitempty"`
}

// ValidationRule refuses a write when its Formula, a Salesforce error
// condition formula, is true: the write fails with
// FIELD_CUSTOM_VALIDATION_EXCEPTION, Message, and fields
// [ErrorDisplayField] ([] when none). Rules run on every create and edit
// through the API (ISNEW() tells them apart), not on Server.Insert seeds.
// The formula is compiled when the schema loads; package
// sfsim/formula lists the functions and operators it may use. An inactive
// rule is one left out of the schema.
type ValidationRule struct {
	Name   string `json:"name" yaml:"name"`
	Object string `json:"object" yaml:"object"`
	// Formula is the error condition, e.g.
	// AND(ISBLANK(Phone), BEGINS(Title, "VP")). $Permission.X is true for
	// the integration user (Config.ClientID), which holds every custom
	// permission, and false for RestrictedClients; $User.Username is
	// Username.
	Formula string `json:"formula" yaml:"formula"`
	// ErrorDisplayField is the field the error is reported on; "" = the
	// top of the page (fields []).
	ErrorDisplayField string `json:"error_display_field,omitempty" yaml:"error_display_field,omitempty"`
	Message           string `json:"message" yaml:"message"`
}

func ptr[T any](v T) *T { return &v }

// DefaultSchema is the seed org of DESIGN.md: Contact with
// External_Contact_ID__c and Sync_Version__c, Contact_Sync_Exception__c, the
// Contact email duplicate rule, and the External_Id_Immutable and
// Sync_Version_Monotonic validation rules. It is built from the SFDX
// metadata in deployments/salesforce (see SchemaFromMetadata) and falls back
// to BuiltinSchema if that cannot be loaded.
func DefaultSchema() *Schema {
	if s, err := schemaFromShipped(); err == nil {
		return cloneSchema(s)
	}
	return BuiltinSchema()
}

// cloneSchema deep-copies s, so callers may edit what DefaultSchema returns.
func cloneSchema(s *Schema) *Schema {
	c := &Schema{DuplicateRules: append([]DuplicateRule(nil), s.DuplicateRules...),
		ValidationRules: append([]ValidationRule(nil), s.ValidationRules...)}
	for _, o := range s.Objects {
		o.Fields = append([]Field(nil), o.Fields...)
		c.Objects = append(c.Objects, o)
	}
	return c
}

// BuiltinSchema is DefaultSchema written out in Go, independent of the
// metadata files.
func BuiltinSchema() *Schema {
	return &Schema{
		Objects: []Object{
			{Name: "Contact", KeyPrefix: "003", Fields: append(standardContactFields(),
				Field{Name: "External_Contact_ID__c", Label: "External Contact ID", Type: "string", Length: 80,
					ExternalID: true, Unique: ptr(true), CaseSensitive: ptr(false)},
				// A Number(18,0): source versions are microsecond
				// timestamps, about 1.7e15, below 2^53, so the float64
				// the emulator stores and compares holds them exactly.
				Field{Name: "Sync_Version__c", Label: "Sync Version", Type: "double"},
			)},
			{Name: "Contact_Sync_Exception__c", Label: "Contact Sync Exception", NameFormat: "CSX-{000000}", Fields: []Field{
				{Name: "Exception_Key__c", Label: "Exception Key", Type: "string", Length: 64,
					ExternalID: true, Unique: ptr(true), CaseSensitive: ptr(false)},
				{Name: "Kind__c", Label: "Kind", Type: "picklist", Restricted: true, Picklist: []string{"Email_Conflict",
					"Duplicate_Created", "Rekeyed", "Ambiguous_Email", "Blocked_By_Rule", "Multiple_External_Id_Matches"}},
				{Name: "Policy__c", Label: "Policy", Type: "picklist", Restricted: true, Picklist: []string{"strict", "external-id", "email"}},
				{Name: "Segment__c", Label: "Segment", Type: "string", Length: 64},
				{Name: "Incoming_External_Id__c", Label: "Incoming External Id", Type: "string", Length: 80},
				{Name: "Existing_Contact__c", Label: "Existing Contact", Type: "reference", ReferenceTo: "Contact"},
				{Name: "Existing_External_Id__c", Label: "Existing External Id", Type: "string", Length: 255},
				{Name: "Email__c", Label: "Email", Type: "email", Length: 80},
				{Name: "Payload__c", Label: "Payload", Type: "textarea", Length: 131072},
				{Name: "Status__c", Label: "Status", Type: "picklist", Picklist: []string{"New", "Resolved", "Ignored", "Applied", "Apply_Failed"}, Restricted: true, Default: "New"},
				{Name: "Source_Version__c", Label: "Source Version", Type: "double"},
				{Name: "Last_Seen__c", Label: "Last Seen", Type: "datetime"},
				{Name: "Resolution__c", Label: "Resolution", Type: "picklist", Restricted: true,
					Picklist: []string{"Link_To_Existing", "Keep_Both", "Discard_Incoming", "Reprocess"}},
				{Name: "Applied_At__c", Label: "Applied At", Type: "datetime"},
				{Name: "Apply_Error__c", Label: "Apply Error", Type: "string", Length: 255},
			}},
		},
		DuplicateRules: []DuplicateRule{{
			Name: "Contact_Email_Duplicate", Object: "Contact", MatchingRule: "Contact_Email_Exact",
			Fields: []string{"Email"}, ExemptIntegration: true,
		}},
		ValidationRules: []ValidationRule{{
			Name: "External_Id_Immutable", Object: "Contact",
			Formula:           "AND(ISCHANGED(External_Contact_ID__c), NOT(ISBLANK(PRIORVALUE(External_Contact_ID__c))), NOT($Permission.Contact_Sync_Integration))",
			ErrorDisplayField: "External_Contact_ID__c",
			Message:           "External Contact ID is set by the contactsync integration and cannot be changed once set. Raise a Contact Sync Exception instead.",
		}, {
			Name: "Sync_Version_Monotonic", Object: "Contact",
			Formula:           "AND(NOT(ISNEW()), Sync_Version__c < PRIORVALUE(Sync_Version__c))",
			ErrorDisplayField: "Sync_Version__c",
			Message:           syncVersionMessage,
		}},
	}
}

// syncVersionMessage is the error message of the Sync_Version_Monotonic
// rule, which refuses an edit carrying an older Sync_Version__c.
const syncVersionMessage = "contactsync: this write carries an older source version (Sync_Version__c) than the contact already has; newer data is kept."

// LoadSchema reads a schema file: YAML when the name ends in .yaml or .yml,
// JSON otherwise. Unknown keys are errors.
func LoadSchema(path string) (*Schema, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sfsim: schema: %w", err)
	}
	var s Schema
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		err = yaml.UnmarshalWithOptions(data, &s, yaml.Strict())
	default:
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		err = dec.Decode(&s)
	}
	if err != nil {
		return nil, fmt.Errorf("sfsim: schema %s: %w", path, err)
	}
	if _, err := compileSchema(&s); err != nil {
		return nil, fmt.Errorf("sfsim: schema %s: %w", path, err)
	}
	return &s, nil
}
