package reconcile

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPlanApply(t *testing.T) {
	const payload = `{"schema":"contact.delta/v1","external_id":"MC_1","segment":"emea","version":5,"fields":{"LastName":"Doe","Email":"jane@example.com"}}`
	base := Decision{ID: "a01", IncomingExternalID: "MC_1", ExistingContactID: "003000000000001", Payload: payload, SourceVersion: 5}
	with := func(f func(*Decision)) Decision { d := base; f(&d); return d }
	tests := []struct {
		name     string
		d        Decision
		failed   string // substring of the reason; "" = applicable
		hasDelta bool
	}{
		{"link", with(func(d *Decision) { d.Resolution = LinkToExisting }), "", true},
		{"keep both", with(func(d *Decision) { d.Resolution = KeepBoth }), "", true},
		{"reprocess", with(func(d *Decision) { d.Resolution = Reprocess }), "", true},
		{"discard needs no payload", with(func(d *Decision) { d.Resolution = DiscardIncoming; d.Payload = "" }), "", false},
		{"external IDs differing only in case", with(func(d *Decision) { d.Resolution = KeepBoth; d.IncomingExternalID = "mc_1" }), "", true},
		{"unknown resolution", with(func(d *Decision) { d.Resolution = "Merge" }), `unknown Resolution "Merge"`, false},
		{"no resolution", with(func(d *Decision) {}), "no Resolution chosen", false},
		{"payload not JSON", with(func(d *Decision) { d.Resolution = KeepBoth; d.Payload = "{not json" }), "no longer decodes", false},
		{"payload cut", with(func(d *Decision) { d.Resolution = KeepBoth; d.Payload = payload[:40] + "…" }), "was cut", false},
		{"payload empty", with(func(d *Decision) { d.Resolution = Reprocess; d.Payload = " " }), "no Payload", false},
		{"payload for another contact", with(func(d *Decision) { d.Resolution = KeepBoth; d.IncomingExternalID = "MC_2" }), "edited by hand", false},
		{"existing contact deleted", with(func(d *Decision) { d.Resolution = LinkToExisting; d.ExistingContactID = "" }), "existing contact is gone", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PlanApply(tt.d)
			switch {
			case tt.failed == "" && p.Failed != "":
				t.Fatalf("failed %q, want applicable", p.Failed)
			case tt.failed != "" && !strings.Contains(p.Failed, tt.failed):
				t.Fatalf("failed %q, want it to say %q", p.Failed, tt.failed)
			case (p.Delta != nil) != tt.hasDelta:
				t.Fatalf("delta %+v, want one: %v", p.Delta, tt.hasDelta)
			}
			if p.Delta != nil && (p.Delta.Version != 5 || p.Delta.Fields["LastName"] != "Doe") {
				t.Errorf("delta %+v", p.Delta)
			}
			if strings.Contains(p.Failed, "jane@example.com") {
				t.Errorf("reason carries the email in clear: %q", p.Failed)
			}
		})
	}
}

func TestApplyErrorFitsTheField(t *testing.T) {
	if n := utf8.RuneCountInString(applyError(strings.Repeat("é", 400))); n != ApplyErrorMax {
		t.Fatalf("%d characters, want %d", n, ApplyErrorMax)
	}
}
