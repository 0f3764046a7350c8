package sfmeta

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// The Metadata API namespace every source file's root element is in.
const metadataNS = "http://soap.sforce.com/2006/04/metadata"

// The structs below mirror the Metadata API types as they appear in DX
// source files. Every element a file may contain is listed (strictUnmarshal
// rejects any other), including the ones Load does not use.

type xCustomObject struct {
	XMLName                xml.Name    `xml:"http://soap.sforce.com/2006/04/metadata CustomObject"`
	DeploymentStatus       string      `xml:"deploymentStatus"`
	Description            string      `xml:"description"`
	EnableActivities       bool        `xml:"enableActivities"`
	EnableBulkAPI          bool        `xml:"enableBulkApi"`
	EnableFeeds            bool        `xml:"enableFeeds"`
	EnableHistory          bool        `xml:"enableHistory"`
	EnableReports          bool        `xml:"enableReports"`
	EnableSearch           bool        `xml:"enableSearch"`
	EnableSharing          bool        `xml:"enableSharing"`
	EnableStreamingAPI     bool        `xml:"enableStreamingApi"`
	ExternalSharingModel   string      `xml:"externalSharingModel"`
	Label                  string      `xml:"label"`
	NameField              *xNameField `xml:"nameField"`
	PluralLabel            string      `xml:"pluralLabel"`
	SharingModel           string      `xml:"sharingModel"`
	Visibility             string      `xml:"visibility"`
	AllowInChatterGroups   bool        `xml:"allowInChatterGroups"`
	CompactLayoutAssigment string      `xml:"compactLayoutAssignment"`
}

type xNameField struct {
	DisplayFormat string `xml:"displayFormat"`
	Label         string `xml:"label"`
	TrackHistory  bool   `xml:"trackHistory"`
	Type          string `xml:"type"`
}

type xCustomField struct {
	XMLName           xml.Name   `xml:"http://soap.sforce.com/2006/04/metadata CustomField"`
	FullName          string     `xml:"fullName"`
	CaseSensitive     bool       `xml:"caseSensitive"`
	DefaultValue      string     `xml:"defaultValue"`
	DeleteConstraint  string     `xml:"deleteConstraint"`
	Description       string     `xml:"description"`
	ExternalID        bool       `xml:"externalId"`
	InlineHelpText    string     `xml:"inlineHelpText"`
	Label             string     `xml:"label"`
	Length            int        `xml:"length"`
	Precision         int        `xml:"precision"`
	ReferenceTo       string     `xml:"referenceTo"`
	RelationshipLabel string     `xml:"relationshipLabel"`
	RelationshipName  string     `xml:"relationshipName"`
	Required          bool       `xml:"required"`
	Scale             int        `xml:"scale"`
	TrackHistory      bool       `xml:"trackHistory"`
	TrackTrending     bool       `xml:"trackTrending"`
	Type              string     `xml:"type"`
	Unique            bool       `xml:"unique"`
	ValueSet          *xValueSet `xml:"valueSet"`
	VisibleLines      int        `xml:"visibleLines"`
}

type xValueSet struct {
	Restricted         bool `xml:"restricted"`
	ValueSetDefinition struct {
		Sorted bool `xml:"sorted"`
		Values []struct {
			FullName string `xml:"fullName"`
			Default  bool   `xml:"default"`
			Label    string `xml:"label"`
		} `xml:"value"`
	} `xml:"valueSetDefinition"`
}

type xValidationRule struct {
	XMLName               xml.Name `xml:"http://soap.sforce.com/2006/04/metadata ValidationRule"`
	FullName              string   `xml:"fullName"`
	Active                bool     `xml:"active"`
	Description           string   `xml:"description"`
	ErrorConditionFormula string   `xml:"errorConditionFormula"`
	ErrorDisplayField     string   `xml:"errorDisplayField"`
	ErrorMessage          string   `xml:"errorMessage"`
}

type xListView struct {
	XMLName     xml.Name  `xml:"http://soap.sforce.com/2006/04/metadata ListView"`
	FullName    string    `xml:"fullName"`
	Columns     []string  `xml:"columns"`
	FilterScope string    `xml:"filterScope"`
	Filters     []xFilter `xml:"filters"`
	Label       string    `xml:"label"`
	Language    string    `xml:"language"`
}

type xFilter struct {
	Field     string `xml:"field"`
	Operation string `xml:"operation"`
	Value     string `xml:"value"`
}

type xMatchingRules struct {
	XMLName       xml.Name `xml:"http://soap.sforce.com/2006/04/metadata MatchingRules"`
	MatchingRules []struct {
		FullName          string `xml:"fullName"`
		BooleanFilter     string `xml:"booleanFilter"`
		Description       string `xml:"description"`
		Label             string `xml:"label"`
		MatchingRuleItems []struct {
			BlankValueBehavior string `xml:"blankValueBehavior"`
			FieldName          string `xml:"fieldName"`
			MatchingMethod     string `xml:"matchingMethod"`
		} `xml:"matchingRuleItems"`
		RuleStatus string `xml:"ruleStatus"`
	} `xml:"matchingRules"`
}

type xDuplicateRule struct {
	XMLName             xml.Name `xml:"http://soap.sforce.com/2006/04/metadata DuplicateRule"`
	ActionOnInsert      string   `xml:"actionOnInsert"`
	ActionOnUpdate      string   `xml:"actionOnUpdate"`
	AlertText           string   `xml:"alertText"`
	Description         string   `xml:"description"`
	DuplicateRuleFilter *struct {
		BooleanFilter            string `xml:"booleanFilter"`
		DuplicateRuleFilterItems []struct {
			Field     string `xml:"field"`
			Operation string `xml:"operation"`
			Value     string `xml:"value"`
			SortOrder int    `xml:"sortOrder"`
			Table     string `xml:"table"`
		} `xml:"duplicateRuleFilterItems"`
	} `xml:"duplicateRuleFilter"`
	DuplicateRuleMatchRules []struct {
		MatchRuleSObjectType string `xml:"matchRuleSObjectType"`
		MatchingRule         string `xml:"matchingRule"`
		ObjectMapping        *struct {
			InputObject   string `xml:"inputObject"`
			OutputObject  string `xml:"outputObject"`
			MappingFields []struct {
				InputField  string `xml:"inputField"`
				OutputField string `xml:"outputField"`
			} `xml:"mappingFields"`
		} `xml:"objectMapping"`
	} `xml:"duplicateRuleMatchRules"`
	IsActive           bool     `xml:"isActive"`
	MasterLabel        string   `xml:"masterLabel"`
	OperationsOnInsert []string `xml:"operationsOnInsert"`
	OperationsOnUpdate []string `xml:"operationsOnUpdate"`
	SecurityOption     string   `xml:"securityOption"`
	SortOrder          int      `xml:"sortOrder"`
}

type xCustomPermission struct {
	XMLName     xml.Name `xml:"http://soap.sforce.com/2006/04/metadata CustomPermission"`
	Description string   `xml:"description"`
	IsLicensed  bool     `xml:"isLicensed"`
	Label       string   `xml:"label"`
}

type xPermissionSet struct {
	XMLName           xml.Name `xml:"http://soap.sforce.com/2006/04/metadata PermissionSet"`
	CustomPermissions []struct {
		Enabled bool   `xml:"enabled"`
		Name    string `xml:"name"`
	} `xml:"customPermissions"`
	Description      string `xml:"description"`
	FieldPermissions []struct {
		Editable bool   `xml:"editable"`
		Field    string `xml:"field"`
		Readable bool   `xml:"readable"`
	} `xml:"fieldPermissions"`
	HasActivationRequired bool   `xml:"hasActivationRequired"`
	Label                 string `xml:"label"`
	License               string `xml:"license"`
	ObjectPermissions     []struct {
		AllowCreate      bool   `xml:"allowCreate"`
		AllowDelete      bool   `xml:"allowDelete"`
		AllowEdit        bool   `xml:"allowEdit"`
		AllowRead        bool   `xml:"allowRead"`
		ModifyAllRecords bool   `xml:"modifyAllRecords"`
		Object           string `xml:"object"`
		ViewAllRecords   bool   `xml:"viewAllRecords"`
	} `xml:"objectPermissions"`
}

// strictUnmarshal decodes data into v (a pointer to one of the x* structs,
// whose XMLName fixes the root element and namespace) and then walks the
// document again, failing on any element the struct does not declare.
// encoding/xml alone would silently drop a misspelt element.
func strictUnmarshal(data []byte, v any) error {
	if err := xml.Unmarshal(data, v); err != nil {
		return err
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stack []reflect.Type // nil entry = leaf element (text only)
	var path []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				stack = append(stack, reflect.TypeOf(v).Elem())
				path = append(path, t.Name.Local)
				continue
			}
			parent := stack[len(stack)-1]
			where := strings.Join(path, "/")
			if parent == nil {
				return fmt.Errorf("element <%s> inside <%s>, which holds text only", t.Name.Local, where)
			}
			child, ok := childType(parent, t.Name.Local)
			if !ok {
				return fmt.Errorf("unknown element <%s> in <%s>", t.Name.Local, where)
			}
			stack = append(stack, child)
			path = append(path, t.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
			path = path[:len(path)-1]
		}
	}
}

// childType returns the struct type expected for child element name of
// struct type parent (nil for a text-only element).
func childType(parent reflect.Type, name string) (reflect.Type, bool) {
	for i := 0; i < parent.NumField(); i++ {
		f := parent.Field(i)
		if f.Name == "XMLName" {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("xml"), ",")
		if tag != name {
			continue
		}
		t := f.Type
		for t.Kind() == reflect.Pointer || (t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8) {
			t = t.Elem()
		}
		if t.Kind() == reflect.Struct {
			return t, true
		}
		return nil, true
	}
	return nil, false
}
