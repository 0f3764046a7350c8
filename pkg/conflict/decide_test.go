package conflict

import (
	"fmt"
	"testing"

	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/worker"
)

// TestDecideTable walks every policy through every case of the DESIGN.md
// table ("Duplicate conflicts and policies").
func TestDecideTable(t *testing.T) {
	const x = "MC_1"
	unlinked := []Existing{{ID: "003A", Email: "a@x.com"}}
	other := []Existing{{ID: "003A", Email: "a@x.com", ExternalID: "MC_OTHER"}}
	several := []Existing{{ID: "003A", ExternalID: "MC_OTHER"}, {ID: "003B"}}
	severalUnlinked := []Existing{{ID: "003A"}, {ID: "003B"}}
	sameCase := []Existing{{ID: "003A", ExternalID: "mc_1"}}
	samePlusOther := []Existing{{ID: "003A", ExternalID: "MC_OTHER"}, {ID: "003B", ExternalID: "MC_1"}}

	hold := func(k Kind) Decision { return Decision{Outcome: worker.Held, Kind: k} }
	adopt := Decision{Outcome: worker.Adopted, TargetID: "003A"}
	type want struct{ strict, extID, email Decision }
	cases := []struct {
		name     string
		adopt    bool
		blocked  bool
		existing []Existing
		want     want
	}{
		{"unlinked", true, false, unlinked, want{adopt, adopt, adopt}},
		{"unlinked, Block rule", true, true, unlinked, want{adopt, adopt, adopt}},
		{"unlinked, adoption off", false, false, unlinked,
			want{hold(KindEmailConflict), hold(KindEmailConflict), hold(KindEmailConflict)}},
		{"linked to another external ID", true, false, other, want{
			hold(KindEmailConflict),
			Decision{Outcome: worker.Created, Kind: KindDuplicateCreated},
			Decision{Outcome: worker.Rekeyed, TargetID: "003A", Kind: KindRekeyed}}},
		{"linked to another external ID, adoption off", false, false, other, want{
			hold(KindEmailConflict),
			Decision{Outcome: worker.Created, Kind: KindDuplicateCreated},
			Decision{Outcome: worker.Rekeyed, TargetID: "003A", Kind: KindRekeyed}}},
		{"linked to another external ID, Block rule", true, true, other, want{
			hold(KindBlockedByRule),
			hold(KindBlockedByRule),
			Decision{Outcome: worker.Rekeyed, TargetID: "003A", Kind: KindRekeyed}}},
		{"several contacts", true, false, several,
			want{hold(KindAmbiguousEmail), hold(KindAmbiguousEmail), hold(KindAmbiguousEmail)}},
		{"several unlinked contacts", true, false, severalUnlinked,
			want{hold(KindAmbiguousEmail), hold(KindAmbiguousEmail), hold(KindAmbiguousEmail)}},
		{"several contacts, Block rule", true, true, several,
			want{hold(KindAmbiguousEmail), hold(KindAmbiguousEmail), hold(KindAmbiguousEmail)}},
		{"already linked to the same external ID (other case)", true, false, sameCase,
			want{adopt, adopt, adopt}},
		{"already linked, adoption off, Block rule", false, true, sameCase,
			want{adopt, adopt, adopt}},
		{"linked one among several", true, false, samePlusOther, want{
			Decision{Outcome: worker.Adopted, TargetID: "003B"}, Decision{Outcome: worker.Adopted, TargetID: "003B"}, Decision{Outcome: worker.Adopted, TargetID: "003B"}}},
		{"no contact found", true, false, nil,
			want{hold(KindEmailConflict), hold(KindEmailConflict), hold(KindEmailConflict)}},
	}
	for _, c := range cases {
		for _, pw := range []struct {
			p Policy
			w Decision
		}{{Strict, c.want.strict}, {ExternalID, c.want.extID}, {Email, c.want.email}} {
			t.Run(fmt.Sprintf("%s/%s", pw.p, c.name), func(t *testing.T) {
				got := Decide(pw.p, c.adopt, x, c.blocked, c.existing)
				if got != pw.w {
					t.Fatalf("Decide = %+v, want %+v", got, pw.w)
				}
			})
		}
	}
}

// TestDecideMultipleExternalIDMatches: DUPLICATE_EXTERNAL_ID is held as
// Multiple_External_Id_Matches whatever the policy, with the Ids from the
// message as the existing contacts.
func TestDecideMultipleExternalIDMatches(t *testing.T) {
	for _, p := range Policies {
		r := NewResolver(nil, Config{DefaultPolicy: p}, nil)
		pe := &pending{ref: Refusal{
			Delta: delta.Delta{ExternalID: "MC_9", Fields: map[string]any{"Email": "a@x.com"}},
			Err: salesforce.RecordError{StatusCode: salesforce.CodeDuplicateExternalID,
				Message: "External Contact ID: more than one record found for external id field: [003000000000002AAA, 003000000000001AAA]"},
		}}
		ex, d := r.decide(p, pe, []Existing{{ID: "003X"}})
		if d != (Decision{Outcome: worker.Held, Kind: KindMultipleExternalIDMatches}) {
			t.Fatalf("%s: decision %+v", p, d)
		}
		if len(ex) != 2 || ex[0].ID != "003000000000001AAA" || ex[1].ID != "003000000000002AAA" {
			t.Fatalf("%s: existing %+v", p, ex)
		}
	}
}

// TestDecideMatchRecordsOnly: the rule matched contacts the email query did
// not find; their details are unknown, so nothing is adopted.
func TestDecideMatchRecordsOnly(t *testing.T) {
	r := NewResolver(nil, Config{DefaultPolicy: Email}, nil)
	pe := &pending{email: "a@x.com", ref: Refusal{
		Delta: delta.Delta{ExternalID: "MC_9"},
		Err: salesforce.RecordError{StatusCode: salesforce.CodeDuplicatesDetected, DuplicateResult: &salesforce.DuplicateResult{
			AllowSave: true,
			MatchResults: []salesforce.MatchResult{{MatchRecords: []salesforce.MatchRecord{
				{Record: salesforce.Record{"Id": "003000000000001AAA"}}}}},
		}},
	}}
	ex, d := r.decide(Email, pe, nil)
	if d != (Decision{Outcome: worker.Held, Kind: KindEmailConflict}) || len(ex) != 1 {
		t.Fatalf("decision %+v existing %+v", d, ex)
	}
	// With details carrying the email, the match record is a candidate.
	pe.ref.Err.DuplicateResult.MatchResults[0].MatchRecords[0].Record["Email"] = "A@x.com"
	ex, d = r.decide(Email, pe, nil)
	if d != (Decision{Outcome: worker.Adopted, TargetID: "003000000000001AAA"}) || len(ex) != 1 {
		t.Fatalf("decision %+v existing %+v", d, ex)
	}
	// allowSave=false marks the rule as Block.
	pe.ref.Err.DuplicateResult.AllowSave = false
	pe.ref.Err.DuplicateResult.MatchResults[0].MatchRecords[0].Record[DefaultExternalIDField] = "MC_OTHER"
	r.cfg.DefaultPolicy = ExternalID
	if _, d = r.decide(ExternalID, pe, nil); d != (Decision{Outcome: worker.Held, Kind: KindBlockedByRule}) {
		t.Fatalf("blocked: decision %+v", d)
	}
}

func TestID18(t *testing.T) {
	for in, want := range map[string]string{
		"001A000001IMMhm":    "001A000001IMMhmIAH", // from Salesforce's documentation examples
		"0038M0000016Wv8":    "0038M0000016Wv8QAE", // recorded duplicate result (reference §2.3)
		"0038M0000016Wv8QAE": "0038M0000016Wv8QAE",
		"short":              "short",
	} {
		if got := ID18(in); got != want {
			t.Errorf("ID18(%s) = %s, want %s", in, got, want)
		}
	}
}
