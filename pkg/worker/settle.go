package worker

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/telemetry"
)

// Result is the decision on one message of a batch.
type Result struct {
	Outcome Outcome
	// Code and Message say why a message is DeadLettered (Code: a
	// Salesforce errorCode or a contactsync code such as INVALID_DELTA).
	// Message may quote the refused value; Settle redacts it.
	Code, Message string
	// Delay before a Retried message is redelivered (0: at once).
	Delay time.Duration
	// Again marks a second delivery of a message already in the batch
	// (JetStream can hand one message to a pull twice): the first one
	// settles it, so this one is neither acked nor counted.
	Again bool
}

// Settler settles a batch's messages: DeadLetters stores the dead letters,
// Finish acks, terminates and hands back. A worker that saves state of its
// own (the upserter's contact state) does so between the two, so an acked
// message always has its state and a terminated one its dead letter.
type Settler struct {
	JS  jetstream.JetStream
	Log *zap.Logger
	// CallTimeout bounds each attempt to store a dead letter (default 10s).
	CallTimeout time.Duration
	// Attempts per dead letter before it is left for redelivery (default 5),
	// backing off from 100 ms: the DLQ stream may be between leaders.
	Attempts int
}

func (s Settler) callTimeout() time.Duration {
	if s.CallTimeout > 0 {
		return s.CallTimeout
	}
	return 10 * time.Second
}

// DeadLetters stores every DeadLettered message of the batch on the DLQ,
// with its reason (redacted: Salesforce's refusals quote the refused
// value, and the message itself, kept for replay, is the only copy of the
// data) and the stream and sequence it came from, which also make the
// dead letter idempotent. A message whose dead letter cannot be stored
// becomes Retried. Once ctx has ended (the partition or the process is
// stopping) they are left Retried without trying; the count of those is
// returned, for one log line per batch instead of one per message.
func (s Settler) DeadLetters(ctx context.Context, msgs []jetstream.Msg, res []Result) (unwritten int) {
	log := s.log()
	for i, m := range msgs {
		r := &res[i]
		if r.Again || r.Outcome != DeadLettered {
			continue
		}
		if ctx.Err() != nil {
			r.Outcome = Retried
			unwritten++
			continue
		}
		dl := bus.DeadLetter{Subject: bus.OriginalSubject(m.Subject()), Data: m.Data(), Header: m.Headers(),
			ErrorCode: r.Code, Message: telemetry.Redact(r.Message)}
		if md, _ := m.Metadata(); md != nil {
			dl.Deliveries, dl.Stream, dl.StreamSeq = md.NumDelivered, md.Stream, md.Sequence.Stream
		}
		if err := s.publish(ctx, dl); err != nil {
			r.Outcome = Retried
			if ctx.Err() != nil {
				unwritten++
				continue
			}
			log.Error("dead letter not stored; leaving the message for redelivery", zap.String("code", r.Code), zap.Error(err))
			continue
		}
		log.Warn("dead-lettered", zap.String("stream", dl.Stream), zap.Uint64("stream_seq", dl.StreamSeq),
			zap.String("code", r.Code), zap.String("reason", dl.Message), zap.Uint64("deliveries", dl.Deliveries))
	}
	return unwritten
}

func (s Settler) publish(ctx context.Context, dl bus.DeadLetter) error {
	attempts := s.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	bo := backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond), backoff.WithMaxElapsedTime(0))
	return backoff.Retry(func() error {
		pctx, cancel := context.WithTimeout(ctx, s.callTimeout())
		defer cancel()
		return bus.PublishDeadLetter(pctx, s.JS, dl)
	}, backoff.WithContext(backoff.WithMaxRetries(bo, uint64(attempts-1)), ctx))
}

// Finish acks every message with a final outcome, terminates the dead
// letters (already stored by DeadLetters) and hands back the Retried ones
// (after their Delay). settled, if not nil, is called for each message
// that reached its final outcome — after its ack or term, so counts read
// by whoever watches the consumer drain are never ahead of JetStream; a
// failed ack is not counted (the message is redelivered and settles then).
// It returns the batch's tally: final outcomes as settled, Retried for
// what was handed back.
func (s Settler) Finish(msgs []jetstream.Msg, res []Result, settled func(i int)) Tally {
	var t Tally
	for i, m := range msgs {
		r := res[i]
		switch {
		case r.Again:
			continue
		case r.Outcome == Retried:
			if r.Delay > 0 {
				_ = m.NakWithDelay(r.Delay)
			} else {
				_ = m.Nak()
			}
			t.Add(Retried, 1)
			continue
		case r.Outcome == DeadLettered:
			_ = m.TermWithReason(r.Code)
		default:
			if err := m.Ack(); err != nil {
				s.log().Debug("ack failed; the message will be redelivered", zap.Error(err))
				continue
			}
		}
		t.Add(r.Outcome, 1)
		if settled != nil {
			settled(i)
		}
	}
	return t
}

// InProgress tells JetStream that the batch's messages are still being
// worked on, so AckWait does not redeliver them while its calls run.
func InProgress(msgs []jetstream.Msg, res []Result) {
	for i, m := range msgs {
		if res == nil || !res[i].Again {
			_ = m.InProgress()
		}
	}
}

func (s Settler) log() *zap.Logger {
	if s.Log == nil {
		return zap.NewNop()
	}
	return s.Log
}
