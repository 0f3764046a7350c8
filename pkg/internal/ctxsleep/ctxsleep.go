// Package ctxsleep waits for a duration unless a context ends first: the
// one pause every retry and poll loop of the workers uses.
package ctxsleep

import (
	"context"
	"time"
)

// Sleep waits d and reports true, or reports false as soon as ctx ends.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
