package worker

import (
	"errors"
	"testing"
	"time"
)

// Linger takes more until the batch is full, a pull brings nothing (the
// linger ran out) or fails, and never asks for more than fills the batch.
func TestLinger(t *testing.T) {
	var asked []int
	pull := func(per int, fail int) func(int, time.Duration) ([]int, error) {
		calls := 0
		return func(n int, _ time.Duration) ([]int, error) {
			calls++
			asked = append(asked, n)
			if calls == fail {
				return []int{-1}, errors.New("pull failed")
			}
			return make([]int, min(per, n)), nil
		}
	}
	if got := Linger([]int{1}, 10, time.Hour, pull(4, 0)); len(got) != 10 || asked[0] != 9 || asked[1] != 5 || asked[2] != 1 {
		t.Fatalf("full batch: %d messages, asked %v; want 10, asked 9, 5, 1", len(got), asked)
	}
	asked = nil
	if got := Linger([]int{1}, 10, time.Hour, pull(4, 2)); len(got) != 6 || len(asked) != 2 {
		t.Fatalf("failed pull: %d messages after %d pulls, want 6 (what it brought kept) after 2", len(got), len(asked))
	}
	asked = nil
	empty := func(n int, _ time.Duration) ([]int, error) { asked = append(asked, n); return nil, nil }
	if got := Linger([]int{1, 2}, 10, time.Hour, empty); len(got) != 2 || len(asked) != 1 {
		t.Fatalf("nothing more: %d messages after %d pulls, want 2 after 1", len(got), len(asked))
	}
	asked = nil
	if got := Linger([]int{1}, 10, 0, pull(4, 0)); len(got) != 1 || len(asked) != 0 {
		t.Fatalf("no linger: %d messages after %d pulls, want the first alone, no pull", len(got), len(asked))
	}
}
