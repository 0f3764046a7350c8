package upsert

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Fingerprint sums the field values the fleet wrote to a contact, so a later
// reader (the daily drift report, pkg/report) can tell whether the contact
// still carries them or was edited by hand in Salesforce. It is
// "<field>,<field>…:<hash>": the sorted API names of the written fields, so
// the reader knows what to query, and a hash over their normalised values
// (see FingerprintValue).
//
// It covers the fields of the last write only: a delta that sends just Phone
// leaves a fingerprint over Phone (and the version field), so a hand edit of
// a field sent by an earlier delta is not seen after that.
func Fingerprint(fields map[string]any) string {
	// Written once per contact per write, so built in two buffers rather
	// than a slice of values, a joined string and a hash.Hash
	// (BenchmarkFingerprint).
	var arr [16]string
	names := arr[:0]
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	var stack [512]byte
	in := stack[:0]
	for _, n := range names {
		in = append(in, n...)
		in = append(in, 0)
		in = append(in, FingerprintValue(fields[n])...)
		in = append(in, 0)
	}
	sum := sha256.Sum256(in)
	n := len(names) // commas and the colon
	for _, name := range names {
		n += len(name)
	}
	out := make([]byte, 0, n+base64.RawURLEncoding.EncodedLen(12))
	for i, name := range names {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, name...)
	}
	out = append(out, ':')
	out = base64.RawURLEncoding.AppendEncode(out, sum[:12])
	return string(out)
}

// FingerprintMatches reports whether values (as read back from Salesforce,
// by API name) still match fp, and the fields fp covers. A value missing
// from values counts as null.
func FingerprintMatches(fp string, values map[string]any) (match bool, fields []string) {
	fields = FingerprintFields(fp)
	vals := make([]string, len(fields))
	for i, n := range fields {
		vals[i] = FingerprintValue(values[n])
	}
	_, sum, _ := strings.Cut(fp, ":")
	return fingerprintHash(fields, vals) == sum, fields
}

// FingerprintFields returns the API names a fingerprint covers (none for "").
func FingerprintFields(fp string) []string {
	names, _, ok := strings.Cut(fp, ":")
	if !ok || names == "" {
		return nil
	}
	return strings.Split(names, ",")
}

// FingerprintValue is the canonical text of a value for the fingerprint:
// null and "" alike (Bulk CSV cannot tell them apart), booleans as
// true/false, and anything that reads as a number in its shortest form, so
// 7, 7.0 and "7" (JSON, SOQL and Bulk CSV spellings) agree. Text is
// compared as is: a field Salesforce rewrites on save would read as drift.
func FingerprintValue(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		s = x
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		s = x.String()
	default:
		s = fmt.Sprint(x)
	}
	if mayBeNumber(s) {
		if f, err := strconv.ParseFloat(s, 64); err == nil && strings.TrimSpace(s) == s {
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
	}
	return s
}

// mayBeNumber is false for text strconv.ParseFloat is sure to refuse (its
// first character cannot start a number, "inf" or "nan"), which spares most
// values the error ParseFloat allocates.
func mayBeNumber(s string) bool {
	if s == "" {
		return false
	}
	switch c := s[0]; {
	case c >= '0' && c <= '9', c == '+', c == '-', c == '.', c == 'i', c == 'I', c == 'n', c == 'N':
		return true
	}
	return false
}

func fingerprintHash(names, vals []string) string {
	h := sha256.New()
	for i, n := range names {
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write([]byte(vals[i]))
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}

// State is one contact's entry in the contact_state bucket, as the fleet
// saves it (key = delta.ContactKey of the external ID).
type State struct {
	ID          string // Salesforce Id
	Version     int64  // last applied source version
	Deleted     bool   // tombstone
	Fingerprint string // of the last write (see Fingerprint); "" before it existed
}

// DecodeState reads a contact_state value.
func DecodeState(data []byte) (State, error) {
	var st contactState
	if err := json.Unmarshal(data, &st); err != nil {
		return State{}, err
	}
	return State{ID: st.ID, Version: st.Version, Deleted: st.Deleted, Fingerprint: st.Fingerprint}, nil
}
