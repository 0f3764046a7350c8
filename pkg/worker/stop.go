package worker

import (
	"context"
	"sync"
)

// Stop is the two-phase stop both workers use. Phase one: soft asks the
// work to stop taking new messages and finish the ones it holds; Stop waits
// until done is closed. If ctx ends first, phase two: hard cancels what is
// left (its messages are redelivered, to this worker's successor) and Stop
// waits for done again, then returns ctx's error. hard also runs after a
// clean phase one, to release what the work's context holds.
func Stop(ctx context.Context, done <-chan struct{}, soft, hard func()) error {
	soft()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	hard()
	<-done
	return err
}

// Done closes the returned channel when wg's count reaches zero.
func Done(wg *sync.WaitGroup) <-chan struct{} {
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	return ch
}
