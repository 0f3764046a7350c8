package reconcile

import (
	"fmt"
	"strings"

	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/telemetry"
)

// Resolution is a steward's decision on a Contact_Sync_Exception__c record
// (its Resolution__c picklist, shipped in deployments/salesforce).
type Resolution string

// The Resolution__c values.
const (
	// LinkToExisting writes the incoming delta onto the existing contact
	// and re-keys it to the incoming external ID.
	LinkToExisting Resolution = "Link_To_Existing"
	// KeepBoth saves the incoming contact as a new one despite the rule.
	KeepBoth Resolution = "Keep_Both"
	// DiscardIncoming drops the delta.
	DiscardIncoming Resolution = "Discard_Incoming"
	// Reprocess runs the delta again under the current policy.
	Reprocess Resolution = "Reprocess"
)

// The Status__c values the apply-back reads and writes.
const (
	StatusResolved    = "Resolved"
	StatusApplied     = "Applied"
	StatusApplyFailed = "Apply_Failed"
)

// ApplyErrorMax is the length of Apply_Error__c (Text 255).
const ApplyErrorMax = 255

// Decision is a resolved exception record, read back from Salesforce.
type Decision struct {
	ID                 string // the exception record's Id
	Resolution         Resolution
	IncomingExternalID string
	ExistingContactID  string // Existing_Contact__c; "" when the contact was deleted (SetNull) or never known
	Payload            string // Payload__c: the held delta
	SourceVersion      int64
}

// Plan is what applying a Decision will do: the delta to write (nil for
// DiscardIncoming) or, when the decision cannot be applied, the reason a
// steward reads in Apply_Error__c.
type Plan struct {
	Decision Decision
	Delta    *delta.Delta
	Failed   string // non-empty: mark Apply_Failed with this reason, write nothing
}

// PlanApply checks a decision before anything is written. Every bad input
// ends in a Plan with Failed set, never an error that would stop the poll:
// an unknown resolution, a payload that no longer decodes (or was cut at
// the Payload__c limit), a payload for another external ID, and
// Link_To_Existing without an existing contact (deleted or merged away,
// which clears the lookup). Whether the contact has since received a newer
// delta is settled at write time by the Sync_Version__c guard.
func PlanApply(d Decision) Plan {
	p := Plan{Decision: d}
	switch d.Resolution {
	case LinkToExisting, KeepBoth, DiscardIncoming, Reprocess:
	case "":
		p.Failed = "no Resolution chosen: pick one of Link_To_Existing, Keep_Both, Discard_Incoming, Reprocess and set Status to Resolved again"
		return p
	default:
		p.Failed = fmt.Sprintf("unknown Resolution %q: pick one of Link_To_Existing, Keep_Both, Discard_Incoming, Reprocess", d.Resolution)
		return p
	}
	if d.Resolution == DiscardIncoming {
		return p
	}
	if strings.TrimSpace(d.Payload) == "" {
		p.Failed = "the record has no Payload (the held delta), so there is nothing to apply; choose Discard_Incoming or re-send the contact from the source"
		return p
	}
	if strings.HasSuffix(d.Payload, "…") {
		p.Failed = "the Payload was cut at the field's limit and cannot be applied; choose Discard_Incoming or re-send the contact from the source"
		return p
	}
	dl, err := delta.Decode([]byte(d.Payload))
	if err != nil {
		p.Failed = "the Payload no longer decodes as a contact delta (" + telemetry.MaskEmails(err.Error()) + "); choose Discard_Incoming or re-send the contact from the source"
		return p
	}
	if d.IncomingExternalID != "" && !strings.EqualFold(dl.ExternalID, d.IncomingExternalID) {
		p.Failed = fmt.Sprintf("the Payload is for external ID %q, not the record's Incoming External Id %q; it was edited by hand", dl.ExternalID, d.IncomingExternalID)
		return p
	}
	if d.Resolution == LinkToExisting && d.ExistingContactID == "" {
		p.Failed = "the existing contact is gone (deleted or merged away, so Existing Contact is empty); choose Keep_Both or Reprocess"
		return p
	}
	p.Delta = &dl
	return p
}

// applyError fits a reason into Apply_Error__c.
func applyError(reason string) string { return truncate(reason, ApplyErrorMax) }
