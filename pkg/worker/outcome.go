package worker

import (
	"fmt"
	"strings"
)

// Outcome is where one message ended, or where a decision aims it. Every
// message a worker fetches ends in exactly one.
type Outcome uint8

// The outcomes. Created, Updated, Adopted, Rekeyed and Deleted wrote to
// Salesforce; the others did not.
const (
	// Created: a new record (a contact, an exception record; a contact
	// saved next to a duplicate under the external-id policy).
	Created Outcome = iota
	// Updated: an existing record written.
	Updated
	// Adopted: an existing contact without this external ID (unlinked, or
	// already carrying it) written by Id and linked to it.
	Adopted
	// Rekeyed: an existing contact written by Id and given the incoming
	// external ID in place of its own (email policy).
	Rekeyed
	// Deleted: a delete applied, or the contact was already gone.
	Deleted
	// StaleSkipped: nothing written because something newer is already
	// applied or rides in the same write (superseded).
	StaleSkipped
	// Held: nothing written; the conflict waits for a data steward.
	Held
	// DeadLettered: given up on; stored on the DLQ with the reason, then
	// terminated.
	DeadLettered
	// Retried: no final outcome yet; handed back for redelivery (nak).
	Retried
	numOutcomes
)

// NumOutcomes is the number of outcomes (for arrays indexed by Outcome).
const NumOutcomes = int(numOutcomes)

var outcomeNames = [numOutcomes]string{"created", "updated", "adopted", "rekeyed", "deleted",
	"stale_skipped", "held", "dead_lettered", "retried"}

func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Wrote reports whether the outcome changed a record in Salesforce.
func (o Outcome) Wrote() bool { return o <= Deleted }

// Final reports whether the message is settled for good (not Retried).
func (o Outcome) Final() bool { return o < Retried }

// Outcomes lists every outcome, in order.
func Outcomes() []Outcome {
	out := make([]Outcome, numOutcomes)
	for i := range out {
		out[i] = Outcome(i)
	}
	return out
}

// Tally counts messages by outcome (a batch's, or a run's).
type Tally [numOutcomes]int

// Add counts n messages with outcome o.
func (t *Tally) Add(o Outcome, n int) { t[o] += n }

// Of is the count of o.
func (t Tally) Of(o Outcome) int { return t[o] }

// Total is the number of messages counted.
func (t Tally) Total() int {
	n := 0
	for _, c := range t {
		n += c
	}
	return n
}

// Wrote is the number of messages whose outcome wrote to Salesforce.
func (t Tally) Wrote() int {
	n := 0
	for o, c := range t {
		if Outcome(o).Wrote() {
			n += c
		}
	}
	return n
}

// String lists the non-zero counts, e.g. "created 3, dead_lettered 1".
func (t Tally) String() string {
	var parts []string
	for o, c := range t {
		if c != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", Outcome(o), c))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// Merge adds o's counts to t.
func (t *Tally) Merge(o Tally) {
	for i, c := range o {
		t[i] += c
	}
}
