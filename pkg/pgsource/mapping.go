package pgsource

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/contactsync/contactsync/pkg/delta"
)

// Mapping says which rows to read and how a row becomes a delta. It is read
// from a YAML or JSON file (LoadMapping), in the style of the CSV mapping of
// `producer publish`.
type Mapping struct {
	// Name identifies the source: the watermark key (pg.<name>) and the
	// deltas' source ("postgres:<name>"). Default: the table name.
	Name string `json:"name" yaml:"name"`
	// Table (optionally schema.table) to read; or Query.
	Table string `json:"table" yaml:"table"`
	// Query is a custom SELECT used instead of Table, e.g. a join. It may
	// use $1, the lower bound of the page being read (a timestamptz, or a
	// bigint with Sequence), to let PostgreSQL use an index:
	//   SELECT c.*, s.code AS segment FROM contacts c JOIN segments s ON …
	//   WHERE c.updated_at >= $1
	// The poller wraps it and adds the keyset condition and the order.
	Query string `json:"query" yaml:"query"`
	// Key is the column holding the external ID (required).
	Key string `json:"key" yaml:"key"`
	// UpdatedAt is the timestamp(tz) column that orders changes (default
	// "updated_at"); the delta version is its value in microseconds.
	UpdatedAt string `json:"updated_at" yaml:"updated_at"`
	// Sequence is a monotonically increasing integer column used instead of
	// UpdatedAt; the delta version is its value.
	Sequence string `json:"sequence" yaml:"sequence"`
	// Segment is the column with the segment; DefaultSegment is used when
	// there is none or the value is NULL or empty.
	Segment        string `json:"segment" yaml:"segment"`
	DefaultSegment string `json:"default_segment" yaml:"default_segment"`
	// Fields maps columns to Salesforce field API names (required).
	Fields map[string]string `json:"fields" yaml:"fields"`
	// Deleted is an optional soft-delete column: a row where it is true (a
	// boolean) or not NULL (any other type, e.g. deleted_at) becomes a
	// delete delta.
	Deleted string `json:"deleted" yaml:"deleted"`
	// Null says what a NULL field value means: "null" (default: clear the
	// field in Salesforce, since a row is the contact's whole state) or
	// "omit" (leave the field as it is).
	Null string `json:"null" yaml:"null"`
}

// LoadMapping reads a mapping file: JSON for a .json name, YAML otherwise.
// Unknown keys are an error.
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

// ParseMapping parses a mapping document (JSON when isJSON, else YAML),
// applies the defaults and validates it.
func ParseMapping(data []byte, isJSON bool) (Mapping, error) {
	var m Mapping
	if isJSON {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			return Mapping{}, err
		}
	} else if err := yaml.UnmarshalWithOptions(data, &m, yaml.Strict()); err != nil {
		return Mapping{}, err
	}
	m = m.withDefaults()
	return m, m.validate()
}

func (m Mapping) withDefaults() Mapping {
	if m.UpdatedAt == "" && m.Sequence == "" {
		m.UpdatedAt = "updated_at"
	}
	if m.Name == "" && m.Table != "" {
		m.Name = strings.ToLower(strings.ReplaceAll(m.Table, ".", "_"))
	}
	if m.Null == "" {
		m.Null = "null"
	}
	return m
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (m Mapping) validate() error {
	switch {
	case m.Table == "" && m.Query == "":
		return fmt.Errorf("mapping: set table or query")
	case m.Table != "" && m.Query != "":
		return fmt.Errorf("mapping: set table or query, not both")
	case m.Name == "":
		return fmt.Errorf("mapping: name is required with a query (it keys the watermark)")
	case !nameRE.MatchString(m.Name):
		return fmt.Errorf("mapping: name %q: use 1-64 of A-Z, a-z, 0-9, '_', '-'", m.Name)
	case m.Key == "":
		return fmt.Errorf("mapping: key (the external ID column) is required")
	case m.UpdatedAt != "" && m.Sequence != "":
		return fmt.Errorf("mapping: set updated_at or sequence, not both")
	case m.Segment == "" && m.DefaultSegment == "":
		return fmt.Errorf("mapping: segment column or default_segment is required")
	case m.Null != "null" && m.Null != "omit":
		return fmt.Errorf("mapping: null %q: want null or omit", m.Null)
	case len(m.Fields) == 0:
		return fmt.Errorf("mapping: fields: map at least one column to a Salesforce field")
	}
	if m.DefaultSegment != "" {
		if err := delta.ValidateSegment(m.DefaultSegment); err != nil {
			return fmt.Errorf("mapping: default_segment: %w", err)
		}
	}
	if m.Query != "" && !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(m.Query)), "SELECT") &&
		!strings.HasPrefix(strings.ToUpper(strings.TrimSpace(m.Query)), "WITH") {
		return fmt.Errorf("mapping: query must be a SELECT")
	}
	for col, name := range m.Fields {
		probe := delta.Delta{Schema: delta.SchemaV1, ExternalID: "x", Segment: "x", Version: 1, Fields: map[string]any{name: ""}}
		if err := probe.Validate(); err != nil {
			return fmt.Errorf("mapping: fields.%s: %w", col, err)
		}
	}
	return nil
}

// order is the ordering column (updated_at or sequence).
func (m Mapping) order() string {
	if m.Sequence != "" {
		return m.Sequence
	}
	return m.UpdatedAt
}

// orderSetting names the mapping key of the ordering column, for errors.
func (m Mapping) orderSetting() string {
	if m.Sequence != "" {
		return "sequence"
	}
	return "updated_at"
}

// WatermarkKey is the key of this source's position in the watermarks
// bucket.
func (m Mapping) WatermarkKey() string { return "pg." + m.Name }

// SourceName is the deltas' source.
func (m Mapping) SourceName() string { return "postgres:" + m.Name }
