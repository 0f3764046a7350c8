package worker

import "time"

// Linger is the batching both workers use once a batch has its first
// messages: take more, up to size in all, until linger has passed. more
// pulls up to n messages, waiting at most wait; an error ends the batch
// with what it has (the caller's next pull sees the error again). The
// upserter lingers SYNC_LINGER after a partition's first fetch (its calls
// then fill across partitions under the freshness budget), the reconciler
// RECONCILER_LINGER after its first conflict event.
func Linger[M any](batch []M, size int, linger time.Duration, more func(n int, wait time.Duration) ([]M, error)) []M {
	deadline := time.Now().Add(linger)
	for len(batch) < size {
		wait := time.Until(deadline)
		if wait < time.Millisecond {
			break
		}
		got, err := more(size-len(batch), wait)
		batch = append(batch, got...)
		if err != nil || len(got) == 0 {
			break
		}
	}
	return batch
}
