package upsert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/fleet"
	"github.com/contactsync/contactsync/pkg/internal/jsonw"
)

// contactState is what the fleet remembers per contact: the Salesforce Id
// and the last applied source version (bus.BucketState, key =
// delta.ContactKey).
type contactState struct {
	ID      string `json:"id,omitempty"`
	Version int64  `json:"v"`
	// Deleted marks a tombstone: the contact was deleted at Version, so an
	// upsert with an older or equal version is stale and never brings it
	// back; a newer one creates it again.
	Deleted bool `json:"deleted,omitempty"`
	// Fingerprint of the field values last written (see Fingerprint), for
	// the daily drift report.
	Fingerprint string `json:"fp,omitempty"`
}

// appendJSON writes s as json.Marshal does (the same keys and omissions),
// without reflection: every applied write saves one.
func (s contactState) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if s.ID != "" {
		b = append(b, `"id":`...)
		b = jsonw.AppendString(b, s.ID)
		b = append(b, ',')
	}
	b = append(b, `"v":`...)
	b = strconv.AppendInt(b, s.Version, 10)
	if s.Deleted {
		b = append(b, `,"deleted":true`...)
	}
	if s.Fingerprint != "" {
		b = append(b, `,"fp":`...)
		b = jsonw.AppendString(b, s.Fingerprint)
	}
	return append(b, '}')
}

// stored is a contact's state with the revision it was read at (the stream
// sequence of the key's last entry; 0 = the key has none). Saves are a
// compare-and-set on that revision.
type stored struct {
	contactState
	rev uint64
}

// stateStore reads and writes contact state for the partitions this member
// holds leases on.
//
// Reads are current: misses are read with one batched direct get of the
// bucket's last messages (orbit.go jetstreamext, server 2.11+) that also asks
// for the partition's lease key, which lives in the same bucket (one stream,
// one sequence). A direct get may be answered by a follower (nats-server
// enables direct gets on a follower once it is ~90% caught up, and followers
// apply committed entries after the leader), so a read is accepted only if
// the responder's copy of the lease is ours and at least as new as the
// renewal made just before the read: a store that has applied that entry
// has applied everything written before it, including every save of every
// earlier owner and of this one. Otherwise the read is retried.
//
// Writes are a compare-and-set per key on the revision read
// (Nats-Expected-Last-Subject-Sequence), so a deposed owner's save fails
// instead of overwriting a newer owner's. They are async publishes awaited
// together (what kv.Update does, pipelined).
//
// A per-partition cache spares reads: it is exact while the lease is held,
// since every save under it goes through here, and is dropped when a lease
// is (re)acquired and when a save fails.
type stateStore struct {
	js jetstream.JetStream

	mu    sync.Mutex
	cache map[int]map[string]stored // cache[partition][key]
}

const (
	stateStream  = "KV_" + bus.BucketState
	stateSubject = "$KV." + bus.BucketState + "."
)

// errStaleRead: the responder had not applied our last lease renewal.
var errStaleRead = errors.New("state read from a replica that is behind")

func newStateStore(js jetstream.JetStream) *stateStore {
	return &stateStore{js: js, cache: map[int]map[string]stored{}}
}

func (s *stateStore) reset(partition int) {
	s.mu.Lock()
	s.cache[partition] = map[string]stored{}
	s.mu.Unlock()
}

// load returns the state of each key (zero state, revision 0 when none).
// floor is the lease revision of a renewal made before the call; see the
// type's doc. It fails with fleet.ErrLeaseLost if the lease key names
// another holder, and errStaleRead if the responder is behind.
func (s *stateStore) load(ctx context.Context, partition int, keys []string, lease *fleet.Lease, floor uint64) (map[string]stored, error) {
	out := make(map[string]stored, len(keys))
	var miss []string
	s.mu.Lock()
	c := s.cache[partition]
	for _, k := range keys {
		if st, ok := c[k]; ok {
			out[k] = st
		} else if _, dup := out[k]; !dup {
			out[k] = stored{}
			miss = append(miss, stateSubject+k)
		}
	}
	s.mu.Unlock()
	if len(miss) == 0 {
		return out, nil
	}
	leaseSubj := stateSubject + lease.Key()
	msgs, err := jetstreamext.GetLastMsgsFor(ctx, s.js, stateStream, append(miss, leaseSubj))
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	fresh := false
	for m, err := range msgs {
		if err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
		if m.Subject == leaseSubj {
			if !lease.Holds(m.Data) {
				return nil, fleet.ErrLeaseLost
			}
			fresh = m.Sequence >= floor
			continue
		}
		k := strings.TrimPrefix(m.Subject, stateSubject)
		if op := m.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
			out[k] = stored{rev: m.Sequence}
			continue
		}
		var st contactState
		if err := json.Unmarshal(m.Data, &st); err != nil {
			return nil, fmt.Errorf("read state %s: %w", m.Subject, err)
		}
		out[k] = stored{contactState: st, rev: m.Sequence}
	}
	if !fresh {
		return nil, errStaleRead
	}
	s.mu.Lock()
	c = s.partitionCache(partition, len(miss))
	for _, subj := range miss {
		k := strings.TrimPrefix(subj, stateSubject)
		c[k] = out[k]
	}
	s.mu.Unlock()
	return out, nil
}

// save writes each state with a compare-and-set on its revision and returns
// the keys it could not write. Written keys update the cache; failed ones
// leave it (their revision is unknown now).
func (s *stateStore) save(ctx context.Context, partition int, states map[string]stored) map[string]error {
	failed := map[string]error{}
	type pending struct {
		key string
		st  contactState
		f   jetstream.PubAckFuture
	}
	var futures []pending
	for k, st := range states {
		b := st.contactState.appendJSON(make([]byte, 0, 48+len(st.ID)+len(st.Fingerprint)))
		f, err := s.js.PublishAsync(stateSubject+k, b, jetstream.WithExpectLastSequencePerSubject(st.rev))
		if err != nil {
			failed[k] = fmt.Errorf("write state %s: %w", k, err)
			continue
		}
		futures = append(futures, pending{k, st.contactState, f})
	}
	saved := map[string]stored{}
	for _, p := range futures {
		select {
		case ack := <-p.f.Ok():
			saved[p.key] = stored{contactState: p.st, rev: ack.Sequence}
		case err := <-p.f.Err():
			failed[p.key] = fmt.Errorf("write state %s: %w", p.key, err)
		case <-ctx.Done():
			failed[p.key] = fmt.Errorf("write state %s: %w", p.key, ctx.Err())
		}
	}
	s.mu.Lock()
	c := s.partitionCache(partition, len(saved))
	for k, st := range saved {
		c[k] = st
	}
	for k := range failed {
		delete(c, k)
	}
	s.mu.Unlock()
	return failed
}

// maxCachedPerPartition bounds the cache so memory stays flat however many
// distinct contacts flow through; past it the cache starts over (KV is the
// truth, the cache only saves reads).
const maxCachedPerPartition = 20000

// partitionCache returns the partition's cache with room for n more entries.
// s.mu must be held.
func (s *stateStore) partitionCache(partition, n int) map[string]stored {
	c := s.cache[partition]
	if c == nil || len(c)+n > maxCachedPerPartition {
		c = make(map[string]stored, n)
		s.cache[partition] = c
	}
	return c
}
