package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultMaxPending bounds unacknowledged async publishes.
const DefaultMaxPending = 4000

// DefaultAckTimeout is how long an async publish waits for its ack.
const DefaultAckTimeout = 30 * time.Second

// NewJetStream returns a JetStream handle for publishing: at most maxPending
// (0 = DefaultMaxPending) async publishes in flight on the connection, and an
// ack timeout so a lost ack fails the publish instead of hanging.
func NewJetStream(nc *nats.Conn, maxPending int) (jetstream.JetStream, error) {
	if maxPending <= 0 {
		maxPending = DefaultMaxPending
	}
	return jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(maxPending),
		jetstream.WithPublishAsyncTimeout(DefaultAckTimeout))
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
	retries    int
	onFailure  func(Failure)

	mu       sync.Mutex
	inflight []inflight
	counts   Counts
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

// WithRetries sets how often a publish whose ack failed is retried
// synchronously (default 3). Retrying is safe: the dedup ID makes it
// idempotent.
func WithRetries(n int) PublisherOption {
	return func(p *Publisher) { p.retries = max(n, 0) }
}

// NewPublisher returns a Publisher on js (see NewJetStream).
func NewPublisher(js jetstream.JetStream, opts ...PublisherOption) *Publisher {
	p := &Publisher{js: js, maxPending: DefaultMaxPending, retries: 3}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Message builds the JetStream message of d: subject d.Subject(), the delta
// as JSON, headers Cs-External-Id and Nats-Msg-Id.
func Message(d delta.Delta) (*nats.Msg, error) {
	data, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("producer: encode delta: %w", err)
	}
	m := nats.NewMsg(d.Subject())
	m.Data = data
	m.Header.Set(delta.HeaderExternalID, d.ExternalID)
	m.Header.Set(jetstream.MsgIDHeader, d.MsgID())
	m.Header.Set(jetstream.ExpectedStreamHeader, bus.StreamContacts)
	return m, nil
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
	if ack.Duplicate {
		p.counts.Duplicates++
	} else {
		p.counts.Published++
	}
}

// fail retries m synchronously (same dedup ID, so a publish that did land is
// reported as a duplicate rather than stored twice) and counts it as failed
// when every attempt fails. p.mu is held.
func (p *Publisher) fail(ctx context.Context, f inflight, m *nats.Msg, err error) {
	for attempt := 0; attempt < p.retries && retryable(err) && ctx.Err() == nil; attempt++ {
		var ack *jetstream.PubAck
		if ack, err = p.js.PublishMsg(ctx, m); err == nil {
			// A retry that finds the ID already stored: the first publish
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

// retryable reports whether a publish error may go away: timeouts and
// missing responders, not a stream refusing the message.
func retryable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return false
	}
	return !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, context.Canceled)
}
