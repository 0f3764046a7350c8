package fleet_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/bus/bustest"
	"github.com/contactsync/contactsync/pkg/fleet"
)

func stateKV(t *testing.T) (*bus.Embedded, jetstream.KeyValue) {
	t.Helper()
	e, js := bustest.Start(t, bus.Topology{})
	kv, err := js.KeyValue(context.Background(), bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	return e, kv
}

type acquired struct {
	l   *fleet.Lease
	err error
}

func acquireAsync(ctx context.Context, kv jetstream.KeyValue, member string, ttl time.Duration) <-chan acquired {
	ch := make(chan acquired, 1)
	go func() {
		l, err := fleet.Acquire(ctx, kv, fleet.LeaseKey(3), member, ttl, nil)
		ch <- acquired{l, err}
	}()
	return ch
}

// Two contenders never hold a partition at once: the second gets it only
// after the first released it, and by then the first lease's context is done.
func TestLeaseIsExclusiveAndHandedOverOnRelease(t *testing.T) {
	_, kv := stateKV(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := fleet.Acquire(ctx, kv, fleet.LeaseKey(3), "a", 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	bch := acquireAsync(ctx, kv, "b", 5*time.Second)
	// While a renews, b must wait.
	for range 3 {
		if _, err := a.Renew(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-bch:
			t.Fatalf("b acquired a lease a still holds: %+v", got)
		default:
		}
	}
	a.Release()
	if !errors.Is(a.Err(), fleet.ErrLeaseReleased) {
		t.Fatalf("a.Err() = %v after Release", a.Err())
	}
	got := <-bch
	if got.err != nil {
		t.Fatal(got.err)
	}
	defer got.l.Release()
	if got.l.Err() != nil {
		t.Fatalf("b's fresh lease: %v", got.l.Err())
	}
	// a, deposed, cannot renew, and its release does not delete b's lease.
	if _, err := a.Renew(ctx); !errors.Is(err, fleet.ErrLeaseReleased) {
		t.Fatalf("renew after release = %v", err)
	}
	a.Release()
	if _, err := got.l.Renew(ctx); err != nil {
		t.Fatalf("b lost its lease after a's second release: %v", err)
	}
}

// A holder that stops renewing (crashed) loses the partition only after its
// key stood unchanged for a full TTL; one that keeps renewing never does.
func TestLeaseTakenFromSilentHolderOnly(t *testing.T) {
	_, kv := stateKV(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key := fleet.LeaseKey(3)
	// A foreign holder (another process) writing its key.
	rev, err := kv.Put(ctx, key, []byte(`{"member":"ghost","nonce":"1"}`))
	if err != nil {
		t.Fatal(err)
	}
	ttl := 600 * time.Millisecond
	bch := acquireAsync(ctx, kv, "b", ttl)
	// The ghost renews five times at a third of the TTL: b keeps waiting.
	for range 5 {
		time.Sleep(ttl / 3) // the holder's renewal period, not a wait for a condition
		if rev, err = kv.Update(ctx, key, []byte(`{"member":"ghost","nonce":"1"}`), rev); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-bch:
			t.Fatalf("b took a lease that is being renewed: %+v", got)
		default:
		}
	}
	// The ghost goes silent: b takes over with a compare-and-set on its revision.
	got := <-bch
	if got.err != nil {
		t.Fatal(got.err)
	}
	defer got.l.Release()
	e, err := kv.Get(ctx, key)
	if err != nil || !got.l.Holds(e.Value()) || e.Revision() <= rev {
		t.Fatalf("lease key after takeover: %v %v (ghost's last revision %d)", e, err, rev)
	}
}

// A renewal that loses the compare-and-set ends the lease with ErrLeaseLost,
// and its context is cancelled: work under it stops.
func TestLeaseLostWhenOverwritten(t *testing.T) {
	_, kv := stateKV(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := fleet.Acquire(ctx, kv, fleet.LeaseKey(3), "a", 2*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	if _, err := kv.Put(ctx, fleet.LeaseKey(3), []byte(`{"member":"usurper","nonce":"9"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Renew(ctx); !errors.Is(err, fleet.ErrLeaseLost) {
		t.Fatalf("renew = %v, want ErrLeaseLost", err)
	}
	<-a.Context().Done()
	if !errors.Is(context.Cause(a.Context()), fleet.ErrLeaseLost) {
		t.Fatalf("cause = %v", context.Cause(a.Context()))
	}
	// Its release must not delete the usurper's key.
	a.Release()
	if e, err := kv.Get(ctx, fleet.LeaseKey(3)); err != nil || string(e.Value()) != `{"member":"usurper","nonce":"9"}` {
		t.Fatalf("usurper's lease after a's release: %v %v", e, err)
	}
}

// A holder cut off from the bucket stops on its own before anyone could
// take over: its context ends with ErrLeaseExpired.
func TestLeaseExpiresWhenBucketUnreachable(t *testing.T) {
	e, kv := stateKV(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := fleet.Acquire(ctx, kv, fleet.LeaseKey(3), "a", time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	e.Shutdown()
	select {
	case <-a.Context().Done():
	case <-ctx.Done():
		t.Fatal("lease still valid a minute after the bucket went away")
	}
	if !errors.Is(context.Cause(a.Context()), fleet.ErrLeaseExpired) {
		t.Fatalf("cause = %v, want ErrLeaseExpired", context.Cause(a.Context()))
	}
}
