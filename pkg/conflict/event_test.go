package conflict

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"
)

func TestEventKey(t *testing.T) {
	base := Event{Kind: KindEmailConflict, Policy: Strict, Segment: "emea", IncomingExternalID: "MC_1",
		ExistingIDs: []string{"003B", "003A"}, SourceVersion: 1, SeenAt: time.Unix(1, 0)}
	k := base.Key()
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(k) {
		t.Fatalf("key %q is not 64 hex chars", k)
	}
	// Replays differ in time, version, payload and Id order: same key.
	replay := base
	replay.ExistingIDs = []string{"003A", "003B"}
	replay.SourceVersion, replay.SeenAt, replay.Delta, replay.Policy = 2, time.Now(), json.RawMessage(`{}`), Email
	if replay.Key() != k {
		t.Fatal("replay changed the key")
	}
	if base.ExistingIDs[0] != "003B" {
		t.Fatal("Key sorted the caller's slice")
	}
	for name, mut := range map[string]func(*Event){
		"segment":  func(e *Event) { e.Segment = "apac" },
		"kind":     func(e *Event) { e.Kind = KindAmbiguousEmail },
		"incoming": func(e *Event) { e.IncomingExternalID = "MC_2" },
		"existing": func(e *Event) { e.ExistingIDs = []string{"003A"} },
		"boundary": func(e *Event) { e.Segment, e.Kind = "emea|Email_Conflict", "" },
	} {
		e := base
		mut(&e)
		if e.Key() == k {
			t.Errorf("changing %s kept the key", name)
		}
	}
}

func TestEventJSON(t *testing.T) {
	e := Event{Kind: KindRekeyed, Policy: Email, Segment: "emea", IncomingExternalID: "MC_1", Email: "a@x.com",
		ExistingIDs: []string{"003A"}, ExistingExternalIDs: []string{"MC_0"}, Delta: json.RawMessage(`{"external_id":"MC_1"}`),
		SourceVersion: 7, SeenAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"kind", "policy", "segment", "incoming_external_id", "email", "existing_ids",
		"existing_external_ids", "delta", "source_version", "seen_at", "key"} {
		if _, ok := m[f]; !ok {
			t.Errorf("field %s missing in %s", f, b)
		}
	}
	if m["key"] != e.Key() {
		t.Errorf("key %v, want %s", m["key"], e.Key())
	}
	back, err := DecodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Key() != e.Key() || !back.SeenAt.Equal(e.SeenAt) || string(back.Delta) != string(e.Delta) {
		t.Fatalf("round trip: %+v", back)
	}
	for _, bad := range []string{`{`, `{"kind":"Nope","segment":"s","incoming_external_id":"x"}`,
		`{"kind":"Rekeyed","incoming_external_id":"x"}`, `{"kind":"Rekeyed","segment":"s"}`} {
		if _, err := DecodeEvent([]byte(bad)); err == nil {
			t.Errorf("DecodeEvent(%s): no error", bad)
		}
	}
}
