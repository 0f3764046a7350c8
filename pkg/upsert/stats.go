package upsert

import (
	"sync/atomic"

	"github.com/contactsync/contactsync/pkg/worker"
)

// Stats counts outcomes. It is safe for concurrent use and may be shared by
// several Upserters (the standalone process sums its whole fleet in one).
type Stats struct {
	outcomes  [worker.NumOutcomes]atomic.Int64
	batches   atomic.Int64
	retries   atomic.Int64
	conflicts atomic.Int64
	calls     callStats
}

// Add counts n deltas with outcome o.
func (s *Stats) Add(o worker.Outcome, n int) { s.outcomes[o].Add(int64(n)) }

// Snapshot is a point-in-time copy of Stats.
type Snapshot struct {
	Created, Updated, Adopted, Rekeyed, StaleSkipped, Held, DeadLettered, Deleted int64
	Batches, Retries, ConflictEvents                                              int64
	// Calls are the shared Collections upsert calls and the records they carried.
	Calls CallSnapshot
}

// Done is the number of deltas that reached a final outcome.
func (s Snapshot) Done() int64 {
	return s.Created + s.Updated + s.Adopted + s.Rekeyed + s.StaleSkipped + s.Held + s.DeadLettered + s.Deleted
}

// Snapshot returns the current counts.
func (s *Stats) Snapshot() Snapshot {
	return Snapshot{
		Created: s.outcomes[worker.Created].Load(), Updated: s.outcomes[worker.Updated].Load(),
		Adopted: s.outcomes[worker.Adopted].Load(), Rekeyed: s.outcomes[worker.Rekeyed].Load(),
		StaleSkipped: s.outcomes[worker.StaleSkipped].Load(), Held: s.outcomes[worker.Held].Load(),
		DeadLettered: s.outcomes[worker.DeadLettered].Load(), Deleted: s.outcomes[worker.Deleted].Load(),
		Batches: s.batches.Load(), Retries: s.retries.Load(), ConflictEvents: s.conflicts.Load(),
		Calls: s.calls.snapshot(),
	}
}
