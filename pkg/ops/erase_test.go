package ops

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
)

func TestErase(t *testing.T) {
	f := newFixture(t)
	srv := sfsimtest.Start(t, sfsim.Config{})
	sf := srv.Client(t)
	target, err := srv.Insert("Contact", map[string]any{"LastName": "Erase Me", "Email": "me@example.com", "External_Contact_ID__c": "MC_ERASE"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Insert("Contact", map[string]any{"LastName": "Keep", "External_Contact_ID__c": "MC_KEEP"}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Insert("Contact_Sync_Exception__c", map[string]any{"Exception_Key__c": "k1", "Incoming_External_Id__c": "MC_OTHER",
		"Existing_External_Id__c": "MC_ERASE", "Kind__c": "Email_Conflict"}); err != nil {
		t.Fatal(err)
	}
	f.publishDelta(t, "emea", "MC_ERASE", 1)
	f.publishDelta(t, "apac", "mc_erase", 2) // another spelling, another segment: the same contact
	keep := f.publishDelta(t, "emea", "MC_KEEP", 1)
	f.deadLetter(t, "emea", "MC_ERASE", 3, "INVALID_EMAIL_ADDRESS", "bad email")
	f.deadLetter(t, "emea", "MC_KEEP", 2, "INVALID_EMAIL_ADDRESS", "bad email")
	for i, ev := range []conflict.Event{
		{Kind: conflict.KindEmailConflict, Segment: "emea", IncomingExternalID: "MC_OTHER", ExistingExternalIDs: []string{"MC_ERASE"}, SourceVersion: 1},
		{Kind: conflict.KindEmailConflict, Segment: "emea", IncomingExternalID: "MC_KEEP", ExistingExternalIDs: []string{"MC_OTHER"}, SourceVersion: 1},
	} {
		b, _ := json.Marshal(ev)
		if _, err := f.js.Publish(f.ctx, bus.ConflictSubject("emea"), b, jetstream.WithMsgID("ev"+string(rune('0'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	kv, err := f.js.KeyValue(f.ctx, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(f.ctx, delta.ContactKey("MC_ERASE"), []byte(`{"id":"`+target+`","v":3}`)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	dry, err := f.ops.Erase(ctx, sf, EraseConfig{ExternalID: "MC_ERASE", Ticket: "GDPR-7", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.Contacts) != 1 || len(dry.Exceptions) != 1 || len(dry.Deltas) != 3 || len(dry.DeadLetters) != 1 || len(dry.Conflicts) != 1 || !dry.State {
		t.Fatalf("dry run found %+v; want 1 contact, 1 exception, 3 deltas (two published, one behind the dead letter), 1 dead letter, 1 event, the state", dry)
	}
	if f.msgs(t, bus.StreamContacts) != 5 || len(srv.Records("Contact")) != 2 {
		t.Fatal("a dry run changed something")
	}

	res, err := f.ops.Erase(ctx, sf, EraseConfig{ExternalID: "MC_ERASE", Ticket: "GDPR-7"})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	WriteErase(&out, res)
	if !strings.Contains(out.String(), "CONTACTS deltas                    3") || strings.Contains(out.String(), "me@example.com") {
		t.Errorf("report:\n%s", out.String())
	}
	for _, r := range srv.Records("Contact") {
		if r["External_Contact_ID__c"] == "MC_ERASE" {
			t.Fatal("the Contact is still in Salesforce")
		}
	}
	if n := len(srv.Records("Contact_Sync_Exception__c")); n != 0 {
		t.Errorf("%d exception records left", n)
	}
	if n := f.msgs(t, bus.StreamContacts); n != 2 {
		t.Errorf("CONTACTS holds %d messages, want MC_KEEP's 2", n)
	}
	if _, err := f.stream(t, bus.StreamContacts).GetMsg(f.ctx, keep); err != nil {
		t.Errorf("MC_KEEP's delta removed: %v", err)
	}
	if f.msgs(t, bus.StreamDLQ) != 1 || f.msgs(t, bus.StreamConflicts) != 1 {
		t.Errorf("DLQ %d, CONFLICTS %d: want the other contact's one each", f.msgs(t, bus.StreamDLQ), f.msgs(t, bus.StreamConflicts))
	}
	if _, err := kv.Get(f.ctx, delta.ContactKey("MC_ERASE")); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("state after erase: %v", err)
	}
	// Erasing again finds nothing and succeeds.
	again, err := f.ops.Erase(ctx, sf, EraseConfig{ExternalID: "MC_ERASE", Ticket: "GDPR-7"})
	if err != nil || len(again.Contacts)+len(again.Deltas)+len(again.DeadLetters)+len(again.Conflicts) != 0 || again.State {
		t.Errorf("second erase: %+v, %v", again, err)
	}
	if _, err := f.ops.Erase(ctx, sf, EraseConfig{ExternalID: "MC_ERASE", Ticket: "bad ticket!"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad ticket: %v", err)
	}
}
