package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/salesforce"
)

// EraseSalesforce is what an erase needs from the org (*salesforce.Client).
type EraseSalesforce interface {
	QueryAll(ctx context.Context, soql string) ([]salesforce.Record, error)
	DeleteCollection(ctx context.Context, ids []string, allOrNone bool) ([]salesforce.SaveResult, error)
}

// EraseConfig names what Erase looks for.
type EraseConfig struct {
	ExternalID string
	Ticket     string
	DryRun     bool
	// ExternalIDField and Object default to External_Contact_ID__c and
	// Contact.
	ExternalIDField, Object string
}

// EraseResult says what an erase removed (or, dry run, would remove).
type EraseResult struct {
	ExternalID  string   `json:"external_id"`
	Ticket      string   `json:"ticket"`
	DryRun      bool     `json:"dry_run"`
	Contacts    []string `json:"salesforce_contacts"`   // Contact Ids
	Exceptions  []string `json:"salesforce_exceptions"` // Contact_Sync_Exception__c Ids
	Deltas      []uint64 `json:"contacts_seqs"`         // CONTACTS sequences
	DeadLetters []uint64 `json:"dlq_seqs"`
	Conflicts   []uint64 `json:"conflicts_seqs"`
	State       bool     `json:"state"` // the contact_state entry
}

// Erase removes one contact everywhere (right to erasure): the Contact and
// the exception records naming it in Salesforce, its deltas in CONTACTS,
// its dead letters and its conflict events (as incoming or existing
// contact), and its contact state. The external ID matches
// case-insensitively, as Salesforce matches it. Salesforce goes first: if
// it fails, nothing else is removed and the erase can be run again. Stream
// messages are removed with a secure delete (overwritten on disk).
func (o *Ops) Erase(ctx context.Context, sf EraseSalesforce, cfg EraseConfig) (EraseResult, error) {
	res := EraseResult{ExternalID: cfg.ExternalID, Ticket: cfg.Ticket, DryRun: cfg.DryRun}
	if strings.TrimSpace(cfg.ExternalID) == "" {
		return res, fmt.Errorf("%w: --external-id is required", ErrInvalid)
	}
	if err := checkTicket(cfg.Ticket); err != nil {
		return res, err
	}
	if sf == nil {
		return res, fmt.Errorf("%w: erase needs the org: set SF_LOGIN_URL and the SF_* credentials", ErrInvalid)
	}
	if cfg.ExternalIDField == "" {
		cfg.ExternalIDField = delta.ExternalIDField
	}
	if cfg.Object == "" {
		cfg.Object = "Contact"
	}
	key := delta.ContactKey(cfg.ExternalID)
	q := salesforce.Quote(cfg.ExternalID)
	recs, err := sf.QueryAll(ctx, "SELECT Id FROM "+cfg.Object+" WHERE "+cfg.ExternalIDField+" = "+q)
	if err != nil {
		return res, fmt.Errorf("find the contact in Salesforce: %w", err)
	}
	res.Contacts = ids(recs)
	recs, err = sf.QueryAll(ctx, "SELECT Id FROM Contact_Sync_Exception__c WHERE Incoming_External_Id__c = "+q+" OR Existing_External_Id__c = "+q)
	if err != nil {
		return res, fmt.Errorf("find its exception records in Salesforce: %w", err)
	}
	res.Exceptions = ids(recs)
	err = scan(ctx, o.js, bus.StreamContacts, "contacts.delta.*.*."+key, scanFrom{}, true, func(r record) error {
		res.Deltas = append(res.Deltas, r.Seq)
		return nil
	})
	if err != nil {
		return res, err
	}
	err = scan(ctx, o.js, bus.StreamDLQ, "", scanFrom{}, true, func(r record) error {
		if delta.ContactKey(r.Header.Get(delta.HeaderExternalID)) == key {
			res.DeadLetters = append(res.DeadLetters, r.Seq)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	err = scan(ctx, o.js, bus.StreamConflicts, "", scanFrom{}, false, func(r record) error {
		var ev conflict.Event
		if json.Unmarshal(r.Data, &ev) != nil {
			return nil
		}
		match := delta.ContactKey(ev.IncomingExternalID) == key
		for _, x := range ev.ExistingExternalIDs {
			match = match || (x != "" && delta.ContactKey(x) == key)
		}
		if match {
			res.Conflicts = append(res.Conflicts, r.Seq)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	kv, err := o.js.KeyValue(ctx, bus.BucketState)
	if err != nil {
		return res, fmt.Errorf("bucket %s: %w", bus.BucketState, err)
	}
	if _, err := kv.Get(ctx, key); err == nil {
		res.State = true
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return res, fmt.Errorf("read the contact state: %w", err)
	}
	if cfg.DryRun {
		return res, nil
	}
	if err := deleteAll(ctx, sf, append(append([]string{}, res.Contacts...), res.Exceptions...)); err != nil {
		return res, err
	}
	for _, s := range []struct {
		stream string
		seqs   []uint64
	}{{bus.StreamContacts, res.Deltas}, {bus.StreamDLQ, res.DeadLetters}, {bus.StreamConflicts, res.Conflicts}} {
		if len(s.seqs) == 0 {
			continue
		}
		st, err := o.js.Stream(ctx, s.stream)
		if err != nil {
			return res, fmt.Errorf("stream %s: %w", s.stream, err)
		}
		for _, seq := range s.seqs {
			if err := st.SecureDeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
				return res, fmt.Errorf("delete %s message %d: %w", s.stream, seq, err)
			}
		}
	}
	if res.State {
		if err := kv.Purge(ctx, key); err != nil {
			return res, fmt.Errorf("remove the contact state: %w", err)
		}
	}
	return res, nil
}

func ids(recs []salesforce.Record) []string {
	out := []string{}
	for _, r := range recs {
		if id, _ := r["Id"].(string); id != "" {
			out = append(out, id)
		}
	}
	return out
}

// deleteAll deletes records by Id; one already gone is fine.
func deleteAll(ctx context.Context, sf EraseSalesforce, idList []string) error {
	if len(idList) == 0 {
		return nil
	}
	res, err := sf.DeleteCollection(ctx, idList, false)
	if err != nil {
		return fmt.Errorf("delete in Salesforce: %w", err)
	}
	for i, r := range res {
		if r.Success || len(r.Errors) > 0 && r.Errors[0].StatusCode == salesforce.CodeEntityIsDeleted {
			continue
		}
		e := salesforce.RecordError{StatusCode: salesforce.CodeUnknownError}
		if len(r.Errors) > 0 {
			e = r.Errors[0]
		}
		return fmt.Errorf("delete %s in Salesforce: %s: %s", idList[i], e.StatusCode, e.Message)
	}
	return nil
}

// WriteErase prints an erase result for people.
func WriteErase(w interface{ Write([]byte) (int, error) }, r EraseResult) {
	verb := "removed"
	if r.DryRun {
		verb = "would remove"
	}
	fmt.Fprintf(w, "erase %s (ticket %s): %s\n", r.ExternalID, r.Ticket, verb)
	fmt.Fprintf(w, "  Salesforce Contact records         %d %s\n", len(r.Contacts), strings.Join(r.Contacts, " "))
	fmt.Fprintf(w, "  Contact_Sync_Exception__c records  %d %s\n", len(r.Exceptions), strings.Join(r.Exceptions, " "))
	fmt.Fprintf(w, "  CONTACTS deltas                    %d\n", len(r.Deltas))
	fmt.Fprintf(w, "  DLQ dead letters                   %d\n", len(r.DeadLetters))
	fmt.Fprintf(w, "  CONFLICTS events                   %d\n", len(r.Conflicts))
	state := 0
	if r.State {
		state = 1
	}
	fmt.Fprintf(w, "  contact state                      %d\n", state)
}
