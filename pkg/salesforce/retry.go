package salesforce

import (
	"time"

	"github.com/cenkalti/backoff/v4"
)

// nextBackOff yields the waits between attempts of one call; a negative
// duration means "stop".
type nextBackOff interface{ NextBackOff() time.Duration }

type noRetry struct{}

func (noRetry) NextBackOff() time.Duration { return backoff.Stop }

// newBackOff returns the retry schedule of one call: exponential from
// Config.RetryBackoff, doubling up to 5s, ±50% jitter, until
// Config.MaxRetryElapsed has passed since the call began.
func (c *Client) newBackOff() nextBackOff {
	if c.cfg.MaxRetryElapsed < 0 {
		return noRetry{}
	}
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(c.cfg.RetryBackoff),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0.5),
		backoff.WithMaxInterval(5*time.Second),
		backoff.WithMaxElapsedTime(c.cfg.MaxRetryElapsed),
	)
}
