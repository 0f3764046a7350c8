package ctxsleep

import (
	"context"
	"testing"
	"time"
)

func TestSleepEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep reported a full wait on an ended context")
	}
	if !Sleep(context.Background(), time.Nanosecond) {
		t.Fatal("Sleep reported an early end without one")
	}
}
