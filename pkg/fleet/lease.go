package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/internal/ctxsleep"
)

// Lease errors, the causes of a lease's context.
var (
	// ErrLeaseLost: another holder took the lease (a renewal's compare-and-set failed).
	ErrLeaseLost = errors.New("fleet: lease lost to another holder")
	// ErrLeaseExpired: no renewal succeeded in time (the bucket was unreachable).
	ErrLeaseExpired = errors.New("fleet: lease expired without renewal")
	// ErrLeaseReleased: the holder gave the lease up.
	ErrLeaseReleased = errors.New("fleet: lease released")
)

// LeaseKey is the key of partition p's lease.
func LeaseKey(p int) string { return fmt.Sprintf("lease.p%02d", p) }

// leaseValue is what a lease key holds. Nonce is new for every acquisition,
// so two runs of one member (a restart, a second deployment with the same
// SYNC_MEMBER, a partition reassigned back before the old loop finished)
// are different holders.
type leaseValue struct {
	Member string    `json:"member"`
	Nonce  string    `json:"nonce"`
	At     time.Time `json:"at"`
}

// Lease is one holder's exclusive, renewable right to a key (a partition).
//
// Holding: the holder counts the lease valid until its last successful
// renewal was *sent* plus TTL minus a margin (TTL/4), by its own monotonic
// clock, and renews every TTL/4. Taking over: a contender may replace a
// lease held by someone else only with a compare-and-set on the revision it
// observed, and only after that revision stood unchanged for a full TTL by
// the contender's clock, counted from when it first saw it. Since the
// contender saw the revision after it was committed, and it was committed
// after the holder sent it, the holder's validity ended before the takeover
// (clocks need only tick at the same rate). A holder that cannot renew in
// time cancels its Context (ErrLeaseExpired); one whose renewal loses the
// compare-and-set cancels it with ErrLeaseLost. A clean Release deletes the
// key conditionally (only its own revision), so a contender takes over at
// once.
type Lease struct {
	kv     jetstream.KeyValue
	key    string
	val    leaseValue
	ttl    time.Duration
	margin time.Duration
	log    *zap.Logger

	mu         sync.Mutex // serialises renewals and guards rev/validUntil
	rev        uint64
	validUntil time.Time
	lastRenew  time.Time

	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// Acquire waits until member holds key in kv and returns the lease. It
// takes a free key (absent or deleted) at once, and another holder's key
// only after that holder went a full ttl without renewing. It returns early
// only when ctx ends. Errors of the bucket (a node away, no leader) are
// retried.
func Acquire(ctx context.Context, kv jetstream.KeyValue, key, member string, ttl time.Duration, log *zap.Logger) (*Lease, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if ttl < 100*time.Millisecond {
		return nil, fmt.Errorf("fleet: lease TTL %v is too short", ttl)
	}
	l := &Lease{kv: kv, key: key, ttl: ttl, margin: ttl / 4, log: log,
		val: leaseValue{Member: member, Nonce: fmt.Sprintf("%016x", rand.Uint64())}}
	for {
		err := l.acquire(ctx)
		if err == nil {
			l.ctx, l.cancel = context.WithCancelCause(context.Background())
			l.done = make(chan struct{})
			go l.renewLoop()
			return l, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		log.Debug("lease: acquire interrupted; retrying", zap.String("key", key), zap.Error(err))
		if !ctxsleep.Sleep(ctx, ttl/10) {
			return nil, ctx.Err()
		}
	}
}

// acquire watches the key until it can take it. An error means the watch
// or the bucket failed; the caller retries.
func (l *Lease) acquire(ctx context.Context) error {
	w, err := l.kv.Watch(ctx, l.key)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	expiry := time.NewTimer(time.Hour)
	expiry.Stop()
	defer expiry.Stop()
	var cur jetstream.KeyValueEntry // last entry seen; nil = none
	ready := false                  // the watch delivered the current value
	for {
		try := false
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("lease watch closed")
			}
			if e == nil {
				ready = true
			} else {
				cur = e
				// A revision is judged from when we first saw it.
				expiry.Reset(l.ttl)
			}
			try = ready && (cur == nil || cur.Operation() != jetstream.KeyValuePut || l.ours(cur.Value()))
		case <-expiry.C:
			try = ready // the holder went a full TTL without renewing
		}
		if !try {
			continue
		}
		sent := time.Now()
		data := l.encode(sent)
		var rev uint64
		if cur == nil {
			rev, err = l.kv.Create(ctx, l.key, data)
		} else {
			rev, err = l.kv.Update(ctx, l.key, data, cur.Revision())
		}
		switch {
		case err == nil:
			l.rev, l.lastRenew, l.validUntil = rev, sent, sent.Add(l.ttl-l.margin)
			return nil
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			// Someone else won; the watch delivers their entry.
		default:
			return err // may have committed: the retry sees our own nonce and takes it
		}
	}
}

func (l *Lease) encode(at time.Time) []byte {
	v := l.val
	v.At = at.UTC()
	b, _ := json.Marshal(v)
	return b
}

// ours reports whether a lease value is this lease's (same acquisition).
func (l *Lease) ours(data []byte) bool {
	var v leaseValue
	return json.Unmarshal(data, &v) == nil && v.Nonce == l.val.Nonce && v.Member == l.val.Member
}

// Holds reports whether data, a value read from the lease key, is this
// lease's: a reader uses it to check that what it read was written while
// the lease was still ours.
func (l *Lease) Holds(data []byte) bool { return l.ours(data) }

// Key is the lease's key in the bucket.
func (l *Lease) Key() string { return l.key }

// Context is cancelled when the lease ends; context.Cause says why
// (ErrLeaseLost, ErrLeaseExpired, ErrLeaseReleased). Work done under the
// lease derives its context from it.
func (l *Lease) Context() context.Context { return l.ctx }

// Err is nil while the lease is held, else why it ended.
func (l *Lease) Err() error {
	if l.ctx.Err() == nil {
		return nil
	}
	return context.Cause(l.ctx)
}

// Renew extends the lease now and returns its new revision. A reader that
// renews before it reads can demand that what it reads is at least as new
// as this revision (the bucket's stream orders both). It fails with
// ErrLeaseLost or ErrLeaseExpired once the lease has ended, and with the
// bucket's error (lease still held until its validity runs out) otherwise.
func (l *Lease) Renew(ctx context.Context) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.Err(); err != nil {
		return 0, err
	}
	if !time.Now().Before(l.validUntil) {
		l.cancel(ErrLeaseExpired)
		return 0, ErrLeaseExpired
	}
	cctx, cancel := context.WithDeadline(ctx, l.validUntil)
	defer cancel()
	sent := time.Now()
	rev, err := l.kv.Update(cctx, l.key, l.encode(sent), l.rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		// Either another holder took it, or an earlier renewal that timed
		// out did commit. Only the second leaves our nonce in the key.
		e, gerr := l.kv.Get(cctx, l.key)
		if gerr == nil && e.Operation() == jetstream.KeyValuePut && l.ours(e.Value()) {
			l.rev = e.Revision()
			sent = time.Now()
			rev, err = l.kv.Update(cctx, l.key, l.encode(sent), l.rev)
		}
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(gerr, jetstream.ErrKeyNotFound) {
			l.cancel(ErrLeaseLost)
			return 0, ErrLeaseLost
		}
	}
	if err != nil {
		return 0, fmt.Errorf("renew lease %s: %w", l.key, err)
	}
	l.rev, l.lastRenew, l.validUntil = rev, sent, sent.Add(l.ttl-l.margin)
	return rev, nil
}

// renewLoop renews every TTL/4 and ends the lease when renewal is refused or
// its validity runs out.
func (l *Lease) renewLoop() {
	defer close(l.done)
	every := l.ttl / 4
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
		}
		l.mu.Lock()
		due, until := l.lastRenew.Add(every), l.validUntil
		l.mu.Unlock()
		now := time.Now()
		if !now.Before(until) {
			l.log.Warn("lease expired: could not renew it in time; stopping work under it", zap.String("key", l.key))
			l.cancel(ErrLeaseExpired)
			return
		}
		next := every
		if !now.Before(due) {
			if _, err := l.Renew(context.Background()); err != nil {
				if l.Err() != nil {
					l.log.Warn("lease ended", zap.String("key", l.key), zap.Error(l.Err()))
					return
				}
				l.log.Debug("lease renewal failed; retrying", zap.String("key", l.key), zap.Error(err))
				next = every / 4
			}
		} else {
			next = due.Sub(now)
		}
		l.mu.Lock()
		if left := time.Until(l.validUntil); left < next {
			next = max(left, time.Millisecond)
		}
		l.mu.Unlock()
		t.Reset(next)
	}
}

// Release ends the lease: it stops renewing and deletes the key if it still
// holds this lease's revision, so a waiting contender takes over at once.
// Call it only when no work under the lease is in flight.
func (l *Lease) Release() {
	l.mu.Lock()
	held := l.Err() == nil && time.Now().Before(l.validUntil)
	l.cancel(ErrLeaseReleased)
	rev := l.rev
	l.mu.Unlock()
	<-l.done
	if !held {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(rev)); err != nil {
		// Not deleted: a contender takes over after the TTL instead.
		l.log.Debug("lease release", zap.String("key", l.key), zap.Error(err))
	}
}
