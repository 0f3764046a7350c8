package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/reconcile"
	"github.com/contactsync/contactsync/pkg/salesforce"
)

// resolved inserts an exception record a steward has decided.
func (h *harness) resolved(t *testing.T, key string, res reconcile.Resolution, incoming, existing string, version int64, email string) string {
	t.Helper()
	payload := fmt.Sprintf(`{"schema":"contact.delta/v1","external_id":%q,"segment":"emea","version":%d,"fields":{"LastName":"Incoming","Email":%q}}`, incoming, version, email)
	f := map[string]any{"Exception_Key__c": key, "Status__c": "Resolved", "Resolution__c": string(res), "Kind__c": "Email_Conflict",
		"Incoming_External_Id__c": incoming, "Payload__c": payload, "Source_Version__c": float64(version)}
	if existing != "" {
		f["Existing_Contact__c"] = existing
	}
	id, err := h.srv.Insert("Contact_Sync_Exception__c", f)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (h *harness) exceptionByID(t *testing.T, id string) map[string]any {
	t.Helper()
	for _, r := range h.srv.Records("Contact_Sync_Exception__c") {
		if strings.EqualFold(fmt.Sprint(r["Id"]), id) {
			return r
		}
	}
	t.Fatalf("no exception record %s", id)
	return nil
}

func (h *harness) contactsByExt(t *testing.T, ext string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, r := range h.srv.Records("Contact") {
		if strings.EqualFold(fmt.Sprint(r["External_Contact_ID__c"]), ext) {
			out = append(out, r)
		}
	}
	return out
}

// Each resolution applied once, applied again, and after a newer delta.
func TestApplyResolutions(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	a := &reconcile.Applier{SF: h.sf, Now: func() time.Time { return now }}

	existing, err := h.srv.Insert("Contact", map[string]any{"LastName": "Existing", "Email": "shared@example.com",
		"External_Contact_ID__c": "Y_1", "Sync_Version__c": 1.0})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.srv.Insert("Contact", map[string]any{"LastName": "Newer", "Email": "newer@example.com",
		"External_Contact_ID__c": "MC_NEWER", "Sync_Version__c": 900.0})
	if err != nil {
		t.Fatal(err)
	}
	link := h.resolved(t, "k-link", reconcile.LinkToExisting, "MC_LINK", existing, 5, "shared@example.com")
	keep := h.resolved(t, "k-keep", reconcile.KeepBoth, "MC_KEEP", "", 5, "shared@example.com")
	discard := h.resolved(t, "k-discard", reconcile.DiscardIncoming, "MC_DISCARD", "", 5, "shared@example.com")
	stale := h.resolved(t, "k-stale", reconcile.KeepBoth, "mc_newer", "", 5, "x@example.com") // differs only in case
	gone := h.resolved(t, "k-gone", reconcile.LinkToExisting, "MC_GONE", "", 5, "shared@example.com")

	st, err := a.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Applied != 3 || st.Failed != 2 {
		t.Fatalf("stats %+v, want 3 applied, 2 failed", st)
	}
	wantStatus := map[string]string{link: "Applied", keep: "Applied", discard: "Applied", stale: "Apply_Failed", gone: "Apply_Failed"}
	for id, want := range wantStatus {
		r := h.exceptionByID(t, id)
		if r["Status__c"] != want || r["Applied_At__c"] == nil {
			t.Errorf("%s (%v): status %v applied at %v, want %s", id, r["Resolution__c"], r["Status__c"], r["Applied_At__c"], want)
		}
	}
	if e := fmt.Sprint(h.exceptionByID(t, stale)["Apply_Error__c"]); !strings.Contains(e, "newer delta") {
		t.Errorf("stale: Apply_Error__c %q", e)
	}
	if e := fmt.Sprint(h.exceptionByID(t, gone)["Apply_Error__c"]); !strings.Contains(e, "existing contact is gone") {
		t.Errorf("gone: Apply_Error__c %q", e)
	}
	// Link: the existing contact carries the incoming data and ID.
	if c := h.contactsByExt(t, "MC_LINK"); len(c) != 1 || !strings.EqualFold(fmt.Sprint(c[0]["Id"]), existing) || c[0]["LastName"] != "Incoming" {
		t.Errorf("link: contacts %v, want %s re-keyed to MC_LINK with the incoming data", c, existing)
	}
	// Keep both: a second contact with the same email.
	if c := h.contactsByExt(t, "MC_KEEP"); len(c) != 1 || c[0]["Email"] != "shared@example.com" {
		t.Errorf("keep both: contacts %v", c)
	}
	if c := h.contactsByExt(t, "MC_DISCARD"); len(c) != 0 {
		t.Errorf("discard wrote %v", c)
	}
	if c := h.contactsByExt(t, "MC_NEWER"); len(c) != 1 || c[0]["LastName"] != "Newer" {
		t.Errorf("newer contact rolled back: %v", c)
	}
	contacts := len(h.srv.Records("Contact"))

	// Nothing left to apply: a second pass changes nothing.
	if st, err := a.RunOnce(ctx); err != nil || st != (reconcile.ApplyStats{}) {
		t.Fatalf("second pass: %+v %v, want nothing", st, err)
	}
	// A steward sets Keep_Both back to Resolved: applying again makes no second contact.
	if _, err := h.sf.UpdateCollection(ctx, "Contact_Sync_Exception__c", []salesforce.Record{{"Id": keep, "Status__c": "Resolved"}}, salesforce.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if st, err := a.RunOnce(ctx); err != nil || st.Applied != 1 {
		t.Fatalf("re-resolved pass: %+v %v", st, err)
	}
	if n := len(h.srv.Records("Contact")); n != contacts {
		t.Errorf("%d contacts after applying Keep_Both twice, want %d", n, contacts)
	}
}

// A running reconciler applies a resolution on its own, within its poll.
func TestReconcilerAppliesResolutions(t *testing.T) {
	h := newHarness(t)
	h.start(t, reconcile.Config{ApplyInterval: 20 * time.Millisecond})
	id := h.resolved(t, "k-run", reconcile.KeepBoth, "MC_RUN", "", 3, "run@example.com")
	eventually(t, func() bool { return h.exceptionByID(t, id)["Status__c"] == "Applied" }, func() string {
		return fmt.Sprintf("record %v not applied", h.exceptionByID(t, id))
	})
	if c := h.contactsByExt(t, "MC_RUN"); len(c) != 1 {
		t.Fatalf("contacts %v, want one MC_RUN", c)
	}
}

// Reprocess sends the held delta back onto CONTACTS once.
func TestApplyReprocessRepublishes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a := &reconcile.Applier{SF: h.sf, Publish: func(ctx context.Context, m *nats.Msg) error {
		_, err := h.js.PublishMsg(ctx, m)
		return err
	}}
	h.resolved(t, "k-re", reconcile.Reprocess, "MC_RE", "", 7, "re@example.com")
	for pass := range 2 {
		st, err := a.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := 1 - pass; st.Applied != want || st.Failed != 0 {
			t.Fatalf("pass %d: %+v, want %d applied", pass, st, want)
		}
	}
	s, err := h.js.Stream(ctx, bus.StreamContacts)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("%d messages on %s, want the one reprocessed delta", info.State.Msgs, bus.StreamContacts)
	}
	m, err := s.GetMsg(ctx, info.State.FirstSeq)
	if err != nil {
		t.Fatal(err)
	}
	d, err := delta.Decode(m.Data)
	if err != nil || d.ExternalID != "MC_RE" || d.Version != 7 {
		t.Fatalf("republished %s (%v), want MC_RE version 7", m.Data, err)
	}
	if !strings.HasPrefix(m.Header.Get(jetstream.MsgIDHeader), "reprocess:") {
		t.Errorf("message ID %q", m.Header.Get(jetstream.MsgIDHeader))
	}
}
