package ops

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/report"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
	"github.com/contactsync/contactsync/pkg/upsert"
)

// send publishes an emea delta with fields as the producer does.
func (f *fixture) send(t *testing.T, id string, v int64, fields map[string]any) uint64 {
	t.Helper()
	return f.publishFields(t, "emea", id, v, fields)
}

// awaitState waits until the contact's state satisfies ok (a watch of its
// key: the current value, then every save).
func (f *fixture) awaitState(t *testing.T, id string, what string, ok func(upsert.State) bool) upsert.State {
	t.Helper()
	kv, err := f.js.KeyValue(f.ctx, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.Watch(f.ctx, delta.ContactKey(id))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-f.ctx.Done():
			t.Fatalf("%s: state never %s", id, what)
		case e := <-w.Updates():
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			st, err := upsert.DecodeState(e.Value())
			if err == nil && ok(st) {
				return st
			}
		}
	}
}

func (f *fixture) awaitVersion(t *testing.T, id string, v int64) upsert.State {
	t.Helper()
	return f.awaitState(t, id, fmt.Sprintf("at version %d", v), func(st upsert.State) bool { return st.Version >= v })
}

// contactByExt returns the org's contact with the external ID, or nil.
func contactByExt(org *sfsimtest.Org, ext string) map[string]any {
	for _, r := range org.Records("Contact") {
		if e, _ := r["External_Contact_ID__c"].(string); strings.EqualFold(e, ext) {
			return r
		}
	}
	return nil
}

// samePartition returns an external ID whose deltas share id's CONTACTS
// partition: applied after a message of id, it proves that message was
// handled (one partition is worked in order).
func samePartition(t *testing.T, id string) string {
	p := bus.Partition(delta.ContactKey(id), 16)
	for i := range 1000 {
		s := fmt.Sprintf("SENTINEL_%d", i)
		if bus.Partition(delta.ContactKey(s), 16) == p {
			return s
		}
	}
	t.Fatal("no sentinel")
	return ""
}

// Issue 13: reconcile --repair gives back a contact deleted by hand and one
// edited by hand as the fleet last wrote them, never rolls back a contact
// that got a newer delta after the report, lists what it cannot re-drive,
// and is idempotent per ticket; --dry-run changes nothing.
func TestRepairRedrivesReport3(t *testing.T) {
	f := newFixture(t)
	org := startUpserter(t, f)
	t.Setenv("NATS_URL", f.e.ClientURL())
	org.Setenv(t)
	sf := org.Client(t)
	ctx := f.ctx

	// The sync: MC_A in two deltas (the second sends Title only), MC_B,
	// MC_C, MC_D.
	f.send(t, "MC_A", 1, map[string]any{"LastName": "Ames", "FirstName": "Ann", "Email": "ann.ames@example.com"})
	f.send(t, "MC_A", 2, map[string]any{"Title": "Buyer"})
	f.send(t, "MC_B", 1, map[string]any{"LastName": "Baker", "Email": "bella.baker@example.com"})
	f.send(t, "MC_C", 1, map[string]any{"LastName": "Cole", "Email": "carl.cole@example.com"})
	seqD := f.send(t, "MC_D", 1, map[string]any{"LastName": "Dunn"})
	for id, v := range map[string]int64{"MC_A": 2, "MC_B": 1, "MC_C": 1, "MC_D": 1} {
		f.awaitVersion(t, id, v)
	}
	idA := contactByExt(org, "MC_A")["Id"].(string)

	// By hand in Salesforce: MC_A and MC_D deleted, MC_B and MC_C edited;
	// MC_D's delta has aged out of CONTACTS; HAND_1 the fleet never knew.
	for _, id := range []string{"MC_A", "MC_D"} {
		if err := sf.Delete(ctx, "Contact", contactByExt(org, id)["Id"].(string)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"MC_B", "MC_C"} {
		if err := sf.Update(ctx, "Contact", contactByExt(org, id)["Id"].(string), salesforce.Record{"LastName": "Hand"}, salesforce.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.stream(t, bus.StreamContacts).DeleteMsg(ctx, seqD); err != nil {
		t.Fatal(err)
	}
	if _, err := org.Insert("Contact", map[string]any{"LastName": "Roe", "External_Contact_ID__c": "HAND_1"}); err != nil {
		t.Fatal(err)
	}
	kv, err := f.js.KeyValue(ctx, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}

	// --dry-run lists and changes nothing.
	before := f.lastSeq(t, bus.StreamContacts)
	out, _, err := runCLI(t, "reconcile", "--repair", "--ticket", "REP-1", "--dry-run", "--json")
	var dry RepairResult
	if jerr := json.Unmarshal([]byte(out), &dry); jerr != nil {
		t.Fatalf("--json: %v\n%s", jerr, out)
	}
	if cli.ExitCode(err) != 3 || dry.WouldRedrive != 3 || dry.Redriven != 0 || dry.Skipped[SkipNotInStream] != 1 || dry.Skipped[SkipUnknownToSource] != 1 {
		t.Fatalf("dry run: exit %d (%v) %+v", cli.ExitCode(err), err, dry)
	}
	if f.lastSeq(t, bus.StreamContacts) != before {
		t.Fatal("--dry-run published")
	}
	if keys, _ := kv.ListKeysFiltered(ctx, "repair.>"); keys != nil {
		for k := range keys.Keys() {
			t.Errorf("--dry-run recorded %s", k)
		}
	}
	if strings.Contains(out, "bella.baker") || !strings.Contains(out, "b***@example.com") {
		t.Errorf("emails not masked:\n%s", out)
	}

	// The repair. Between the report and its publishes, MC_C gets a newer
	// delta, applied before the repair's copy of version 1 arrives.
	stderr := &strings.Builder{}
	res, err := f.ops.Repair(ctx, RepairOptions{Ticket: "REP-1", Report: DailyOptions{Org: sf},
		Progress: func(p RepairResult) {
			fmt.Fprintf(stderr, "%s\n", p.Phase)
			if p.Phase == "publish" {
				f.send(t, "MC_C", 2, map[string]any{"LastName": "Cole-Newer"})
				f.awaitVersion(t, "MC_C", 2)
			}
		}})
	if !errors.Is(err, cli.ErrIncomplete) || res.Redriven != 3 || res.Incomplete() != 2 || res.APICalls == 0 {
		t.Fatalf("repair: %v %+v", err, res)
	}
	items := map[string]RepairItem{}
	for _, it := range res.Items {
		items[strings.ToUpper(it.ExternalID)] = it // state keys fold case
	}
	if a := items["MC_A"]; a.Problem != report.GapMissing || a.Outcome != RepairRedriven || a.Version != 2 || a.Folded != 2 {
		t.Errorf("MC_A: %+v, want missing, re-driven at version 2 folding both deltas", a)
	}
	if b := items["MC_B"]; b.Problem != report.GapDrift || b.Outcome != RepairRedriven || b.Version != 1 {
		t.Errorf("MC_B: %+v", b)
	}
	if d := items["MC_D"]; d.Reason != SkipNotInStream || !strings.Contains(d.Detail, "no longer in CONTACTS") {
		t.Errorf("MC_D: %+v", d)
	}
	if h := items["HAND_1"]; h.Reason != SkipUnknownToSource {
		t.Errorf("HAND_1: %+v", h)
	}
	if !strings.Contains(stderr.String(), "scan\npublish\ndone") {
		t.Errorf("progress phases:\n%s", stderr)
	}
	// Every re-driven delta carries the header, on its original subject.
	repaired := 0
	for _, m := range f.storedAfter(t, before) {
		if m.Header.Get(bus.HeaderRepairTicket) != "REP-1" {
			continue
		}
		repaired++
		if !strings.HasPrefix(m.Header.Get(jetstream.MsgIDHeader), "repair:REP-1:") || strings.Count(m.Subject, ".") != 4 {
			t.Errorf("repair message %s has Nats-Msg-Id %q", m.Subject, m.Header.Get(jetstream.MsgIDHeader))
		}
	}
	if repaired != 3 {
		t.Errorf("%d repair messages stored, want 3", repaired)
	}

	// The upserter writes them back.
	f.awaitState(t, "MC_A", "re-created", func(st upsert.State) bool { return st.ID != "" && st.ID != idA })
	sentinel := samePartition(t, "MC_C")
	f.send(t, sentinel, 1, map[string]any{"LastName": "Sentinel"})
	f.awaitVersion(t, sentinel, 1) // MC_C's repair message (before it in the partition) is settled
	f.send(t, samePartition(t, "MC_B"), 1, map[string]any{"LastName": "Sentinel"})
	f.awaitVersion(t, samePartition(t, "MC_B"), 1)

	a := contactByExt(org, "MC_A")
	if a == nil || a["LastName"] != "Ames" || a["Title"] != "Buyer" || a["Email"] != "ann.ames@example.com" {
		t.Errorf("MC_A after the repair: %v, want re-created with every field the fleet wrote", a)
	}
	if b := contactByExt(org, "MC_B"); b["LastName"] != "Baker" {
		t.Errorf("MC_B after the repair: %v, want the fleet's LastName back", b)
	}
	c := contactByExt(org, "MC_C")
	if c["LastName"] != "Cole-Newer" || fmt.Sprint(c["Sync_Version__c"]) != "2" {
		t.Errorf("MC_C: %v, want version 2 kept (the repair's version 1 is stale)", c)
	}

	// The same ticket again: nothing new, and it says so.
	before = f.lastSeq(t, bus.StreamContacts)
	out, _, err = runCLI(t, "reconcile", "--repair", "--ticket", "REP-1")
	if err != nil || !strings.Contains(out, "ticket REP-1 already re-drove 3 contacts") {
		t.Fatalf("same ticket: %v\n%s", err, out)
	}
	if f.lastSeq(t, bus.StreamContacts) != before {
		t.Error("the same ticket published again")
	}

	// The report now lists only what could not be re-driven.
	out, _, _ = runCLI(t, "report", "--daily", "--json")
	var sum struct {
		Totals report.Totals `json:"totals"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Totals.MissingFromSF != 1 || sum.Totals.UnknownToSource != 1 || sum.Totals.Drift != 0 {
		t.Errorf("report 3 after the repair: %+v (%v)", sum.Totals, err)
	}

	// A new hand edit and a new ticket: re-driven again.
	if err := sf.Update(ctx, "Contact", contactByExt(org, "MC_B")["Id"].(string), salesforce.Record{"LastName": "Hand again"}, salesforce.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, "reconcile", "--repair", "--ticket", "REP-2")
	if cli.ExitCode(err) != 3 || !strings.Contains(out, "repair REP-2: re-drove 1 contacts") ||
		!strings.Contains(out, "applied_delta_not_in_stream 1, unknown_to_source 1") || strings.Contains(out, "bella.baker") {
		t.Errorf("new ticket: exit %d (%v)\n%s", cli.ExitCode(err), err, out)
	}
	if n := len(f.storedAfter(t, before)); n != 1 {
		t.Errorf("new ticket stored %d messages, want 1", n)
	}
}

// With a source export, a contact the fleet never applied is published from
// the source's row; a source of IDs only (PostgreSQL) cannot give one, and
// says so.
func TestRepairFromSource(t *testing.T) {
	f := newFixture(t)
	org := startUpserter(t, f)
	t.Setenv("NATS_URL", f.e.ClientURL())
	org.Setenv(t)
	src := filepath.Join(t.TempDir(), "export.ndjson")
	line := `{"schema":"contact.delta/v1","external_id":"NEW_1","segment":"emea","version":5,"fields":{"LastName":"Newman","Email":"nina.newman@example.com"}}`
	if err := os.WriteFile(src, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, "reconcile", "--repair", "--ticket", "SRC-1", "--source", src, "--json")
	var res RepairResult
	if jerr := json.Unmarshal([]byte(out), &res); jerr != nil || err != nil || res.Redriven != 1 || len(res.Items) != 1 || res.Items[0].From != "source" {
		t.Fatalf("from the source: %v %v %+v\n%s", err, jerr, res, out)
	}
	f.awaitVersion(t, "NEW_1", 5)
	if c := contactByExt(org, "NEW_1"); c == nil || c["LastName"] != "Newman" {
		t.Errorf("NEW_1: %v", c)
	}

	res, err = f.ops.Repair(f.ctx, RepairOptions{Ticket: "SRC-2", Report: DailyOptions{Org: org.Client(t),
		Source: &report.Source{Name: "postgres contacts", IDs: map[string]string{"NEW_1": "NEW_1", "NEW_2": "NEW_2"}}}})
	if !errors.Is(err, cli.ErrIncomplete) || res.Skipped[SkipNoDeltaFields] != 1 || res.Redriven != 0 ||
		!strings.Contains(res.Items[0].Detail, "external IDs only") {
		t.Errorf("IDs-only source: %v %+v", err, res)
	}

	// A run of RES-1 that was killed after publishing NEW_3: the rerun
	// skips it and finishes the ticket.
	line += "\n" + `{"schema":"contact.delta/v1","external_id":"NEW_3","segment":"emea","version":7,"fields":{"LastName":"Third"}}`
	if err := os.WriteFile(src, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kv, err := f.js.KeyValue(f.ctx, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(f.ctx, repairContactKey("RES-1", delta.ContactKey("NEW_3")), []byte(`{"v":7}`)); err != nil {
		t.Fatal(err)
	}
	s, err := report.LoadFileDeltas(src, "")
	if err != nil {
		t.Fatal(err)
	}
	before := f.lastSeq(t, bus.StreamContacts)
	res, err = f.ops.Repair(f.ctx, RepairOptions{Ticket: "RES-1", Report: DailyOptions{Org: org.Client(t), Source: s}})
	if err != nil || res.Skipped[SkipAlreadyRedriven] != 1 || res.Redriven != 0 || f.lastSeq(t, bus.StreamContacts) != before {
		t.Fatalf("resumed run: %v %+v", err, res)
	}
	res, err = f.ops.Repair(f.ctx, RepairOptions{Ticket: "RES-1", Report: DailyOptions{Org: org.Client(t), Source: s}})
	if err != nil || res.AlreadyDone == nil || res.AlreadyDone.Redriven != 1 || res.Phase != "done" || res.APICalls != 0 {
		t.Errorf("finished ticket: %v %+v", err, res)
	}
}

func TestCLIReconcileUsage(t *testing.T) {
	f := newFixture(t)
	org := startUpserter(t, f)
	t.Setenv("NATS_URL", f.e.ClientURL())
	org.Setenv(t)
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"reconcile", "--repair"}, "--ticket"},
		{[]string{"reconcile", "--repair", "--dry-run"}, "--ticket"},
		{[]string{"reconcile", "--ticket", "T"}, "--repair"},
		{[]string{"reconcile", "--repair", "--ticket", "a b"}, "--ticket"},
		{[]string{"reconcile", "--repair", "--ticket", "T", "--source", filepath.Join(t.TempDir(), "missing.ndjson")}, "--source"},
	} {
		_, _, err := runCLI(t, tc.args...)
		if cli.ExitCode(err) != 2 || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%v: exit %d (%v), want 2 naming %s", tc.args, cli.ExitCode(err), err, tc.flag)
		}
	}
	// Nothing to repair: exit 0.
	out, _, err := runCLI(t, "reconcile", "--repair", "--ticket", "EMPTY")
	if err != nil || !strings.Contains(out, "nothing to repair") {
		t.Errorf("empty org: %v\n%s", err, out)
	}
}
