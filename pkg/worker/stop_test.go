package worker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/contactsync/contactsync/pkg/worker"
)

// TestStopTwoPhases: work that finishes after soft needs no cancel (nil);
// work that only ends when cancelled is cancelled once ctx ends, and Stop
// says so, returning only after the work is done.
func TestStopTwoPhases(t *testing.T) {
	done := make(chan struct{})
	var order []string
	err := worker.Stop(context.Background(), done, func() { order = append(order, "soft"); close(done) },
		func() { order = append(order, "hard") })
	if err != nil || len(order) != 2 || order[0] != "soft" {
		t.Fatalf("clean stop: err %v, order %v", err, order)
	}

	done = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := false
	err = worker.Stop(ctx, done, cancel, // the deadline passes while the work holds on
		func() { cancelled = true; close(done) })
	if !errors.Is(err, context.Canceled) || !cancelled {
		t.Fatalf("cut-short stop: err %v, cancelled %v", err, cancelled)
	}
}
