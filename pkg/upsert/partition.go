package upsert

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/telemetry"
)

// runPartition consumes partition p until stop is closed, one batch at a time.
func (u *Upserter) runPartition(p int, stop <-chan struct{}) {
	log := u.log.With(zap.Int("partition", p))
	ctx := u.hardCtx
	cons, err := u.stream.Consumer(ctx, ConsumerName(p))
	for err != nil {
		log.Warn("partition consumer unavailable", zap.Error(err))
		select {
		case <-stop:
			return
		case <-time.After(time.Second):
		}
		cons, err = u.stream.Consumer(ctx, ConsumerName(p))
	}
	u.state.reset(p)
	log.Info("consuming partition")
	idle := true
	for {
		select {
		case <-stop:
			u.release(p, log)
			return
		default:
		}
		if err := u.d.Gate.Wait(ctx); err != nil {
			return
		}
		msgs, err := u.fetch(cons, idle)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Debug("fetch failed", zap.Error(err))
			select {
			case <-stop:
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		idle = len(msgs) == 0
		if idle {
			continue
		}
		start := time.Now()
		u.handleBatch(ctx, p, msgs, log)
		if u.d.Metrics != nil {
			u.d.Metrics.batch.Observe(time.Since(start).Seconds())
		}
	}
}

// fetch pulls the next batch. An idle partition long-polls for one message
// (which also keeps its pin alive), then lingers briefly for the rest.
//
// A partition loop pulls only between batches, so a batch that outlives
// AckWait is not redelivered behind its back: JetStream sends redeliveries
// to an outstanding pull, and by the next pull the batch's acks have
// settled those messages. Each delta is therefore counted once.
func (u *Upserter) fetch(cons jetstream.Consumer, idle bool) ([]jetstream.Msg, error) {
	var msgs []jetstream.Msg
	want := u.cfg.BatchSize
	if idle {
		first, err := collect(cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second), jetstream.FetchPriorityGroup(PriorityGroup)))
		if err != nil || len(first) == 0 {
			return first, err
		}
		msgs, want = first, want-1
		if want == 0 {
			return msgs, nil
		}
	}
	rest, err := collect(cons.Fetch(want, jetstream.FetchMaxWait(u.cfg.Linger), jetstream.FetchPriorityGroup(PriorityGroup)))
	msgs = append(msgs, rest...)
	if len(msgs) > 0 {
		return msgs, nil // deliver what arrived even if the batch then failed
	}
	return msgs, err
}

func collect(b jetstream.MessageBatch, err error) ([]jetstream.Msg, error) {
	if err != nil {
		return nil, err
	}
	var out []jetstream.Msg
	for m := range b.Messages() {
		out = append(out, m)
	}
	if err := b.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
		return out, err
	}
	return out, nil
}

// release hands the partition over at once instead of after PinnedTTL.
func (u *Upserter) release(p int, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := u.stream.UnpinConsumer(ctx, ConsumerName(p), PriorityGroup); err != nil {
		log.Debug("unpin", zap.Error(err))
	}
	log.Info("released partition")
}

// handleBatch processes msgs and then settles each one: ack, or dead-letter
// and term. It is the only place that touches Ack/Term.
func (u *Upserter) handleBatch(ctx context.Context, p int, msgs []jetstream.Msg, log *zap.Logger) {
	u.d.Stats.batches.Add(1)
	results := u.process(ctx, p, msgs, log)
	for i, m := range msgs {
		r := results[i]
		if r.pending {
			continue // ctx cancelled mid-batch: leave unacked for redelivery
		}
		if r.outcome == DeadLettered {
			md, _ := m.Metadata()
			dl := bus.DeadLetter{Subject: bus.OriginalSubject(m.Subject()), Data: m.Data(), Header: m.Headers(),
				ErrorCode: r.code, Message: r.message}
			if md != nil {
				dl.Deliveries, dl.StreamSeq = md.NumDelivered, md.Sequence.Stream
			}
			if err := u.publishWithRetry(ctx, func(ctx context.Context) error { return bus.PublishDeadLetter(ctx, u.js, dl) }); err != nil {
				log.Error("dead letter not written; leaving message for redelivery", zap.Error(err))
				continue
			}
			log.Warn("dead-lettered delta", zap.String("code", r.code), zap.String("reason", telemetry.MaskEmails(r.message)),
				zap.Uint64("stream_seq", dl.StreamSeq), zap.Uint64("deliveries", dl.Deliveries))
			_ = m.TermWithReason(r.code)
		} else if err := m.Ack(); err != nil {
			log.Debug("ack failed; the delta will be redelivered and skipped as already applied", zap.Error(err))
			continue
		}
		u.d.Stats.Add(r.outcome, 1)
		if u.d.Latencies != nil && r.outcome <= Rekeyed {
			if md, err := m.Metadata(); err == nil {
				u.d.Latencies.record(time.Since(md.Timestamp))
			}
		}
		if u.d.Metrics != nil {
			u.d.Metrics.deltas.WithLabelValues(r.segment, r.outcome.String()).Inc()
		}
	}
}

// publishWithRetry retries a JetStream publish briefly; the stream may be
// between leaders.
func (u *Upserter) publishWithRetry(ctx context.Context, f func(context.Context) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = f(pctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
		}
	}
	return err
}
