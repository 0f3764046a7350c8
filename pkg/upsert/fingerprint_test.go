package upsert

import (
	"encoding/json"
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
