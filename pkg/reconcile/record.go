package reconcile

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/salesforce"
)

// existingExtIDMax is the length of Existing_External_Id__c (Text 255).
const existingExtIDMax = 255

// lastSeenLayout is the DateTime format sent for Last_Seen__c.
const lastSeenLayout = "2006-01-02T15:04:05.000Z"

// Record maps an event to the Contact_Sync_Exception__c fields written by
// the upsert, keyed by keyField. Status__c is left out on purpose: a new
// record gets the field's default (New) and a steward's Resolved or Ignored
// survives redeliveries and replays. Existing_External_Id__c joins the
// linked external IDs (capped at 255 characters) and Payload__c carries the
// delta (capped at payloadLimit, marked when cut). Email and external IDs are
// sent as they are: a value Salesforce refuses is the event's dead letter.
func Record(e conflict.Event, keyField string, payloadLimit int) salesforce.Record {
	rec := salesforce.Record{
		keyField:                  e.Key(),
		"Kind__c":                 string(e.Kind),
		"Policy__c":               string(e.Policy),
		"Segment__c":              e.Segment,
		"Incoming_External_Id__c": e.IncomingExternalID,
		"Source_Version__c":       e.SourceVersion,
	}
	if len(e.ExistingIDs) > 0 {
		rec["Existing_Contact__c"] = e.ExistingIDs[0]
	}
	var ext []string
	for _, x := range e.ExistingExternalIDs {
		if x != "" {
			ext = append(ext, x)
		}
	}
	if len(ext) > 0 {
		rec["Existing_External_Id__c"] = truncate(strings.Join(ext, ", "), existingExtIDMax)
	}
	if e.Email != "" {
		rec["Email__c"] = e.Email
	}
	if len(e.Delta) > 0 {
		rec["Payload__c"] = truncate(string(e.Delta), payloadLimit)
	}
	seen := e.SeenAt
	if seen.IsZero() {
		seen = time.Now()
	}
	rec["Last_Seen__c"] = seen.UTC().Format(lastSeenLayout)
	return rec
}

// truncate cuts s to at most max characters, ending in "…" when cut.
func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}
