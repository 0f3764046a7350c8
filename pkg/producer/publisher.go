package producer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultMaxPending bounds unacknowledged async publishes.
const DefaultMaxPending = 4000

// DefaultAckTimeout is how long an ingest request waits for JetStream to
// confirm its deltas (IngestConfig.AckTimeout).
const DefaultAckTimeout = 30 * time.Second

// DefaultRetryFor is how long a Publisher keeps resending while JetStream
// does not confirm (a leader election, a node restarting) before it counts
// publishes as failed.
const DefaultRetryFor = 2 * time.Minute

// NewJetStream returns a JetStream handle for publishing: bus.NewJetStream
// (an async publish whose ack does not come within
// bus.DefaultPublishAsyncTimeout fails instead of hanging, and is resent by
// the Publisher) with at most maxPending (0 = DefaultMaxPending) async
// publishes in flight on the connection.
func NewJetStream(nc *nats.Conn, maxPending int) (jetstream.JetStream, error) {
	if maxPending <= 0 {
		maxPending = DefaultMaxPending
	}
	return bus.NewJetStream(nc, jetstream.WithPublishAsyncMaxPending(maxPending))
}

// Counts are the outcomes of confirmed publishes.
type Counts struct {
	Published  int64 `json:"published"`  // newly stored in CONTACTS
	Duplicates int64 `json:"duplicates"` // already stored (same external ID and version)
	Failed     int64 `json:"failed"`     // not confirmed by JetStream
}

// Failure describes one delta JetStream did not confirm.
type Failure struct {
	Record     int // the caller's record number, as given to Publish
	ExternalID string
	Err        error
}

// Publisher publishes deltas asynchronously with Nats-Msg-Id = MsgID() and
// the Cs-External-Id header, keeping at most maxPending acks outstanding. A
// Publisher is safe for concurrent use, but it is cheap: make one per batch
// (file, HTTP request) to get that batch's counts.
type Publisher struct {
	js         jetstream.JetStream
	maxPending int
	retries    int // -1: as many as retryFor allows
	retryFor   time.Duration
	onFailure  func(Failure)
	onRetry    func(err error, wait time.Duration)

	mu        sync.Mutex
	inflight  []inflight
	counts    Counts
	downSince time.Time // first unconfirmed publish since the last confirmed one
}

type inflight struct {
	fut    jetstream.PubAckFuture
	record int
	id     string
}

// PublisherOption configures a Publisher.
type PublisherOption func(*Publisher)

// WithMaxPending bounds this publisher's outstanding acks (default
// DefaultMaxPending). Use at most the JetStream handle's limit.
func WithMaxPending(n int) PublisherOption {
	return func(p *Publisher) {
		if n > 0 {
			p.maxPending = n
		}
	}
}

// WithFailureHandler is called, on the goroutine that waits for acks, for
// every delta that could not be published.
func WithFailureHandler(f func(Failure)) PublisherOption {
	return func(p *Publisher) { p.onFailure = f }
}

// WithRetries caps how often a publish whose ack failed for a passing
// reason (bus.Retryable: a timeout, no responders, a reconnect) is resent
// synchronously; by default it is resent with backoff for as long as
// WithRetryFor allows. Resending is safe: the same Nats-Msg-Id makes the
// stream store it once.
func WithRetries(n int) PublisherOption {
	return func(p *Publisher) { p.retries = max(n, 0) }
}

// WithRetryFor sets how long JetStream may go without confirming any
// publish of this Publisher before unconfirmed publishes are counted as
// failed instead of resent (default DefaultRetryFor). The clock starts at
// the first failure and restarts with every confirmed publish, so a long
// import rides out any number of short outages.
func WithRetryFor(d time.Duration) PublisherOption {
	return func(p *Publisher) {
		if d > 0 {
			p.retryFor = d
		}
	}
}

// WithRetryNotify is called, on the goroutine that waits for acks, before
// each resend that follows a wait, with the reason; for progress output
// ("waiting for JetStream").
func WithRetryNotify(f func(err error, wait time.Duration)) PublisherOption {
	return func(p *Publisher) { p.onRetry = f }
}

// NewPublisher returns a Publisher on js (see NewJetStream).
func NewPublisher(js jetstream.JetStream, opts ...PublisherOption) *Publisher {
	p := &Publisher{js: js, maxPending: DefaultMaxPending, retries: -1, retryFor: DefaultRetryFor}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Message builds the JetStream message of d: subject d.Subject(), the delta
// as JSON, headers Cs-External-Id and Nats-Msg-Id.
func Message(d delta.Delta) (*nats.Msg, error) {
	data, err := d.AppendJSON(nil)
	if err != nil {
		return nil, fmt.Errorf("producer: encode delta: %w", err)
	}
	// The header map built whole (these names are already in the
	// canonical form Header.Set would give them): one allocation, not a
	// map grown three times, for every delta published.
	return &nats.Msg{Subject: d.Subject(), Data: data, Header: nats.Header{
		delta.HeaderExternalID:         {d.ExternalID},
		jetstream.MsgIDHeader:          {d.MsgID()},
		jetstream.ExpectedStreamHeader: {bus.StreamContacts},
	}}, nil
}

// Publish validates d and sends it without waiting for the ack; record is
// the caller's number for it (line, row), reported in failures. When
// maxPending acks are outstanding it first waits for the oldest. It returns
// a *delta.FieldError for an invalid delta (nothing is sent or counted), or
// ctx's error.
func (p *Publisher) Publish(ctx context.Context, record int, d delta.Delta) error {
	if err := d.Validate(); err != nil {
		return err
	}
	m, err := Message(d)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.inflight) >= p.maxPending {
		if err := p.settleOldest(ctx); err != nil {
			return err
		}
	}
	for {
		fut, err := p.js.PublishMsgAsync(m, jetstream.WithStallWait(time.Second))
		if err == nil {
			p.inflight = append(p.inflight, inflight{fut: fut, record: record, id: d.ExternalID})
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			// Other publishers on this connection hold the shared in-flight
			// budget: settle our own oldest ack, or wait another stall round.
			if len(p.inflight) > 0 {
				if err := p.settleOldest(ctx); err != nil {
					return err
				}
			}
			continue
		}
		// The message could not even be sent (connection closed, …).
		p.fail(ctx, inflight{record: record, id: d.ExternalID}, m, err)
		return nil
	}
}

// Flush waits until every publish so far is confirmed or failed and returns
// the counts of this publisher. It returns early with ctx's error.
func (p *Publisher) Flush(ctx context.Context) (Counts, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.inflight) > 0 {
		if err := p.settleOldest(ctx); err != nil {
			return p.counts, err
		}
	}
	return p.counts, nil
}

// Counts returns the outcomes confirmed so far.
func (p *Publisher) Counts() Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts
}

// Pending is the number of publishes not yet confirmed or failed.
func (p *Publisher) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inflight)
}

// settleOldest waits for the oldest outstanding ack. p.mu is held.
func (p *Publisher) settleOldest(ctx context.Context) error {
	f := p.inflight[0]
	select {
	case ack := <-f.fut.Ok():
		p.record(ack)
	case err := <-f.fut.Err():
		p.fail(ctx, f, f.fut.Msg(), err)
	case <-ctx.Done():
		return ctx.Err()
	}
	p.inflight[0] = inflight{}
	p.inflight = p.inflight[1:]
	return nil
}

func (p *Publisher) record(ack *jetstream.PubAck) {
	p.downSince = time.Time{}
	if ack.Duplicate {
		p.counts.Duplicates++
	} else {
		p.counts.Published++
	}
}

// fail resends m synchronously with backoff while the error is one that
// passes (bus.Retryable) and JetStream has confirmed something within
// retryFor, with the same Nats-Msg-Id, so a publish that did land is
// reported as a duplicate rather than stored twice, and counts it as failed
// otherwise. p.mu is held: other publishes wait, which is the back-pressure
// an outage should cause.
func (p *Publisher) fail(ctx context.Context, f inflight, m *nats.Msg, err error) {
	if p.downSince.IsZero() {
		p.downSince = time.Now()
	}
	b := backoff.NewExponentialBackOff(backoff.WithInitialInterval(bus.DefaultRetryInitial),
		backoff.WithMaxInterval(bus.DefaultRetryMax), backoff.WithMultiplier(2), backoff.WithMaxElapsedTime(0))
	for attempt := 0; p.retries < 0 || attempt < p.retries; attempt++ {
		if !bus.Retryable(err) || ctx.Err() != nil || time.Since(p.downSince) > p.retryFor {
			break
		}
		if attempt > 0 { // the first resend goes at once: an ack lost in a reconnect
			wait := b.NextBackOff()
			if p.onRetry != nil {
				p.onRetry(err, wait)
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
			if ctx.Err() != nil {
				break
			}
		}
		var ack *jetstream.PubAck
		if ack, err = p.publishSync(ctx, m); err == nil {
			// A resend that finds the ID already stored: the first publish
			// landed and only its ack was lost. Count it as published.
			ack.Duplicate = false
			p.record(ack)
			return
		}
	}
	p.counts.Failed++
	if p.onFailure != nil {
		p.onFailure(Failure{Record: f.record, ExternalID: f.id, Err: err})
	}
}

// publishSync publishes m and waits for its ack, at most
// bus.DefaultCallTimeout.
func (p *Publisher) publishSync(ctx context.Context, m *nats.Msg) (*jetstream.PubAck, error) {
	ctx, cancel := context.WithTimeout(ctx, bus.DefaultCallTimeout)
	defer cancel()
	return p.js.PublishMsg(ctx, m)
}
