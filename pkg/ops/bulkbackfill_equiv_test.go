package ops

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/reconcile"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
	"github.com/contactsync/contactsync/pkg/upsert"
)

// equivIDs are the external IDs of equivHistory; the org snapshot and the
// contact state are compared for each.
var equivIDs = []string{"C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "JUNK"}

// equivHistory seeds the org and CONTACTS with the same data for both
// worlds: a contact with two versions, a duplicate-rule conflict with a
// linked contact, an unlinked contact to adopt, two rows Salesforce refuses
// (too long, invalid email), a contact already applied, one whose org
// record is newer than the history (the Sync_Version__c guard), versions
// published out of order, an external ID whose spelling changes case, and
// an undecodable delta.
func equivHistory(t *testing.T, f *fixture, srv *sfsimtest.Org) {
	t.Helper()
	for _, rec := range []map[string]any{
		{"LastName": "Other", "Email": "dup@example.com", "External_Contact_ID__c": "OTHER"},
		{"LastName": "Unlinked", "Email": "adopt@example.com"},
		{"LastName": "Done", "External_Contact_ID__c": "C5", "Sync_Version__c": 7.0},
		{"LastName": "Newer", "External_Contact_ID__c": "C9", "Sync_Version__c": 9.0},
	} {
		if _, err := srv.Insert("Contact", rec); err != nil {
			t.Fatal(err)
		}
	}
	f.publishFields(t, "emea", "C1", 1, map[string]any{"LastName": "First", "Title": "Kept"})
	f.publishFields(t, "emea", "C1", 2, map[string]any{"LastName": "Second"})
	f.publishFields(t, "emea", "C2", 1, map[string]any{"LastName": "Dup", "Email": "dup@example.com"})
	f.publishFields(t, "emea", "C3", 1, map[string]any{"LastName": "Adopter", "Email": "adopt@example.com"})
	f.publishFields(t, "emea", "C4", 1, map[string]any{"LastName": "Bad", "FirstName": strings.Repeat("x", 41)})
	f.publishFields(t, "emea", "C5", 3, map[string]any{"LastName": "Old"})
	f.publishFields(t, "emea", "C6", 1, map[string]any{"LastName": "Case", "Title": "Mixed"})
	f.publishFields(t, "emea", "c6", 2, map[string]any{"LastName": "Case Folded"})
	f.publishFields(t, "emea", "C7", 1, map[string]any{"LastName": "Mail", "Email": "john.smith@@corp.example"})
	f.publishFields(t, "emea", "C8", 5, map[string]any{"LastName": "Late Newest"})
	f.publishFields(t, "emea", "C8", 4, map[string]any{"LastName": "Early Older"})
	f.publishFields(t, "emea", "C9", 3, map[string]any{"LastName": "Older"})
	junk := nats.NewMsg(delta.Delta{Segment: "emea", ExternalID: "JUNK"}.Subject())
	junk.Data = []byte(`{"schema":"contact.delta/v1","external_id":`)
	junk.Header.Set(delta.HeaderExternalID, "JUNK")
	if _, err := f.js.PublishMsg(f.ctx, junk); err != nil {
		t.Fatal(err)
	}
	kv, err := f.js.KeyValue(f.ctx, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	var c5 string
	for _, r := range srv.Records("Contact") {
		if r["External_Contact_ID__c"] == "C5" {
			c5 = r["Id"].(string)
		}
	}
	if _, err := kv.Put(f.ctx, delta.ContactKey("C5"), fmt.Appendf(nil, `{"id":%q,"v":7}`, c5)); err != nil {
		t.Fatal(err)
	}
}

// orgSnapshot is what a backfill leaves behind, in terms both worlds
// share (Salesforce Ids differ between two emulators, so contacts are
// named by external ID).
type orgSnapshot struct {
	Contacts   map[string]map[string]any // by external ID (folded), or "no-ext:"+LastName
	Exceptions map[string]map[string]any // by Exception_Key__c
	State      map[string]string         // external ID → "v<version> <external ID of the state's Salesforce Id>"
	DLQ        []string                  // distinct "external ID=error code"
}

// volatile fields differ between two runs of the same data.
var volatile = map[string]bool{"Id": true, "CreatedDate": true, "LastModifiedDate": true, "SystemModstamp": true,
	"Last_Seen__c": true, "Existing_Contact__c": true, "Payload__c": true, "Name": true}

func snapshot(t *testing.T, f *fixture, srv *sfsimtest.Org) orgSnapshot {
	t.Helper()
	s := orgSnapshot{Contacts: map[string]map[string]any{}, Exceptions: map[string]map[string]any{}, State: map[string]string{}}
	extOf := map[string]string{}
	clean := func(r map[string]any) map[string]any {
		c := map[string]any{}
		for k, v := range r {
			if !volatile[k] && v != nil {
				c[k] = v
			}
		}
		return c
	}
	for _, r := range srv.Records("Contact") {
		k, _ := r["External_Contact_ID__c"].(string)
		extOf[r["Id"].(string)] = k
		if k == "" {
			k = "no-ext:" + r["LastName"].(string)
		}
		k = strings.ToLower(k)
		if s.Contacts[k] != nil {
			t.Fatalf("two contacts for %s", k)
		}
		s.Contacts[k] = clean(r)
	}
	for _, r := range srv.Records("Contact_Sync_Exception__c") {
		c := clean(r)
		if id, _ := r["Existing_Contact__c"].(string); id != "" {
			c["existing_contact_external_id"] = extOf[id]
		}
		s.Exceptions[r["Exception_Key__c"].(string)] = c
	}
	for _, id := range equivIDs {
		if sid, v := stateOf(t, f, id); v != 0 || sid != "" {
			s.State[id] = fmt.Sprintf("v%d %s", v, extOf[sid])
		}
	}
	dlq := map[string]bool{}
	cons, err := f.js.OrderedConsumer(f.ctx, bus.StreamDLQ, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for range f.msgs(t, bus.StreamDLQ) {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		dlq[strings.ToLower(m.Headers().Get(delta.HeaderExternalID))+"="+m.Headers().Get(bus.HeaderErrorCode)] = true
	}
	s.DLQ = slices.Sorted(maps.Keys(dlq))
	return s
}

// startReconciler runs the reconciler against srv until the test ends.
func startReconciler(t *testing.T, f *fixture, srv *sfsimtest.Org) *reconcile.Reconciler {
	t.Helper()
	rec, err := reconcile.New(f.js, sfClient(t, srv), reconcile.Config{Linger: 5 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rec.Stop(ctx)
	})
	return rec
}

// waitFor polls cond until it holds or the fixture's deadline passes.
func waitFor(t *testing.T, f *fixture, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-f.ctx.Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// conflictsSettled: every conflict event published has been written (or
// dead-lettered) by the reconciler and acknowledged; an event handed back
// for redelivery does not count.
func conflictsSettled(t *testing.T, f *fixture, rec *reconcile.Reconciler) bool {
	c, err := f.js.Consumer(f.ctx, bus.StreamConflicts, "reconciler")
	if err != nil {
		return false
	}
	info, err := c.Info(f.ctx)
	st := rec.Stats()
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && uint64(st.Written+st.DeadLettered) >= f.msgs(t, bus.StreamConflicts)
}

// collectionsWorld backfills by republishing the history onto CONTACTS
// (syncctl backfill without --bulk) and lets two upserters and the
// reconciler settle it, as production does.
func collectionsWorld(t *testing.T, policy conflict.Policy) orgSnapshot {
	f := newFixture(t)
	srv := sfsimtest.Start(t, sfsim.Config{})
	equivHistory(t, f, srv)
	if _, err := f.ops.Backfill(f.ctx, BackfillOptions{Segment: "emea", Ticket: "EQ"}); err != nil {
		t.Fatal(err)
	}
	rec := startReconciler(t, f, srv)
	sf := sfClient(t, srv)
	stats := &upsert.Stats{}
	resolver := conflict.NewResolver(sf, conflict.Config{DefaultPolicy: policy}, nil)
	for i := range 2 {
		nc, err := nats.Connect(f.e.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		u, err := upsert.New(upsert.Config{MaxDelay: 20 * time.Millisecond, Member: fmt.Sprint("eq-", i)},
			upsert.Deps{NATS: nc, Salesforce: sf, Resolver: resolver, Stats: stats})
		if err != nil {
			t.Fatal(err)
		}
		if err := u.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = u.Stop(context.Background()); nc.Close() })
	}
	total := int64(f.msgs(t, bus.StreamContacts))
	waitFor(t, f, "the upserters to settle every delta", func() bool { return stats.Snapshot().Done() >= total })
	waitFor(t, f, "the reconciler", func() bool { return conflictsSettled(t, f, rec) })
	return snapshot(t, f, srv)
}

// bulkWorld backfills the same history through one Bulk job.
func bulkWorld(t *testing.T, policy conflict.Policy) (orgSnapshot, BulkBackfillResult) {
	f := newFixture(t)
	srv := sfsimtest.Start(t, sfsim.Config{})
	equivHistory(t, f, srv)
	rec := startReconciler(t, f, srv)
	c := sfClient(t, srv)
	res, err := f.ops.BulkBackfill(f.ctx, BulkBackfillOptions{Segment: "emea", Ticket: "EQ", SF: c,
		Resolver: conflict.NewResolver(c, conflict.Config{DefaultPolicy: policy}, nil), Bulk: testPoll})
	if err != nil {
		t.Fatalf("BulkBackfill: %v", err)
	}
	waitFor(t, f, "the reconciler", func() bool { return conflictsSettled(t, f, rec) })
	return snapshot(t, f, srv), res
}

// TestBulkBackfillSameOrgAsCollections: under each conflict policy, a
// backfill through Bulk leaves the org, the exception records, the
// contact state and the DLQ as a Collections backfill of the same history
// does.
func TestBulkBackfillSameOrgAsCollections(t *testing.T) {
	for _, policy := range conflict.Policies {
		t.Run(string(policy), func(t *testing.T) {
			want := collectionsWorld(t, policy)
			got, res := bulkWorld(t, policy)
			if len(res.Jobs) != 1 || res.Uploaded == 0 {
				t.Fatalf("the bulk backfill ran no job: %+v", res)
			}
			// The scenario reaches every outcome, so an equal result is not
			// an empty one.
			if len(want.Exceptions) == 0 || len(want.DLQ) < 3 || len(want.State) < 5 {
				t.Fatalf("scenario too thin: %+v", want)
			}
			diff(t, "contact", want.Contacts, got.Contacts)
			diff(t, "exception", want.Exceptions, got.Exceptions)
			diff(t, "state", want.State, got.State)
			if !slices.Equal(want.DLQ, got.DLQ) {
				t.Errorf("DLQ: Collections %v, Bulk %v", want.DLQ, got.DLQ)
			}
		})
	}
}

func diff[V any](t *testing.T, what string, want, got map[string]V) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s %s: Collections %v, Bulk none", what, k, want[k])
			continue
		}
		if fmt.Sprint(g) != fmt.Sprint(want[k]) {
			t.Errorf("%s %s:\n  Collections %v\n  Bulk        %v", what, k, want[k], g)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s %s: Collections none, Bulk %v", what, k, got[k])
		}
	}
}
