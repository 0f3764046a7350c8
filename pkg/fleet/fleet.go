// Package fleet tracks the live members of the upserter fleet and assigns
// partitions to them.
//
// Each member heartbeats its own key in a JetStream KV bucket whose entries
// expire (bus.BucketMembers, TTL a few seconds). Every member lists the live
// keys, sorts them and takes partition p when it is the (p mod n)-th member,
// so ownership is balanced and every member computes the same answer without
// a coordinator. Exclusivity does not depend on this view being consistent:
// each partition's consumer is pinned (JetStream priority group), so while
// two members briefly disagree only the pinned one receives messages.
//
// Why not synadia-io/orbit.go/pcgroups: its static groups need a fixed member
// list, and its elastic groups copy the stream into a second WorkQueue stream
// and change membership only by an admin call, so a crashed replica's
// partitions would wait for an operator. We keep its pinned-consumer technique
// and add TTL-based membership.
package fleet

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Assign returns the partitions (0..partitions-1) that member owns among
// members. Members need not be sorted; a member not in the list owns nothing.
func Assign(members []string, partitions int, member string) []int {
	sorted := slices.Clone(members)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	idx := slices.Index(sorted, member)
	if idx < 0 || len(sorted) == 0 {
		return nil
	}
	var out []int
	for p := 0; p < partitions; p++ {
		if p%len(sorted) == idx {
			out = append(out, p)
		}
	}
	return out
}

// Membership heartbeats one member and reports the live member set.
type Membership struct {
	kv       jetstream.KeyValue
	id       string
	interval time.Duration
	log      *zap.Logger

	mu      sync.Mutex
	members []string
	changes chan []string
}

// Join registers member id in the bucket kv. interval is the heartbeat
// period; it must be well under the bucket's TTL (a third is a good choice).
func Join(ctx context.Context, kv jetstream.KeyValue, id string, interval time.Duration, log *zap.Logger) (*Membership, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if interval <= 0 {
		interval = 2 * time.Second
	}
	m := &Membership{kv: kv, id: id, interval: interval, log: log, changes: make(chan []string, 1)}
	if err := m.beat(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// ID is this member's name.
func (m *Membership) ID() string { return m.id }

// Changes delivers the member list whenever it changes (latest value wins).
func (m *Membership) Changes() <-chan []string { return m.changes }

// Members returns the last observed live member list, sorted.
func (m *Membership) Members() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.members)
}

// Run heartbeats until ctx is done, then removes this member's key so the
// others take over its partitions at once instead of after the TTL.
func (m *Membership) Run(ctx context.Context) {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if err := m.kv.Delete(dctx, m.id); err != nil {
				m.log.Debug("leave fleet", zap.Error(err))
			}
			cancel()
			return
		case <-t.C:
			if err := m.beat(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("fleet heartbeat failed", zap.Error(err))
			}
		}
	}
}

func (m *Membership) beat(ctx context.Context) error {
	if _, err := m.kv.Put(ctx, m.id, []byte(time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
		return err
	}
	keys, err := m.kv.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return err
	}
	slices.Sort(keys)
	m.mu.Lock()
	changed := !slices.Equal(keys, m.members)
	m.members = keys
	m.mu.Unlock()
	if changed {
		select {
		case <-m.changes:
		default:
		}
		m.changes <- slices.Clone(keys)
	}
	return nil
}
