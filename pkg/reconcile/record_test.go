package reconcile

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/contactsync/contactsync/pkg/conflict"
)

func TestRecord(t *testing.T) {
	seen := time.Date(2026, 11, 26, 10, 0, 0, 123e6, time.FixedZone("CET", 3600))
	e := conflict.Event{Kind: conflict.KindRekeyed, Policy: conflict.Email, Segment: "emea", IncomingExternalID: "MC_1",
		Email: "jane@example.com", ExistingIDs: []string{"003A", "003B"}, ExistingExternalIDs: []string{"", "MC_0"},
		Delta: json.RawMessage(`{"external_id":"MC_1"}`), SourceVersion: 1732615200123456, SeenAt: seen}
	rec := Record(e, "Exception_Key__c", 100)
	want := map[string]any{
		"Exception_Key__c": e.Key(), "Kind__c": "Rekeyed", "Policy__c": "email", "Segment__c": "emea",
		"Incoming_External_Id__c": "MC_1", "Existing_Contact__c": "003A", "Existing_External_Id__c": "MC_0",
		"Email__c": "jane@example.com", "Payload__c": `{"external_id":"MC_1"}`, "Source_Version__c": int64(1732615200123456),
		"Last_Seen__c": "2026-11-26T09:00:00.123Z",
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %v (%T), want %v", k, rec[k], rec[k], v)
		}
	}
	if _, ok := rec["Status__c"]; ok {
		t.Error("Status__c sent: it would overwrite a steward's decision")
	}
	if len(rec) != len(want) {
		t.Errorf("record has %d fields, want %d: %v", len(rec), len(want), rec)
	}

	// Caps: joined external IDs at 255 characters, payload at the limit.
	long := strings.Repeat("é", 100)
	e.ExistingExternalIDs = []string{long, long, long}
	e.Delta = json.RawMessage(`"` + strings.Repeat("x", 500) + `"`)
	rec = Record(e, "Exception_Key__c", 100)
	if n := utf8.RuneCountInString(rec["Existing_External_Id__c"].(string)); n != 255 {
		t.Errorf("Existing_External_Id__c has %d characters, want 255", n)
	}
	if p := rec["Payload__c"].(string); utf8.RuneCountInString(p) != 100 || !strings.HasSuffix(p, "…") {
		t.Errorf("Payload__c not capped: %d characters", utf8.RuneCountInString(p))
	}
	// No existing contact (Multiple matches unknown, or none found): no lookup.
	e.ExistingIDs, e.ExistingExternalIDs, e.Email = nil, nil, ""
	rec = Record(e, "Exception_Key__c", 100)
	for _, f := range []string{"Existing_Contact__c", "Existing_External_Id__c", "Email__c"} {
		if _, ok := rec[f]; ok {
			t.Errorf("%s sent for an event without it", f)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{BatchSize: 201}, {BatchSize: -1}, {MaxDeliver: -1}, {AckWait: time.Millisecond},
		{RetryMax: -1}, {PayloadLimit: -5}} {
		if err := c.validate(); err == nil {
			t.Errorf("validate(%+v): no error", c)
		}
	}
	if err := (Config{}).validate(); err != nil {
		t.Fatal(err)
	}
	d := Config{}.WithDefaults()
	if d.BatchSize != 200 || d.Durable != "reconciler" || d.MaxDeliver != 10 || d.KeyField != "Exception_Key__c" {
		t.Fatalf("defaults: %+v", d)
	}
}
