package upsert_test

import (
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/sfsim"
)

func deleteDelta(id string, v int64) delta.Delta {
	return delta.Delta{Schema: delta.SchemaV1, ExternalID: id, Segment: "emea", Version: v, Op: delta.OpDelete}
}

// Delete v5, then a stale upsert v4 arrives: the contact stays deleted; a
// newer upsert creates it again.
func TestDeleteThenStaleUpsert(t *testing.T) {
	e := newEnv(t, sfsim.Config{})
	e.startUpserter("m0")
	e.publish(contactDelta("MC_1", 1, map[string]any{"LastName": "Doe", "Email": "doe@example.com"}))
	e.waitDone(1, 30*time.Second)
	if _, ok := e.contacts()["MC_1"]; !ok {
		t.Fatal("MC_1 not created")
	}
	e.publish(deleteDelta("MC_1", 5))
	s := e.waitDone(2, 30*time.Second)
	if s.Deleted != 1 {
		t.Fatalf("after the delete: %+v, want deleted 1", s)
	}
	if _, ok := e.contacts()["MC_1"]; ok {
		t.Fatal("MC_1 still in Salesforce after its delete")
	}
	e.publish(contactDelta("MC_1", 4, map[string]any{"LastName": "Stale"}))
	s = e.waitDone(3, 30*time.Second)
	if s.StaleSkipped != 1 || s.Created != 1 {
		t.Fatalf("after the stale upsert: %+v, want it stale_skipped and nothing created", s)
	}
	if _, ok := e.contacts()["MC_1"]; ok {
		t.Fatal("a stale upsert resurrected MC_1")
	}
	e.publish(contactDelta("MC_1", 6, map[string]any{"LastName": "Back"}))
	s = e.waitDone(4, 30*time.Second)
	if c, ok := e.contacts()["MC_1"]; !ok || c["LastName"] != "Back" || s.Created != 2 {
		t.Fatalf("a newer upsert after the delete: contact %v (present %v), stats %+v", c, ok, s)
	}
}

// A contact the fleet never wrote is found by one batched lookup by external
// ID; one that is not in Salesforce at all counts as deleted.
func TestDeleteByLookupAndAlreadyGone(t *testing.T) {
	e := newEnv(t, sfsim.Config{})
	if _, err := e.srv.Insert("Contact", map[string]any{"LastName": "Seeded", "External_Contact_ID__c": "MC_SEEDED"}); err != nil {
		t.Fatal(err)
	}
	e.startUpserter("m0")
	e.publish(deleteDelta("mc_seeded", 3), deleteDelta("MC_NEVER", 3)) // another spelling: external IDs match case-insensitively
	s := e.waitDone(2, 30*time.Second)
	if s.Deleted != 2 || s.DeadLettered != 0 {
		t.Fatalf("stats %+v, want both deleted", s)
	}
	if _, ok := e.contacts()["MC_SEEDED"]; ok {
		t.Fatal("MC_SEEDED still in Salesforce")
	}
	routes := e.srv.Stats().Routes
	if routes["GET /query"] < 1 || routes["DELETE /composite/sobjects"] != 1 {
		t.Errorf("routes %v: want the lookup and one collections delete", routes)
	}
	// Both are tombstoned: an older upsert of either is stale.
	e.publish(contactDelta("MC_SEEDED", 2, map[string]any{"LastName": "Old"}), contactDelta("MC_NEVER", 1, map[string]any{"LastName": "Old"}))
	s = e.waitDone(4, 30*time.Second)
	if s.StaleSkipped != 2 || len(e.contacts()) != 0 {
		t.Fatalf("stats %+v, contacts %v: older upserts after deletes must be stale", s, e.contacts())
	}
}
