package fleet_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/bus/bustest"
	"github.com/contactsync/contactsync/pkg/fleet"
)

func TestAssignIsBalancedAndExclusive(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 5, 16, 20} {
		members := make([]string, n)
		for i := range members {
			members[i] = fmt.Sprintf("m%02d", n-i) // unsorted on purpose
		}
		owner := map[int]string{}
		minOwned, maxOwned := 1<<30, 0
		for _, m := range members {
			ps := fleet.Assign(members, 16, m)
			minOwned, maxOwned = min(minOwned, len(ps)), max(maxOwned, len(ps))
			for _, p := range ps {
				if prev, ok := owner[p]; ok {
					t.Fatalf("n=%d: partition %d owned by %s and %s", n, p, prev, m)
				}
				owner[p] = m
			}
		}
		if len(owner) != 16 {
			t.Fatalf("n=%d: %d partitions owned, want 16", n, len(owner))
		}
		if maxOwned-minOwned > 1 {
			t.Fatalf("n=%d: unbalanced: min %d max %d", n, minOwned, maxOwned)
		}
	}
	if got := fleet.Assign([]string{"a", "b"}, 16, "c"); got != nil {
		t.Fatalf("non-member owns %v", got)
	}
}

func TestMembershipFollowsJoinLeaveAndExpiry(t *testing.T) {
	_, js := bustest.Start(t, bus.Topology{})
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, bus.BucketMembers)
	if err != nil {
		t.Fatal(err)
	}
	a, err := fleet.Join(ctx, kv, "a", 100*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	actx, stopA := context.WithCancel(ctx)
	doneA := make(chan struct{})
	go func() { a.Run(actx); close(doneA) }()
	defer func() { stopA(); <-doneA }()

	b, err := fleet.Join(ctx, kv, "b", 100*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Members(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("b sees %v on join, want [a b]", got)
	}
	bctx, stopB := context.WithCancel(ctx)
	doneB := make(chan struct{})
	go func() { b.Run(bctx); close(doneB) }()
	waitMembers(t, a, []string{"a", "b"})

	// A graceful leave deletes the key: a sees it at once.
	stopB()
	<-doneB
	waitMembers(t, a, []string{"a"})

	// A crashed member (a key that stops being refreshed) drops out after the TTL.
	if _, err := kv.Put(ctx, "ghost", []byte("x")); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, a, []string{"a", "ghost"})
	waitMembers(t, a, []string{"a"})
}

func waitMembers(t *testing.T, m *fleet.Membership, want []string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if slices.Equal(m.Members(), want) {
			return
		}
		select {
		case <-m.Changes():
		case <-deadline:
			t.Fatalf("members = %v, want %v", m.Members(), want)
		}
	}
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}
