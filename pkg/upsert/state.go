package upsert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/contactsync/contactsync/pkg/bus"
)

// contactState is what the fleet remembers per external ID: the Salesforce Id
// and the last applied source version (bus.BucketState, key = delta.Key).
type contactState struct {
	ID      string `json:"id,omitempty"`
	Version int64  `json:"v"`
}

// stateStore reads and writes contact state through a per-partition cache.
// Only a partition's owner writes its keys, so the cache is exact while the
// partition is owned; it is dropped when ownership is (re)acquired.
//
// A batch costs two round trips to JetStream, not one per contact: misses
// are read with one batched direct get of the bucket's last messages
// (orbit.go jetstreamext, server 2.11+), and writes are async publishes to
// the bucket's subjects awaited together (what kv.Put does, pipelined).
type stateStore struct {
	js jetstream.JetStream

	mu sync.Mutex
	// cache[partition][key]
	cache map[int]map[string]contactState
}

const (
	stateStream  = "KV_" + bus.BucketState
	stateSubject = "$KV." + bus.BucketState + "."
)

func newStateStore(js jetstream.JetStream) *stateStore {
	return &stateStore{js: js, cache: map[int]map[string]contactState{}}
}

func (s *stateStore) reset(partition int) {
	s.mu.Lock()
	s.cache[partition] = map[string]contactState{}
	s.mu.Unlock()
}

// load returns the state of each key (zero state when none).
func (s *stateStore) load(ctx context.Context, partition int, keys []string) (map[string]contactState, error) {
	out := make(map[string]contactState, len(keys))
	var miss []string
	s.mu.Lock()
	c := s.cache[partition]
	for _, k := range keys {
		if st, ok := c[k]; ok {
			out[k] = st
		} else if _, dup := out[k]; !dup {
			out[k] = contactState{}
			miss = append(miss, stateSubject+k)
		}
	}
	s.mu.Unlock()
	if len(miss) == 0 {
		return out, nil
	}
	msgs, err := jetstreamext.GetLastMsgsFor(ctx, s.js, stateStream, miss)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	for m, err := range msgs {
		if err != nil {
			if errors.Is(err, jetstreamext.ErrNoMessages) {
				break // none of the keys has state yet
			}
			return nil, fmt.Errorf("read state: %w", err)
		}
		if op := m.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
			continue
		}
		var st contactState
		if err := json.Unmarshal(m.Data, &st); err != nil {
			return nil, fmt.Errorf("read state %s: %w", m.Subject, err)
		}
		out[strings.TrimPrefix(m.Subject, stateSubject)] = st
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

// save writes states to KV and then to the cache.
func (s *stateStore) save(ctx context.Context, partition int, states map[string]contactState) error {
	futures := make([]jetstream.PubAckFuture, 0, len(states))
	for k, st := range states {
		b, _ := json.Marshal(st)
		f, err := s.js.PublishAsync(stateSubject+k, b)
		if err != nil {
			return fmt.Errorf("write state %s: %w", k, err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("write state %s: %w", strings.TrimPrefix(f.Msg().Subject, stateSubject), err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	c := s.partitionCache(partition, len(states))
	for k, st := range states {
		c[k] = st
	}
	s.mu.Unlock()
	return nil
}

// maxCachedPerPartition bounds the cache so memory stays flat however many
// distinct contacts flow through; past it the cache starts over (KV is the
// truth, the cache only saves reads).
const maxCachedPerPartition = 20000

// partitionCache returns the partition's cache with room for n more entries.
// s.mu must be held.
func (s *stateStore) partitionCache(partition, n int) map[string]contactState {
	c := s.cache[partition]
	if c == nil || len(c)+n > maxCachedPerPartition {
		c = make(map[string]contactState, n)
		s.cache[partition] = c
	}
	return c
}
