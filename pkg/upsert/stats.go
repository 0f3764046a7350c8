package upsert

import "sync/atomic"

// Outcome is where one delta ended.
type Outcome int

// The outcomes a delta can have; every published delta ends in exactly one.
const (
	Created Outcome = iota
	Updated
	Adopted
	Rekeyed
	StaleSkipped
	Held
	DeadLettered
	Deleted // a delete applied, or the contact was already gone
	numOutcomes
)

var outcomeNames = [...]string{"created", "updated", "adopted", "rekeyed", "stale_skipped", "held", "dead_lettered", "deleted"}

func (o Outcome) String() string { return outcomeNames[o] }

// Stats counts outcomes. It is safe for concurrent use and may be shared by
// several Upserters (the standalone process sums its whole fleet in one).
type Stats struct {
	outcomes  [numOutcomes]atomic.Int64
	batches   atomic.Int64
	retries   atomic.Int64
	conflicts atomic.Int64
}

// Add counts n deltas with outcome o.
func (s *Stats) Add(o Outcome, n int) { s.outcomes[o].Add(int64(n)) }

// Snapshot is a point-in-time copy of Stats.
type Snapshot struct {
	Created, Updated, Adopted, Rekeyed, StaleSkipped, Held, DeadLettered, Deleted int64
	Batches, Retries, ConflictEvents                                              int64
}

// Done is the number of deltas that reached a final outcome.
func (s Snapshot) Done() int64 {
	return s.Created + s.Updated + s.Adopted + s.Rekeyed + s.StaleSkipped + s.Held + s.DeadLettered + s.Deleted
}

// Snapshot returns the current counts.
func (s *Stats) Snapshot() Snapshot {
	return Snapshot{
		Created: s.outcomes[Created].Load(), Updated: s.outcomes[Updated].Load(),
		Adopted: s.outcomes[Adopted].Load(), Rekeyed: s.outcomes[Rekeyed].Load(),
		StaleSkipped: s.outcomes[StaleSkipped].Load(), Held: s.outcomes[Held].Load(),
		DeadLettered: s.outcomes[DeadLettered].Load(), Deleted: s.outcomes[Deleted].Load(),
		Batches: s.batches.Load(), Retries: s.retries.Load(), ConflictEvents: s.conflicts.Load(),
	}
}
