package producer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/goccy/go-yaml"
)

// Mapping says how CSV columns become a delta. Column names match the
// header case-insensitively, ignoring surrounding spaces.
type Mapping struct {
	// ExternalID is the column with the external ID (default "external_id").
	ExternalID string `json:"external_id" yaml:"external_id"`
	// Segment is the column with the segment (default "segment").
	Segment string `json:"segment" yaml:"segment"`
	// DefaultSegment is used when the file has no segment column or the
	// cell is empty.
	DefaultSegment string `json:"default_segment" yaml:"default_segment"`
	// Version is the column with an integer version (default "version").
	Version string `json:"version" yaml:"version"`
	// UpdatedAt is the column with an RFC 3339 time, used as the version in
	// microseconds when the version cell is absent or empty (default
	// "updated_at").
	UpdatedAt string `json:"updated_at" yaml:"updated_at"`
	// Fields maps columns to Salesforce field API names. A mapping file that
	// sets fields replaces the default list.
	Fields map[string]string `json:"fields" yaml:"fields"`
	// Empty says what an empty cell means: "omit" (default: leave the field
	// unchanged) or "null" (clear it in Salesforce).
	Empty string `json:"empty" yaml:"empty"`
}

// DefaultMapping is the mapping used without a mapping file.
func DefaultMapping() Mapping {
	return Mapping{
		ExternalID: "external_id", Segment: "segment", Version: "version", UpdatedAt: "updated_at",
		Fields: map[string]string{"first_name": "FirstName", "last_name": "LastName", "email": "Email",
			"phone": "Phone", "title": "Title"},
		Empty: "omit",
	}
}

// LoadMapping reads a JSON (.json) or YAML mapping file. Keys it sets
// override DefaultMapping; unknown keys are an error.
func LoadMapping(path string) (Mapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Mapping{}, fmt.Errorf("mapping: %w", err)
	}
	m, err := ParseMapping(data, strings.EqualFold(filepath.Ext(path), ".json"))
	if err != nil {
		return Mapping{}, fmt.Errorf("mapping %s: %w", path, err)
	}
	return m, nil
}

// ParseMapping parses a mapping document (JSON when isJSON, else YAML) over
// DefaultMapping and validates it.
func ParseMapping(data []byte, isJSON bool) (Mapping, error) {
	var over Mapping
	if isJSON {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&over); err != nil {
			return Mapping{}, err
		}
	} else if err := yaml.UnmarshalWithOptions(data, &over, yaml.Strict()); err != nil {
		return Mapping{}, err
	}
	m := DefaultMapping()
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&m.ExternalID, over.ExternalID)
	set(&m.Segment, over.Segment)
	set(&m.DefaultSegment, over.DefaultSegment)
	set(&m.Version, over.Version)
	set(&m.UpdatedAt, over.UpdatedAt)
	set(&m.Empty, over.Empty)
	if over.Fields != nil {
		m.Fields = over.Fields
	}
	return m, m.validate()
}

func (m Mapping) validate() error {
	if m.ExternalID == "" {
		return fmt.Errorf("mapping: external_id column is required")
	}
	if m.Segment == "" && m.DefaultSegment == "" {
		return fmt.Errorf("mapping: segment column or default_segment is required")
	}
	if m.DefaultSegment != "" {
		if err := delta.ValidateSegment(m.DefaultSegment); err != nil {
			return fmt.Errorf("mapping: default_segment: %w", err)
		}
	}
	if m.Version == "" && m.UpdatedAt == "" {
		return fmt.Errorf("mapping: version or updated_at column is required")
	}
	if m.Empty != "omit" && m.Empty != "null" {
		return fmt.Errorf("mapping: empty %q: want omit or null", m.Empty)
	}
	if len(m.Fields) == 0 {
		return fmt.Errorf("mapping: fields: map at least one column to a Salesforce field")
	}
	for col, name := range m.Fields {
		probe := delta.Delta{Schema: delta.SchemaV1, ExternalID: "x", Segment: "x", Version: 1, Fields: map[string]any{name: ""}}
		if err := probe.Validate(); err != nil {
			return fmt.Errorf("mapping: fields.%s: %w", col, err)
		}
	}
	return nil
}
