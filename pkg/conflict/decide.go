package conflict

import (
	"strings"

	"github.com/contactsync/contactsync/pkg/worker"
)

// Existing is a Salesforce contact that carries the refused record's email.
type Existing struct {
	ID         string
	Email      string
	ExternalID string // "" = unlinked
}

// Decision is the verdict on one refused record.
type Decision struct {
	// Outcome is what the decision aims for: worker.Held (write nothing;
	// the conflict waits for a steward), worker.Adopted (update TargetID by
	// Id and set the incoming external ID on it: the contact was unlinked,
	// or already carries it), worker.Rekeyed (update TargetID by Id and
	// replace its external ID with the incoming one, email policy) or
	// worker.Created (upsert by external ID with allowSave=true next to the
	// contact with the same email, external-id policy).
	Outcome  worker.Outcome
	TargetID string // the contact written by Adopted and Rekeyed
	Kind     Kind   // the exception raised; "" = none
}

// Decide applies the policy table of DESIGN.md to one record with external
// ID incoming, refused by a duplicate rule (DUPLICATES_DETECTED) because of
// the contacts in existing. blocked says the rule's action is Block (the
// refusal's duplicateResult.allowSave was false). In order:
//
//   - a contact already linked to incoming (compared case-insensitively, as
//     the unique external ID field does) is the record itself: Adopted, no
//     exception, whatever the policy;
//   - no contact found: Held, Email_Conflict (the steward sees the refusal);
//   - several contacts: Held, Ambiguous_Email (every policy);
//   - one unlinked contact: Adopted when adoptUnlinked (every policy; an edit by
//     Id is not a duplicate save, so a Block rule does not stop it), else
//     Held, Email_Conflict;
//   - one contact linked to another external ID:
//     strict: Held, Email_Conflict (Blocked_By_Rule when blocked);
//     external-id: Created, Duplicate_Created (Held, Blocked_By_Rule when
//     blocked, as allowSave cannot override Block);
//     email: Rekeyed, Rekeyed (blocked or not: the edit by Id is exempt).
//
// DUPLICATE_EXTERNAL_ID refusals do not reach Decide: they are always Held,
// Multiple_External_Id_Matches.
func Decide(policy Policy, adoptUnlinked bool, incoming string, blocked bool, existing []Existing) Decision {
	var same []Existing
	for _, c := range existing {
		if c.ExternalID != "" && strings.EqualFold(c.ExternalID, incoming) {
			same = append(same, c)
		}
	}
	switch {
	case len(same) == 1:
		return Decision{Outcome: worker.Adopted, TargetID: same[0].ID}
	case len(same) > 1:
		return Decision{Outcome: worker.Held, Kind: KindMultipleExternalIDMatches}
	case len(existing) == 0:
		return Decision{Outcome: worker.Held, Kind: KindEmailConflict}
	case len(existing) > 1:
		return Decision{Outcome: worker.Held, Kind: KindAmbiguousEmail}
	}
	c := existing[0]
	if c.ExternalID == "" {
		if adoptUnlinked {
			return Decision{Outcome: worker.Adopted, TargetID: c.ID}
		}
		return Decision{Outcome: worker.Held, Kind: KindEmailConflict}
	}
	switch policy {
	case Email:
		return Decision{Outcome: worker.Rekeyed, TargetID: c.ID, Kind: KindRekeyed}
	case ExternalID:
		if blocked {
			return Decision{Outcome: worker.Held, Kind: KindBlockedByRule}
		}
		return Decision{Outcome: worker.Created, Kind: KindDuplicateCreated}
	default: // Strict
		if blocked {
			return Decision{Outcome: worker.Held, Kind: KindBlockedByRule}
		}
		return Decision{Outcome: worker.Held, Kind: KindEmailConflict}
	}
}
