package sfsim

import (
	"fmt"
	"strings"
	"sync"

	"github.com/contactsync/contactsync/pkg/internal/sfmeta"
)

// The default schema is built from the SFDX metadata contactsync ships
// (deployments/salesforce), so the emulator runs what users deploy: the
// custom fields and objects, the duplicate rule with its matching rule and
// exempting permission, and the validation rules (immutable external ID,
// monotonic Sync_Version__c).
// Standard Contact fields are not in the metadata; they come from
// standardContactFields (reference §9.1 lengths).
var (
	metadataOnce   sync.Once
	metadataSchema *Schema
	metadataErr    error
)

func standardContactFields() []Field {
	return []Field{
		{Name: "FirstName", Label: "First Name", Type: "string", Length: 40},
		{Name: "LastName", Label: "Last Name", Type: "string", Length: 80, Required: true},
		{Name: "Email", Type: "email", Length: 80},
		{Name: "Phone", Label: "Business Phone", Type: "phone", Length: 40},
		{Name: "MobilePhone", Label: "Mobile Phone", Type: "phone", Length: 40},
		{Name: "Title", Type: "string", Length: 128},
		{Name: "Department", Type: "string", Length: 80},
		{Name: "MailingStreet", Label: "Mailing Street", Type: "textarea", Length: 255},
		{Name: "MailingCity", Label: "Mailing City", Type: "string", Length: 40},
		{Name: "MailingState", Label: "Mailing State/Province", Type: "string", Length: 80},
		{Name: "MailingPostalCode", Label: "Mailing Zip/Postal Code", Type: "string", Length: 20},
		{Name: "MailingCountry", Label: "Mailing Country", Type: "string", Length: 80},
		{Name: "Description", Label: "Contact Description", Type: "textarea", Length: 32000},
	}
}

// schemaFromShipped loads and converts the shipped metadata once.
func schemaFromShipped() (*Schema, error) {
	metadataOnce.Do(func() {
		md, err := sfmeta.Load()
		if err != nil {
			metadataErr = err
			return
		}
		metadataSchema, metadataErr = SchemaFromMetadata(md)
	})
	return metadataSchema, metadataErr
}

// metadataTypes maps Metadata API field types to describe types.
var metadataTypes = map[string]string{
	"Text": "string", "Email": "email", "Phone": "phone", "Url": "url", "TextArea": "textarea",
	"LongTextArea": "textarea", "Html": "textarea", "Picklist": "picklist", "Lookup": "reference",
	"MasterDetail": "reference", "Number": "double", "Currency": "currency", "Percent": "percent",
	"Checkbox": "boolean", "Date": "date", "DateTime": "datetime",
}

// SchemaFromMetadata converts parsed SFDX metadata into a Schema: Contact
// gets its standard fields plus the custom ones; custom objects keep their
// label and auto-number Name format; active duplicate rules use their
// matching rule's fields; active validation rules keep their
// errorConditionFormula, errorDisplayField and errorMessage (a formula the
// emulator cannot evaluate is an error). A duplicate rule exempting a custom
// permission exempts the integration user, which holds every custom
// permission. Alert texts are not carried over: the emulator answers with
// the recorded "Use one of these records?".
func SchemaFromMetadata(md *sfmeta.Metadata) (*Schema, error) {
	s := &Schema{}
	hasContact := false
	for _, mo := range md.Objects {
		o := Object{Name: mo.Name, Label: mo.Label}
		if mo.Name == "Contact" {
			hasContact = true
			o.KeyPrefix = "003"
			o.Fields = standardContactFields()
		}
		if mo.NameField != nil && mo.NameField.Type == "AutoNumber" {
			o.NameFormat = mo.NameField.DisplayFormat
		}
		for _, mf := range mo.Fields {
			typ, ok := metadataTypes[mf.Type]
			if !ok {
				return nil, fmt.Errorf("sfsim: metadata %s.%s: field type %s is not emulated", mo.Name, mf.Name, mf.Type)
			}
			f := Field{Name: mf.Name, Label: mf.Label, Type: typ, Length: mf.Length, Required: mf.Required,
				ExternalID: mf.ExternalID, Unique: ptr(mf.Unique), CaseSensitive: ptr(mf.CaseSensitive),
				ReferenceTo: mf.ReferenceTo, Restricted: mf.Restricted, Default: mf.DefaultValue()}
			switch mf.Type {
			case "Email":
				f.Length = 80
			case "Phone":
				f.Length = 40
			case "Picklist":
				f.Picklist = mf.PicklistValues()
			}
			o.Fields = append(o.Fields, f)
		}
		s.Objects = append(s.Objects, o)
	}
	if !hasContact {
		s.Objects = append([]Object{{Name: "Contact", KeyPrefix: "003", Fields: standardContactFields()}}, s.Objects...)
	}
	for _, dr := range md.DuplicateRules {
		if !dr.Active {
			continue
		}
		for i, mrName := range dr.MatchingRules {
			obj := dr.Object
			if i < len(dr.MatchObjects) && dr.MatchObjects[i] != "" {
				obj = dr.MatchObjects[i]
			}
			mr, ok := md.MatchingRule(obj, mrName)
			if !ok || !mr.Active {
				continue
			}
			s.DuplicateRules = append(s.DuplicateRules, DuplicateRule{Name: dr.Name, Object: dr.Object,
				MatchingRule: mr.Name, Fields: mr.Fields(), ExemptIntegration: dr.ExemptPermission != ""})
		}
	}
	for _, vr := range md.ValidationRules {
		if !vr.Active {
			continue
		}
		s.ValidationRules = append(s.ValidationRules, ValidationRule{Name: vr.Name, Object: vr.Object,
			Formula: vr.Formula, ErrorDisplayField: vr.ErrorDisplayField, Message: vr.ErrorMessage})
	}
	if _, err := compileSchema(s); err != nil {
		return nil, fmt.Errorf("sfsim: metadata: %w", err)
	}
	return s, nil
}

// formatAutoNumber renders an auto-number display format such as
// "CSX-{000000}" for n.
func formatAutoNumber(format string, n uint64) string {
	i := strings.IndexByte(format, '{')
	j := strings.IndexByte(format, '}')
	if i < 0 || j < i {
		return fmt.Sprintf("%s%d", format, n)
	}
	width := j - i - 1
	return format[:i] + fmt.Sprintf("%0*d", width, n) + format[j+1:]
}
