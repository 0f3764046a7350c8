package upsert

import (
	"testing"

	"github.com/contactsync/contactsync/pkg/salesforce"
)

type concurrencyOnly struct {
	Salesforce
	n int
}

func (c concurrencyOnly) MaxConcurrency() int { return c.n }

// A member holds about memberCalls × SF_MAX_CONCURRENCY calls' worth of
// deltas fetched at once, shared over the partitions it owns, so its memory
// does not grow with a deep backlog or with partitions taken over: the
// symptom was peak heap 1.4–1.7× with 1,000,000 pending against 10,000,
// where each of 16 partitions fetched 1,000 deltas.
func TestBatchIsTheMembersShareOfItsCalls(t *testing.T) {
	for _, tc := range []struct {
		conc, owned, want int
	}{
		{24, 16, 600},  // 48 calls' worth over 16 partitions
		{24, 8, 1000},  // capped at five calls' worth a partition
		{24, 0, 1000},  // nothing owned yet
		{2, 16, 200},   // never below one call's worth
		{48, 16, 1000}, // a larger concurrency takes larger batches
	} {
		u := &Upserter{cfg: Config{BatchSize: 200}, d: Deps{Salesforce: concurrencyOnly{n: tc.conc}}, owned: map[int]*partitionRun{}}
		for p := range tc.owned {
			u.owned[p] = nil
		}
		if got := u.batchMax(); got != tc.want {
			t.Errorf("concurrency %d, %d partitions: batch %d, want %d", tc.conc, tc.owned, got, tc.want)
		}
	}
	// A client that does not say its concurrency counts as the default.
	u := &Upserter{cfg: Config{BatchSize: 200}, owned: map[int]*partitionRun{0: nil, 1: nil}}
	if got, want := u.batchMax(), min(2*salesforce.DefaultMaxConcurrency*200/2, 1000); got != want {
		t.Errorf("default concurrency, 2 partitions: batch %d, want %d", got, want)
	}
}
