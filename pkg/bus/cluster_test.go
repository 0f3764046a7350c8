package bus_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/bus/bustest"
)

// waitTimeout only bounds a test that would otherwise hang.
const waitTimeout = 90 * time.Second

// Ensure (R3) succeeds while a node of a 3-node cluster is down, even right
// after the meta leader is killed, and again right after the node is back.
func TestEnsureRidesOutNodeLoss(t *testing.T) {
	c := bustest.StartCluster(t, 3, bus.Topology{})
	_, js := c.Connect(t)
	leader := c.MetaLeader()
	if leader == "" {
		t.Fatal("no meta leader after StartCluster")
	}
	if !c.Kill(leader) {
		t.Fatalf("no node %s", leader)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var retries atomic.Int64
	r := bus.Retry{OnRetry: func(a bus.Attempt) {
		retries.Add(1)
		t.Logf("retrying %s after attempt %d: %v", a.Step, a.N, a.Err)
	}}
	if err := bus.EnsureWith(ctx, js, bus.Topology{Replicas: 3}, r); err != nil {
		t.Fatalf("Ensure with %s down: %v", leader, err)
	}
	t.Logf("Ensure with the meta leader %s down: %d retries", leader, retries.Load())
	for _, name := range []string{bus.StreamContacts, bus.StreamConflicts, bus.StreamDLQ, "KV_" + bus.BucketMembers} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if n := s.CachedInfo().Config.Replicas; n != 3 {
			t.Errorf("stream %s has %d replicas, want 3", name, n)
		}
	}

	if err := c.Restart(leader); err != nil {
		t.Fatal(err)
	}
	retries.Store(0)
	if err := bus.EnsureWith(ctx, js, bus.Topology{Replicas: 3}, r); err != nil {
		t.Fatalf("Ensure right after %s came back: %v", leader, err)
	}
	t.Logf("Ensure right after %s came back: %d retries", leader, retries.Load())
	// The restarted node catches up before the cluster is shut down (a node
	// stopped while catching up can leave store goroutines behind).
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
}

// With the whole cluster down, Ensure does not hang: once its ctx ends it
// returns an error naming the step and wrapping the last error.
func TestEnsureGivesUpWhenClusterDown(t *testing.T) {
	c := bustest.StartCluster(t, 3, bus.Topology{})
	_, js := c.Connect(t)
	for _, name := range []string{"n1", "n2", "n3"} {
		c.Kill(name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := bus.EnsureWith(ctx, js, bus.Topology{Replicas: 3}, bus.Retry{CallTimeout: 300 * time.Millisecond})
	var re *bus.RetryError
	if !errors.As(err, &re) {
		t.Fatalf("Ensure with no node up = %v, want a *bus.RetryError", err)
	}
	if re.Step != "read partitions of stream "+bus.StreamContacts || re.Attempts < 1 || re.Err == nil || !bus.Retryable(re.Err) {
		t.Fatalf("RetryError %+v", re)
	}
	if !strings.Contains(err.Error(), "stream CONTACTS") || !strings.Contains(err.Error(), re.Err.Error()) {
		t.Errorf("message %q does not name the step and the last error", err)
	}
	t.Logf("%v", err)
}

// A permanent error is not retried: a changed partition count on a healthy
// cluster returns at once.
func TestEnsurePermanentErrorOnCluster(t *testing.T) {
	c := bustest.StartCluster(t, 3, bus.Topology{Partitions: 4})
	_, js := c.Connect(t)
	calls := 0
	err := bus.EnsureWith(context.Background(), js, bus.Topology{Partitions: 8, Replicas: 3},
		bus.Retry{OnRetry: func(bus.Attempt) { calls++ }})
	if !errors.Is(err, bus.ErrPartitionsChanged) || calls != 0 {
		t.Fatalf("err %v after %d retries, want ErrPartitionsChanged at once", err, calls)
	}
	if _, err := js.Stream(context.Background(), bus.StreamContacts); errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatal(err)
	}
}

// A process that does not say how many replicas it wants (NATS_REPLICAS
// unset) must not scale an existing R3 topology down to R1.
func TestEnsureKeepsExistingReplicas(t *testing.T) {
	c := bustest.StartCluster(t, 3, bus.Topology{Replicas: 3})
	_, js := c.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := bus.Ensure(ctx, js, bus.Topology{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{bus.StreamContacts, bus.StreamConflicts, bus.StreamDLQ, "KV_" + bus.BucketState, "KV_" + bus.BucketMembers} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("%s has %d replicas after an Ensure that asked for none, want 3", name, r)
		}
	}
}
