package upsert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
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
type stateStore struct {
	kv jetstream.KeyValue
	mu sync.Mutex
	// cache[partition][key]
	cache map[int]map[string]contactState
}

func newStateStore(kv jetstream.KeyValue) *stateStore {
	return &stateStore{kv: kv, cache: map[int]map[string]contactState{}}
}

func (s *stateStore) reset(partition int) {
	s.mu.Lock()
	s.cache[partition] = map[string]contactState{}
	s.mu.Unlock()
}

// load returns the state of each key (zero state when none), reading the
// misses from KV concurrently.
func (s *stateStore) load(ctx context.Context, partition int, keys []string) (map[string]contactState, error) {
	out := make(map[string]contactState, len(keys))
	var miss []string
	s.mu.Lock()
	c := s.cache[partition]
	for _, k := range keys {
		if st, ok := c[k]; ok {
			out[k] = st
		} else {
			miss = append(miss, k)
		}
	}
	s.mu.Unlock()
	if len(miss) == 0 {
		return out, nil
	}
	got := make([]contactState, len(miss))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, k := range miss {
		g.Go(func() error {
			e, err := s.kv.Get(gctx, k)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read state %s: %w", k, err)
			}
			return json.Unmarshal(e.Value(), &got[i])
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	c = s.partitionCache(partition, len(miss))
	for i, k := range miss {
		out[k] = got[i]
		c[k] = got[i]
	}
	s.mu.Unlock()
	return out, nil
}

// save writes states to KV (concurrently) and then to the cache.
func (s *stateStore) save(ctx context.Context, partition int, states map[string]contactState) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for k, st := range states {
		b, _ := json.Marshal(st)
		g.Go(func() error {
			if _, err := s.kv.Put(gctx, k, b); err != nil {
				return fmt.Errorf("write state %s: %w", k, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
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
