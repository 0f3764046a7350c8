package conflict

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/delta"
)

// Kind is the kind of a sync exception (Contact_Sync_Exception__c.Kind__c).
type Kind string

const (
	// KindEmailConflict: a contact with the same email is linked to another
	// external ID (or adoption is off); nothing was written (strict).
	KindEmailConflict Kind = "Email_Conflict"
	// KindDuplicateCreated: the record was saved anyway with allowSave=true
	// next to a contact with the same email (external-id).
	KindDuplicateCreated Kind = "Duplicate_Created"
	// KindRekeyed: the contact with the same email was updated and re-keyed
	// to the incoming external ID (email).
	KindRekeyed Kind = "Rekeyed"
	// KindAmbiguousEmail: several contacts carry the email; nothing written.
	KindAmbiguousEmail Kind = "Ambiguous_Email"
	// KindBlockedByRule: the duplicate rule's action is Block, so the
	// duplicate could not be saved; nothing written.
	KindBlockedByRule Kind = "Blocked_By_Rule"
	// KindMultipleExternalIDMatches: the external ID matches several
	// contacts (HTTP 300 / DUPLICATE_EXTERNAL_ID); nothing written.
	KindMultipleExternalIDMatches Kind = "Multiple_External_Id_Matches"
)

// Kinds lists every exception kind.
var Kinds = []Kind{KindEmailConflict, KindDuplicateCreated, KindRekeyed, KindAmbiguousEmail,
	KindBlockedByRule, KindMultipleExternalIDMatches}

// Event is a conflict event, published on CONFLICTS
// (contacts.conflict.<segment>) and written by the reconciler as a
// Contact_Sync_Exception__c record keyed by Key().
type Event struct {
	Kind                Kind            `json:"kind"`
	Policy              Policy          `json:"policy"`
	Segment             string          `json:"segment"`
	IncomingExternalID  string          `json:"incoming_external_id"`
	Email               string          `json:"email,omitempty"`
	ExistingIDs         []string        `json:"existing_ids,omitempty"`
	ExistingExternalIDs []string        `json:"existing_external_ids,omitempty"` // parallel to ExistingIDs; "" = unlinked
	Delta               json.RawMessage `json:"delta,omitempty"`
	SourceVersion       int64           `json:"source_version"`
	SeenAt              time.Time       `json:"seen_at"`
	// ExceptionKey is Key() at the time of publishing, for consumers that do
	// not import this package. Key() recomputes it and ignores this field.
	ExceptionKey string `json:"key,omitempty"`
}

// Key is the exception's idempotency key (Exception_Key__c, Text 64): the hex
// SHA-256 of segment, kind, incoming external ID and the sorted existing
// contact Ids. It does not depend on time, version or payload, so a replay or
// redelivery of the same conflict maps to the same exception record.
func (e Event) Key() string {
	ids := slices.Clone(e.ExistingIDs)
	slices.Sort(ids)
	h := sha256.New()
	for _, s := range []string{e.Segment, string(e.Kind), e.IncomingExternalID, strings.Join(ids, ",")} {
		h.Write([]byte(s))
		h.Write([]byte{'|'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// MarshalJSON fills the key field from Key().
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	p := plain(e)
	p.ExceptionKey = e.Key()
	return json.Marshal(p)
}

// Message is the event as every publisher sends it (the upserter, a Bulk
// backfill): on contacts.conflict.<segment>, with Nats-Msg-Id
// conflict:<key>:<source version>, so a live run and a backfill make one
// message and one record, and with Cs-External-Id (the incoming external
// ID), which its dead letter keeps for `syncctl dlq list`.
func (e Event) Message() (*nats.Msg, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(bus.ConflictSubject(e.Segment))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("conflict:%s:%d", e.Key(), e.SourceVersion))
	m.Header.Set(delta.HeaderExternalID, e.IncomingExternalID)
	return m, nil
}

// DecodeEvent parses a conflict event and checks what the reconciler needs.
func DecodeEvent(data []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return e, &FieldError{Field: "event", Reason: err.Error()}
	}
	switch {
	case e.Kind == "":
		return e, &FieldError{Field: "kind", Reason: "missing"}
	case !slices.Contains(Kinds, e.Kind):
		return e, &FieldError{Field: "kind", Reason: "unknown kind " + string(e.Kind)}
	case e.Segment == "":
		return e, &FieldError{Field: "segment", Reason: "missing"}
	case e.IncomingExternalID == "":
		return e, &FieldError{Field: "incoming_external_id", Reason: "missing"}
	}
	return e, nil
}

// FieldError names the bad field of an event.
type FieldError struct{ Field, Reason string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }
