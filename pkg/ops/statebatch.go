package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/contactsync/contactsync/pkg/bus"
)

// Contact state is read in batches with the same batched direct get the
// upserter uses (orbit.go jetstreamext.GetLastMsgsFor: one request names
// many keys and the server streams back their last entries), so a
// backfill of a 1,000,000-contact segment costs 1,000 requests instead of
// 1,000,000 round trips.
const (
	stateStream  = "KV_" + bus.BucketState
	stateSubject = "$KV." + bus.BucketState + "."
	// stateReadBatch keys per request: nats-server answers a multi-subject
	// direct get with at most 1,024 messages (and 413 beyond).
	stateReadBatch = 1000
)

// storedState is one contact's entry in the state bucket: what the fleet
// applied last (contactState in pkg/upsert) and the revision to
// compare-and-set on (0 = the key has no entry).
type storedState struct {
	ID      string `json:"id,omitempty"`
	Version int64  `json:"v"`
	Deleted bool   `json:"deleted,omitempty"`
	rev     uint64
}

// readStates returns the state of each key that has an entry. A deleted
// or purged key comes back with its revision and a zero state. The reads
// may be answered by a follower that is behind; that only makes an
// already-applied contact look unapplied (state versions only grow), and
// every save is a compare-and-set on the revision read, so a stale read
// never overwrites a newer save.
func readStates(ctx context.Context, js jetstream.JetStream, keys []string) (map[string]storedState, error) {
	out := make(map[string]storedState, len(keys))
	for start := 0; start < len(keys); start += stateReadBatch {
		batch := keys[start:min(start+stateReadBatch, len(keys))]
		subjects := make([]string, len(batch))
		for i, k := range batch {
			subjects[i] = stateSubject + k
		}
		msgs, err := jetstreamext.GetLastMsgsFor(ctx, js, stateStream, subjects)
		if err != nil {
			return nil, fmt.Errorf("read contact state: %w", err)
		}
		for m, err := range msgs {
			if errors.Is(err, jetstreamext.ErrNoMessages) {
				break // none of this batch's keys has an entry
			}
			if err != nil {
				return nil, fmt.Errorf("read contact state: %w", err)
			}
			k := strings.TrimPrefix(m.Subject, stateSubject)
			if op := m.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
				out[k] = storedState{rev: m.Sequence}
				continue
			}
			var st storedState
			if err := json.Unmarshal(m.Data, &st); err != nil {
				return nil, fmt.Errorf("contact state %s: %w", k, err)
			}
			st.rev = m.Sequence
			out[k] = st
		}
	}
	return out, nil
}
