package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of Retry.
const (
	// DefaultCallTimeout bounds one JetStream call (one attempt). The
	// JetStream API answers in milliseconds when the cluster is healthy;
	// a call that waits longer is waiting for a leader that is gone.
	DefaultCallTimeout = 5 * time.Second
	// DefaultRetryInitial is the first wait between attempts.
	DefaultRetryInitial = 100 * time.Millisecond
	// DefaultRetryMax is the longest wait between attempts.
	DefaultRetryMax = 2 * time.Second
)

// Retry runs a JetStream call again while it fails for a reason that goes
// away by itself: the cluster is electing a leader, a node is away, the
// connection is reconnecting (see Retryable). Every attempt gets its own
// deadline; other errors return at once. The zero value is the default
// policy: DefaultCallTimeout per attempt, backoff from DefaultRetryInitial
// to DefaultRetryMax with jitter, until ctx ends.
type Retry struct {
	// CallTimeout bounds each attempt (default DefaultCallTimeout; negative:
	// only ctx bounds it, for calls that legitimately run long).
	CallTimeout time.Duration
	// Initial and Max shape the exponential backoff between attempts
	// (defaults DefaultRetryInitial and DefaultRetryMax).
	Initial, Max time.Duration
	// MaxElapsed, when positive, gives a step up once it has been failing
	// this long (the last attempt starts at MaxElapsed), even if ctx has not
	// ended.
	MaxElapsed time.Duration
	// OnRetry, when set, is called after each failed attempt that will be
	// retried, before the wait; use it to report progress ("waiting for
	// JetStream"). It runs on the caller's goroutine.
	OnRetry func(Attempt)
}

// Attempt describes a failed attempt that Retry.Do will retry.
type Attempt struct {
	Step    string        // what was tried, e.g. "ensure stream CONFLICTS"
	N       int           // 1 for the first attempt
	Err     error         // why it failed
	Elapsed time.Duration // since the step's first attempt started
	Wait    time.Duration // until the next attempt
}

// RetryError is returned by Retry.Do when a step was still failing with
// retryable errors when ctx ended or MaxElapsed passed. Err is the last
// attempt's error; errors.Is and errors.As see through to it.
type RetryError struct {
	Step     string
	Attempts int
	Elapsed  time.Duration
	Err      error
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("%s: gave up after %d attempts in %s: %v", e.Step, e.Attempts, e.Elapsed.Round(time.Millisecond), e.Err)
}

func (e *RetryError) Unwrap() error { return e.Err }

func (r Retry) withDefaults() Retry {
	if r.CallTimeout == 0 {
		r.CallTimeout = DefaultCallTimeout
	}
	if r.Initial <= 0 {
		r.Initial = DefaultRetryInitial
	}
	if r.Max <= 0 {
		r.Max = DefaultRetryMax
	}
	r.Max = max(r.Max, r.Initial)
	return r
}

// Do calls f until it succeeds, fails with an error that is not Retryable,
// ctx ends or MaxElapsed passes. Each call gets a context with CallTimeout.
// A permanent error is returned as "step: err"; giving up returns a
// *RetryError naming the step, the attempts, the time spent and the last
// error. Do logs nothing.
func (r Retry) Do(ctx context.Context, step string, f func(ctx context.Context) error) error {
	r = r.withDefaults()
	b := backoff.NewExponentialBackOff(backoff.WithInitialInterval(r.Initial), backoff.WithMaxInterval(r.Max),
		backoff.WithMultiplier(2), backoff.WithMaxElapsedTime(0))
	start := time.Now()
	for n := 1; ; n++ {
		err := r.attempt(ctx, f)
		if err == nil {
			return nil
		}
		elapsed := time.Since(start)
		if ctx.Err() != nil {
			return &RetryError{Step: step, Attempts: n, Elapsed: elapsed, Err: err}
		}
		if !Retryable(err) {
			return fmt.Errorf("%s: %w", step, err)
		}
		wait := b.NextBackOff()
		if r.MaxElapsed > 0 {
			if elapsed >= r.MaxElapsed {
				return &RetryError{Step: step, Attempts: n, Elapsed: elapsed, Err: err}
			}
			wait = min(wait, r.MaxElapsed-elapsed) // a last attempt when the time is up
		}
		if r.OnRetry != nil {
			r.OnRetry(Attempt{Step: step, N: n, Err: err, Elapsed: elapsed, Wait: wait})
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return &RetryError{Step: step, Attempts: n, Elapsed: time.Since(start), Err: err}
		case <-t.C:
		}
	}
}

func (r Retry) attempt(ctx context.Context, f func(ctx context.Context) error) error {
	if r.CallTimeout < 0 {
		return f(ctx)
	}
	cctx, cancel := context.WithTimeout(ctx, r.CallTimeout)
	defer cancel()
	return f(cctx)
}

// unavailable are the JetStream API error codes (nats-server
// server/errors.json) that mean "not now" rather than "no": the cluster
// has no leader yet, or the nodes holding a stream are away.
var unavailable = map[jetstream.ErrorCode]bool{
	10005: true, // JSClusterNoPeersErrF "no suitable peers for placement, peer offline": a replica's node is away
	10008: true, // JSClusterNotAvailErr "JetStream system temporarily unavailable": no meta leader
	10009: true, // JSClusterNotLeaderErr "JetStream cluster can not handle request": asked a node that lost leadership
	10076: true, // JSNotEnabledErr: nats.go's AccountInfo reports no responders as this (CreateOrUpdateKeyValue calls it)
	10118: true, // JSStreamOfflineErr "stream is offline": every peer of the stream is away
	10119: true, // JSConsumerOfflineErr "consumer is offline"
	10194: true, // JSStreamOfflineReasonErrF "stream is offline: {err}"
	10195: true, // JSConsumerOfflineReasonErrF "consumer is offline: {err}"
}

// Retryable reports whether err from a JetStream call (API request or
// publish) can go away by itself, so that the same call is worth repeating:
//
//   - a deadline or timeout (context.DeadlineExceeded of a per-call
//     context, nats.ErrTimeout, jetstream.ErrAsyncPublishTimeout): the
//     request reached no leader in time;
//   - nobody answered (nats.ErrNoResponders, jetstream.ErrNoStreamResponse):
//     the node's JetStream or the stream's leader is not there yet;
//   - the connection is between servers (nats.ErrDisconnected,
//     nats.ErrConnectionReconnecting, nats.ErrReconnectBufExceeded);
//   - JetStream API errors that mean the cluster is not ready: no meta
//     leader (10008), not leader (10009), peer offline (10005), stream or
//     consumer offline (10118, 10119, 10194, 10195), and "JetStream not
//     enabled" (10076), which nats.go reports for no responders.
//
// A closed connection, context.Canceled and every other API error (bad
// configuration, stream not found, wrong last sequence) are permanent.
func Retryable(err error) bool {
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, nats.ErrConnectionClosed):
		return false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, jetstream.ErrAsyncPublishTimeout),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrReconnectBufExceeded):
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && unavailable[apiErr.ErrorCode]
}
