package fleet

import (
	"fmt"
	"testing"
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
			ps := Assign(members, 16, m)
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
	if got := Assign([]string{"a", "b"}, 16, "c"); got != nil {
		t.Fatalf("non-member owns %v", got)
	}
}
