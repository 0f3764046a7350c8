package upsert

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func TestFingerprint(t *testing.T) {
	written := map[string]any{"LastName": "Doe", "Email": "a@x.io", "Sync_Version__c": int64(7), "Phone": nil, "DoNotCall": true}
	fp := Fingerprint(written)
	if got := FingerprintFields(fp); len(got) != 5 || got[0] != "DoNotCall" || got[4] != "Sync_Version__c" {
		t.Fatalf("fields of %q = %v, want the 5 written names sorted", fp, got)
	}
	for _, tc := range []struct {
		name  string
		back  map[string]any
		match bool
	}{
		{"SOQL JSON", map[string]any{"LastName": "Doe", "Email": "a@x.io", "Sync_Version__c": 7.0, "Phone": nil, "DoNotCall": true}, true},
		{"Bulk CSV", map[string]any{"LastName": "Doe", "Email": "a@x.io", "Sync_Version__c": "7", "Phone": "", "DoNotCall": "true"}, true},
		{"json.Number", map[string]any{"LastName": "Doe", "Email": "a@x.io", "Sync_Version__c": json.Number("7.0"), "DoNotCall": true}, true},
		{"extra fields ignored", map[string]any{"Id": "003X", "LastName": "Doe", "Email": "a@x.io", "Sync_Version__c": 7, "DoNotCall": true}, true},
		{"hand edit", map[string]any{"LastName": "Doe-Smith", "Email": "a@x.io", "Sync_Version__c": 7, "DoNotCall": true}, false},
		{"cleared", map[string]any{"LastName": "Doe", "Sync_Version__c": 7, "DoNotCall": true}, false},
		{"case edit", map[string]any{"LastName": "DOE", "Email": "a@x.io", "Sync_Version__c": 7, "DoNotCall": true}, false},
	} {
		if got, _ := FingerprintMatches(fp, tc.back); got != tc.match {
			t.Errorf("%s: match = %v, want %v", tc.name, got, tc.match)
		}
	}
	if fields := FingerprintFields(""); fields != nil {
		t.Errorf("no fingerprint covers %v", fields)
	}
}

func TestDecodeStateReadsFingerprint(t *testing.T) {
	b, _ := json.Marshal(contactState{ID: "003A", Version: 3, Fingerprint: "LastName:abc"})
	st, err := DecodeState(b)
	if err != nil || st.ID != "003A" || st.Version != 3 || st.Fingerprint != "LastName:abc" {
		t.Fatalf("DecodeState(%s) = %+v, %v", b, st, err)
	}
	if st, err := DecodeState([]byte(`{"id":"003B","v":2}`)); err != nil || st.Fingerprint != "" || st.Version != 2 {
		t.Fatalf("old entry: %+v, %v", st, err)
	}
}

// fingerprintReference is Fingerprint as first written (names joined, values
// through fingerprintHash): fingerprints already stored in contact_state
// must keep matching, so the faster build must give the same string.
func fingerprintReference(fields map[string]any) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	vals := make([]string, len(names))
	for i, n := range names {
		vals[i] = FingerprintValue(fields[n])
	}
	return strings.Join(names, ",") + ":" + fingerprintHash(names, vals)
}

func TestFingerprintIsTheStoredOne(t *testing.T) {
	long := strings.Repeat("x", 700) // past the stack buffer
	many := map[string]any{}
	for i := range 30 {
		many[fmt.Sprintf("F%d__c", i)] = i
	}
	for _, f := range []map[string]any{
		{}, {"Email": "jane@example.com"}, {"A": json.Number("7.0"), "B": "7", "C": 7, "D": nil, "E": "", "F": true, "G": 1.5},
		{"LastName": long, "Description": long}, many,
	} {
		got, want := Fingerprint(f), fingerprintReference(f)
		if got != want {
			t.Errorf("Fingerprint(%v) = %q, want the stored form %q", f, got, want)
		}
		if ok, _ := FingerprintMatches(got, f); !ok {
			t.Errorf("FingerprintMatches(Fingerprint(%v)) = false", f)
		}
	}
}

// go test -run '^$' -bench Fingerprint -benchmem ./pkg/upsert
func BenchmarkFingerprint(b *testing.B) {
	f := map[string]any{"Email": "jane.doe@example.com", "FirstName": "Jane", "LastName": "Doe", "Phone": "+1 555 0100",
		"MailingCity": "Springfield", "Age__c": json.Number("42")}
	b.Run("baseline-reference", func(b *testing.B) {
		for b.Loop() {
			_ = fingerprintReference(f)
		}
	})
	b.Run("Fingerprint", func(b *testing.B) {
		for b.Loop() {
			_ = Fingerprint(f)
		}
	})
}

// The shortcut past ParseFloat changes no value's canonical text.
func TestFingerprintValueShortcut(t *testing.T) {
	for _, s := range []string{"", "7", "7.0", "+7", "-0", ".5", "1e3", "0x10", "inf", "Infinity", "NaN", "nan", " 7", "7 ", "1_000",
		"jane@example.com", "Doe", "#1", "(555)", "é"} {
		want := s
		if f, err := strconv.ParseFloat(s, 64); err == nil && strings.TrimSpace(s) == s && s != "" {
			want = strconv.FormatFloat(f, 'f', -1, 64)
		}
		if got := FingerprintValue(s); got != want {
			t.Errorf("FingerprintValue(%q) = %q, want %q", s, got, want)
		}
	}
}
