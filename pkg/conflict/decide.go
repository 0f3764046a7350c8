package conflict

import "strings"

// Action is what a Decision asks the resolver to do.
type Action int

const (
	// Hold writes nothing; the conflict waits for a steward.
	Hold Action = iota
	// Adopt updates TargetID by Id and sets the incoming external ID on it:
	// the contact was unlinked, or already carries that external ID.
	Adopt
	// Rekey updates TargetID by Id and replaces its external ID with the
	// incoming one (email policy).
	Rekey
	// SaveAnyway upserts the record by external ID with allowSave=true next
	// to the contact with the same email (external-id policy).
	SaveAnyway
)

func (a Action) String() string {
	switch a {
	case Adopt:
		return "adopt"
	case Rekey:
		return "rekey"
	case SaveAnyway:
		return "save-anyway"
	}
	return "hold"
}

// Existing is a Salesforce contact that carries the refused record's email.
type Existing struct {
	ID         string
	Email      string
	ExternalID string // "" = unlinked
}

// Decision is the verdict on one refused record.
type Decision struct {
	Action   Action
	TargetID string // the contact written by Adopt and Rekey
	Kind     Kind   // the exception raised; "" = none
}

// Decide applies the policy table of DESIGN.md to one record with external
// ID incoming, refused by a duplicate rule (DUPLICATES_DETECTED) because of
// the contacts in existing. blocked says the rule's action is Block (the
// refusal's duplicateResult.allowSave was false). In order:
//
//   - a contact already linked to incoming (compared case-insensitively, as
//     the unique external ID field does) is the record itself: Adopt it, no
//     exception, whatever the policy;
//   - no contact found: Hold, Email_Conflict (the steward sees the refusal);
//   - several contacts: Hold, Ambiguous_Email (every policy);
//   - one unlinked contact: Adopt when adoptUnlinked (every policy; an edit by
//     Id is not a duplicate save, so a Block rule does not stop it), else
//     Hold, Email_Conflict;
//   - one contact linked to another external ID:
//     strict: Hold, Email_Conflict (Blocked_By_Rule when blocked);
//     external-id: SaveAnyway, Duplicate_Created (Hold, Blocked_By_Rule when
//     blocked, as allowSave cannot override Block);
//     email: Rekey, Rekeyed (blocked or not: the edit by Id is exempt).
//
// DUPLICATE_EXTERNAL_ID refusals do not reach Decide: they are always Hold,
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
		return Decision{Action: Adopt, TargetID: same[0].ID}
	case len(same) > 1:
		return Decision{Action: Hold, Kind: KindMultipleExternalIDMatches}
	case len(existing) == 0:
		return Decision{Action: Hold, Kind: KindEmailConflict}
	case len(existing) > 1:
		return Decision{Action: Hold, Kind: KindAmbiguousEmail}
	}
	c := existing[0]
	if c.ExternalID == "" {
		if adoptUnlinked {
			return Decision{Action: Adopt, TargetID: c.ID}
		}
		return Decision{Action: Hold, Kind: KindEmailConflict}
	}
	switch policy {
	case Email:
		return Decision{Action: Rekey, TargetID: c.ID, Kind: KindRekeyed}
	case ExternalID:
		if blocked {
			return Decision{Action: Hold, Kind: KindBlockedByRule}
		}
		return Decision{Action: SaveAnyway, Kind: KindDuplicateCreated}
	default: // Strict
		if blocked {
			return Decision{Action: Hold, Kind: KindBlockedByRule}
		}
		return Decision{Action: Hold, Kind: KindEmailConflict}
	}
}
