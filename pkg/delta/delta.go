package delta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/contactsync/contactsync/pkg/internal/jsonw"
)

// SchemaV1 is the value of the schema key of every version-1 delta.
const SchemaV1 = "contact.delta/v1"

// HeaderExternalID is the message header carrying the raw external ID, so
// tools can read it without decoding the subject key or the payload.
const HeaderExternalID = "Cs-External-Id"

// ExternalIDField is the Salesforce field the upserter writes the external ID
// to by default. Deltas must not set it (nor Id) in fields: the external ID
// travels in external_id, and the Salesforce Id is never the producer's to set.
const ExternalIDField = "External_Contact_ID__c"

// MaxExternalIDLen is the longest external ID, in characters (Salesforce
// Text(80)).
const MaxExternalIDLen = 80

// Operations a delta can carry (Delta.Op).
const (
	// OpUpsert (the default, also when op is absent) writes the fields.
	OpUpsert = "upsert"
	// OpDelete deletes the contact in Salesforce. It is versioned like an
	// upsert: once applied, an upsert with an older or equal version is
	// stale, so a late upsert never resurrects the contact; a newer one
	// creates it again. A delete carries no fields.
	OpDelete = "delete"
)

// Delta is one change of one contact.
type Delta struct {
	Schema     string         `json:"schema"`
	ExternalID string         `json:"external_id"`
	Segment    string         `json:"segment"`
	Op         string         `json:"op,omitempty"`     // "" or OpUpsert, or OpDelete
	Version    int64          `json:"version"`          // orders deltas of one contact; µs of the source's updated_at or a sequence
	Fields     map[string]any `json:"fields,omitempty"` // Salesforce API name → string, number, bool or nil (clears the field); none for a delete
	Source     string         `json:"source,omitempty"`
	EmittedAt  time.Time      `json:"emitted_at,omitzero"`
}

// FieldError says which part of a delta is wrong and why. Field is a path such
// as "segment" or "fields.Email"; it is empty when the document as a whole is
// unreadable (malformed JSON).
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Decode parses one delta strictly and validates it. Every failure is a
// *FieldError: malformed JSON (with the byte offset), unknown top-level keys,
// values of the wrong type, trailing data, and everything Validate checks.
// Numbers inside fields decode as json.Number, so they reach Salesforce
// exactly as the producer wrote them.
func Decode(data []byte) (Delta, error) {
	if d, ok := decodeFast(data); ok {
		if err := d.Validate(); err != nil {
			return Delta{}, err
		}
		return d, nil
	}
	return decodeExplained(data)
}

// decodeExplained is the strict encoding/json decode that turns every
// refusal into a *FieldError naming the key.
func decodeExplained(data []byte) (Delta, error) {
	var d Delta
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return Delta{}, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Delta{}, &FieldError{Reason: fmt.Sprintf("malformed JSON at byte %d: data after the delta object", dec.InputOffset())}
	}
	if err := checkDuplicateKeys(data); err != nil {
		return Delta{}, err
	}
	if err := d.Validate(); err != nil {
		return Delta{}, err
	}
	return d, nil
}

// jsonError turns an encoding/json error into a *FieldError.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tim *time.ParseError
	switch {
	case errors.As(err, &syn):
		return &FieldError{Reason: fmt.Sprintf("malformed JSON at byte %d: %s", syn.Offset, syn.Error())}
	case errors.Is(err, io.EOF):
		return &FieldError{Reason: "malformed JSON at byte 0: empty input"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &FieldError{Reason: "malformed JSON: unexpected end of input"}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return &FieldError{Reason: fmt.Sprintf("malformed JSON at byte %d: a delta must be a JSON object, got %s", typ.Offset, typ.Value)}
		}
		return fieldErr(field, "must be %s, got %s (byte %d)", typeName(field), typ.Value, typ.Offset)
	case errors.As(err, &tim):
		return fieldErr("emitted_at", "must be an RFC 3339 time: %s", err.Error())
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return fieldErr(name, "unknown key (allowed: schema, external_id, segment, op, version, fields, source, emitted_at)")
	}
	if strings.Contains(msg, "Time.UnmarshalJSON") || strings.Contains(msg, "parsing time") {
		return fieldErr("emitted_at", "must be an RFC 3339 time")
	}
	return &FieldError{Reason: "malformed JSON: " + strings.TrimPrefix(msg, "json: ")}
}

var topLevelKeys = map[string]bool{"schema": true, "external_id": true, "segment": true, "op": true, "version": true,
	"fields": true, "source": true, "emitted_at": true}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func typeName(field string) string {
	switch {
	case field == "version":
		return "an integer"
	case field == "fields":
		return "an object"
	case field == "emitted_at":
		return "an RFC 3339 time string"
	case strings.HasPrefix(field, "fields."):
		return "a string, number, boolean or null"
	}
	return "a string"
}

// checkDuplicateKeys rejects a key given twice at the top level or inside
// fields (encoding/json would silently keep the last one), and a top-level
// key not spelled exactly as the schema does (encoding/json matches keys
// case-insensitively).
//
// Every delta is decoded twice on its way (producer, upserter), so this is
// on the hot path: a well-formed delta is checked in one pass of
// jsontext's token reader, which rejects duplicate names itself (RFC 7493)
// without allocating per token; only a delta it refuses is walked again,
// slowly, to say which key is wrong (and to accept what it refused for a
// reason this check does not care about, such as invalid UTF-8 or a
// duplicate nested deeper than fields). BenchmarkCheckKeys compares the two.
func checkDuplicateKeys(data []byte) error {
	if keysWellFormed(data) {
		return nil
	}
	return explainKeys(data)
}

// keysWellFormed reports whether data is one JSON object whose top-level
// keys are all schema keys and whose objects have no duplicate names.
func keysWellFormed(data []byte) bool {
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return false
	}
	for dec.PeekKind() == '"' {
		name, err := dec.ReadToken()
		if err != nil || !topLevelKeys[name.String()] {
			return false
		}
		if err := dec.SkipValue(); err != nil {
			return false
		}
	}
	tok, err := dec.ReadToken()
	return err == nil && tok.Kind() == '}'
}

// explainKeys is the slow walk that names the offending key.
func explainKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var walk func(path string, depth int) error
	walk = func(path string, depth int) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		delim, ok := tok.(json.Delim)
		if !ok {
			return nil
		}
		if delim == '[' {
			for dec.More() {
				if err := walk(path, depth+1); err != nil {
					return err
				}
			}
			_, err := dec.Token()
			return err
		}
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			k, _ := kt.(string)
			child := k
			if path != "" {
				child = path + "." + k
			}
			if depth == 0 && !topLevelKeys[k] {
				return fieldErr(k, "unknown key (keys are case-sensitive; allowed: schema, external_id, segment, op, version, fields, source, emitted_at)")
			}
			if seen[k] && depth <= 1 {
				return fieldErr(child, "key appears more than once")
			}
			seen[k] = true
			if err := walk(child, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	}
	return walk("", 0)
}

// Validate checks the delta's shape and returns the first problem as a
// *FieldError. Field values may be string, bool, nil, json.Number or any Go
// number type.
func (d Delta) Validate() error {
	if d.Schema != SchemaV1 {
		if d.Schema == "" {
			return fieldErr("schema", "missing; want %q", SchemaV1)
		}
		return fieldErr("schema", "unsupported schema %q; want %q", d.Schema, SchemaV1)
	}
	if err := validateExternalID(d.ExternalID); err != nil {
		return err
	}
	if err := ValidateSegment(d.Segment); err != nil {
		return err
	}
	if d.Version <= 0 {
		return fieldErr("version", "must be a positive integer (source updated_at in µs or a sequence), got %d", d.Version)
	}
	switch d.Op {
	case "", OpUpsert:
	case OpDelete:
		if len(d.Fields) > 0 {
			return fieldErr("fields", "a delete carries no fields (got %d); remove fields or send an upsert", len(d.Fields))
		}
		return nil
	default:
		return fieldErr("op", "%q is not an operation: want %q (the default) or %q", d.Op, OpUpsert, OpDelete)
	}
	if d.Fields == nil {
		return fieldErr("fields", "missing; want an object of Salesforce field API names to values")
	}
	if len(d.Fields) == 0 {
		return fieldErr("fields", "empty; a delta must change at least one field")
	}
	// The common case, every field good, needs no order; a bad one is
	// looked for again in name order, so the error names the same field
	// every time.
	for name, v := range d.Fields {
		if validateFieldName(name) != nil || validateValue(name, v) != nil {
			return firstFieldError(d.Fields)
		}
	}
	return nil
}

func firstFieldError(fields map[string]any) error {
	for _, name := range sortedKeys(fields) {
		if err := validateFieldName(name); err != nil {
			return err
		}
		if err := validateValue(name, fields[name]); err != nil {
			return err
		}
	}
	return nil
}

func validateExternalID(id string) error {
	if strings.TrimSpace(id) == "" {
		if id == "" {
			return fieldErr("external_id", "missing")
		}
		return fieldErr("external_id", "blank")
	}
	n := 0
	for _, r := range id {
		n++
		if isControl(r) {
			return fieldErr("external_id", "contains control character %U", r)
		}
	}
	if n > MaxExternalIDLen {
		return fieldErr("external_id", "%d characters, longer than %d", n, MaxExternalIDLen)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) || r == 0x2028 || r == 0x2029 }

// ValidateSegment checks a segment token: 1 to 64 of [a-z0-9_-].
func ValidateSegment(seg string) error {
	if seg == "" {
		return fieldErr("segment", "missing")
	}
	if len(seg) > 64 {
		return fieldErr("segment", "%d characters, longer than 64", len(seg))
	}
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fieldErr("segment", "%q is not a segment token: use only a-z, 0-9, '_' and '-'", seg)
		}
	}
	return nil
}

// validateFieldName accepts Salesforce API names: a letter, then letters,
// digits and single underscores, not ending in '_'; custom fields end in
// "__c" (the only place a double underscore may appear).
func validateFieldName(name string) error {
	if name == "" {
		return fieldErr("fields", "empty field name")
	}
	base, _ := strings.CutSuffix(name, "__c")
	bad := base == "" || !isLetter(base[0]) || strings.Contains(base, "__") || strings.HasSuffix(base, "_")
	for i := 0; i < len(base) && !bad; i++ {
		c := base[i]
		bad = !(isLetter(c) || c >= '0' && c <= '9' || c == '_')
	}
	if bad {
		return fieldErr("fields."+name, "not a Salesforce field API name (a letter, then letters, digits and single underscores; custom fields end in __c)")
	}
	if len(name) == 2 && strings.EqualFold(name, "Id") {
		return fieldErr("fields."+name, "the Salesforce Id cannot be set by a delta; contacts are matched by external_id")
	}
	if strings.EqualFold(name, ExternalIDField) {
		return fieldErr("fields."+name, "the external ID field is set from external_id; remove it from fields")
	}
	return nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func validateValue(name string, v any) error {
	switch v := v.(type) {
	case nil, string, bool,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32:
		return nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) { // not representable in JSON
			return fieldErr("fields."+name, "number is not finite")
		}
		return nil
	case json.Number:
		// A JSON number literal (what json.Marshal will write) in float64's
		// range.
		if _, err := strconv.ParseFloat(string(v), 64); err != nil || !jsonw.IsValidNumber(string(v)) {
			return fieldErr("fields."+name, "invalid number %q", string(v))
		}
		return nil
	case map[string]any:
		return fieldErr("fields."+name, "must be a string, number, boolean or null, got an object")
	case []any:
		return fieldErr("fields."+name, "must be a string, number, boolean or null, got an array")
	default:
		return fieldErr("fields."+name, "must be a string, number, boolean or null, got %T", v)
	}
}

// IsDelete reports whether d deletes its contact.
func (d Delta) IsDelete() bool { return d.Op == OpDelete }

// Subject is the subject the delta is published to:
// contacts.delta.<segment>.<ContactKey(external_id)>, so every spelling of
// one contact lands in the same partition.
func (d Delta) Subject() string {
	return "contacts.delta." + d.Segment + "." + ContactKey(d.ExternalID)
}

// MsgID is the Nats-Msg-Id of the delta, external ID + ":" + version, so the
// same change published twice within the stream's duplicate window is stored
// once.
func (d Delta) MsgID() string {
	return d.ExternalID + ":" + strconv.FormatInt(d.Version, 10)
}
