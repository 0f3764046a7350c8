package fleet

import (
	"context"
	"fmt"
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

// Membership heartbeats one member and follows the live member set.
//
// It watches the bucket rather than listing it: a put marks a member alive
// (by local receive time), a delete (graceful leave) removes it at once, and
// a member not heard from for the bucket's TTL is gone (the server expires
// its key silently, so expiry is judged locally).
type Membership struct {
	kv       jetstream.KeyValue
	id       string
	interval time.Duration
	ttl      time.Duration
	log      *zap.Logger
	watch    jetstream.KeyWatcher
	stop     context.CancelFunc // ends the watch

	seen    map[string]time.Time // touched only by Join and Run
	mu      sync.Mutex
	members []string
	changes chan []string
	report  func() []byte // heartbeat value; nil = a timestamp
}

// SetReport makes every later heartbeat carry f() as its value (what
// `syncctl status` shows for the member), instead of a timestamp. Call it
// before Run.
func (m *Membership) SetReport(f func() []byte) {
	m.mu.Lock()
	m.report = f
	m.mu.Unlock()
}

func (m *Membership) beat() []byte {
	m.mu.Lock()
	f := m.report
	m.mu.Unlock()
	if f != nil {
		return f()
	}
	return []byte(time.Now().UTC().Format(time.RFC3339Nano))
}

// Join registers member id in the bucket kv and reads the current members.
// interval is the heartbeat period; it must be well under the bucket's TTL
// (a third is a good choice). Run must be called to keep the membership.
func Join(ctx context.Context, kv jetstream.KeyValue, id string, interval time.Duration, log *zap.Logger) (*Membership, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if interval <= 0 {
		interval = 2 * time.Second
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, err
	}
	ttl := st.TTL()
	if ttl <= 0 || ttl <= interval {
		return nil, fmt.Errorf("fleet: bucket %s needs a TTL above the heartbeat %v (has %v)", st.Bucket(), interval, ttl)
	}
	m := &Membership{kv: kv, id: id, interval: interval, ttl: ttl, log: log, seen: map[string]time.Time{}, changes: make(chan []string, 1)}
	if _, err := kv.Put(ctx, id, []byte(time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
		return nil, err
	}
	// The watch lives until Run returns (or Close), not as long as ctx.
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	w, err := kv.WatchAll(wctx)
	if err != nil {
		stop()
		return nil, err
	}
	m.watch, m.stop = w, stop
	for e := range w.Updates() { // current values, then nil
		if e == nil {
			break
		}
		// A crashed member's last heartbeat is still in the bucket until it
		// expires: judge current values by when they were written.
		if e.Operation() == jetstream.KeyValuePut {
			seen := e.Created()
			if now := time.Now(); seen.After(now) {
				seen = now
			}
			m.seen[e.Key()] = seen
		}
	}
	m.publish()
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

// Run heartbeats and follows the bucket until ctx is done, then removes this
// member's key so the others take over its partitions at once instead of
// after the TTL.
func (m *Membership) Run(ctx context.Context) {
	defer m.Close()
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
		case e, ok := <-m.watch.Updates():
			if !ok {
				return
			}
			if e != nil {
				m.apply(e)
			}
		case <-t.C:
			if _, err := m.kv.Put(ctx, m.id, m.beat()); err != nil && ctx.Err() == nil {
				m.log.Warn("fleet heartbeat failed", zap.Error(err))
			}
		}
		m.publish()
	}
}

// Close ends the watch without leaving the fleet (Run calls it on return;
// call it yourself only if Run never runs).
func (m *Membership) Close() {
	_ = m.watch.Stop()
	m.stop()
}

func (m *Membership) apply(e jetstream.KeyValueEntry) {
	switch e.Operation() {
	case jetstream.KeyValuePut:
		m.seen[e.Key()] = time.Now()
	default: // delete or purge: a graceful leave
		delete(m.seen, e.Key())
	}
}

// publish recomputes the live set and announces it if it changed.
func (m *Membership) publish() {
	now := time.Now()
	var live []string
	for k, t := range m.seen {
		if now.Sub(t) < m.ttl || k == m.id {
			live = append(live, k)
		} else {
			delete(m.seen, k)
		}
	}
	slices.Sort(live)
	m.mu.Lock()
	changed := !slices.Equal(live, m.members)
	m.members = live
	m.mu.Unlock()
	if changed {
		select {
		case <-m.changes:
		default:
		}
		m.changes <- slices.Clone(live)
	}
}
