package upsert

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/fleet"
	"github.com/contactsync/contactsync/pkg/internal/ctxsleep"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/worker"
)

// runPartition consumes partition p until stop is closed: it waits for the
// partition's lease, consumes one batch at a time under it, and releases it
// only after the batch in flight is settled. A lease lost mid-run (another
// member took it after this one went silent) ends the run's work at once;
// the loop then waits for the lease again, as long as p stays assigned here.
func (u *Upserter) runPartition(p int, stop <-chan struct{}) {
	log := u.log.With(zap.Int("partition", p))
	// wait ends when stop closes or the upserter is cancelled.
	wait, cancelWait := context.WithCancel(u.hardCtx)
	defer cancelWait()
	go func() {
		select {
		case <-stop:
			cancelWait()
		case <-wait.Done():
		}
	}()
	for wait.Err() == nil {
		lease, err := fleet.Acquire(wait, u.leases, fleet.LeaseKey(p), u.cfg.Member, u.cfg.LeaseTTL, log)
		if err != nil {
			return
		}
		u.consume(wait, p, lease, log)
		lease.Release()
		if err := lease.Err(); !errors.Is(err, fleet.ErrLeaseReleased) {
			log.Warn("partition lease ended; waiting to take it again", zap.Error(err))
		} else {
			log.Info("released partition")
		}
	}
}

// consume runs batches under lease until wait ends (stop or shutdown) or the
// lease does. A batch in flight is finished (bounded by the lease and by the
// upserter's hard stop), never cut short by stop.
func (u *Upserter) consume(wait context.Context, p int, lease *fleet.Lease, log *zap.Logger) {
	// work ends with the lease or at the hard stop; batches run under it.
	work, cancelWork := context.WithCancelCause(u.hardCtx)
	defer cancelWork(nil)
	defer context.AfterFunc(lease.Context(), func() { cancelWork(context.Cause(lease.Context())) })()
	// pull ends also on stop: fetches are cut short, batches are not.
	pull, cancelPull := context.WithCancel(work)
	defer cancelPull()
	defer context.AfterFunc(wait, cancelPull)()

	var cons jetstream.Consumer
	if err := retry(pull, log, "look up partition consumer", func(ctx context.Context) (err error) {
		cons, err = u.stream.Consumer(ctx, ConsumerName(p))
		return err
	}); err != nil {
		return
	}
	u.state.reset(p)
	log.Info("consuming partition")
	ln := u.combiner.join()
	defer u.combiner.part(ln)
	idle := true
	for pull.Err() == nil {
		if err := u.d.Gate.Wait(pull); err != nil {
			return
		}
		msgs, err := u.fetch(pull, cons, idle)
		if work.Err() != nil {
			// Deposed (or shutting down) with a pull outstanding: hand back
			// what it brought at once instead of after AckWait.
			for _, m := range msgs {
				_ = m.Nak()
			}
			return
		}
		if err != nil {
			log.Debug("fetch failed", zap.Error(err))
			ctxsleep.Sleep(pull, 500*time.Millisecond)
			continue
		}
		idle = len(msgs) == 0
		if idle {
			u.combiner.drained(ln)
			continue
		}
		start := time.Now()
		g := u.gather(pull, cons, ln, msgs)
		u.d.Stats.batches.Add(1)
		b := u.process(work, p, lease, g, log)
		u.settle(work, b)
		if u.d.Metrics != nil {
			u.d.Metrics.batch.Observe(time.Since(start).Seconds())
		}
	}
}

// fetch pulls the next batch. An idle partition long-polls for one message,
// then lingers briefly for the rest.
//
// A partition loop pulls only between batches, so a batch that outlives
// AckWait is not redelivered behind its back: JetStream sends redeliveries
// to an outstanding pull, and by the next pull the batch's acks have
// settled those messages. Each delta is therefore counted once.
func (u *Upserter) fetch(ctx context.Context, cons jetstream.Consumer, idle bool) ([]jetstream.Msg, error) {
	var msgs []jetstream.Msg
	want := u.batchMax()
	if idle {
		first, err := fetchWithin(ctx, cons, 1, 2*time.Second)
		if err != nil || len(first) == 0 {
			return first, err
		}
		msgs, want = first, want-1
		if want == 0 {
			return msgs, nil
		}
	}
	var err error
	msgs = worker.Linger(msgs, len(msgs)+want, u.cfg.Linger, func(n int, wait time.Duration) ([]jetstream.Msg, error) {
		var got []jetstream.Msg
		got, err = fetchWithin(ctx, cons, n, wait)
		return got, err
	})
	if len(msgs) > 0 {
		return msgs, nil // deliver what arrived even if the batch then failed
	}
	return msgs, err
}

// batchCalls is how many Collections calls' worth of deltas (BatchSize
// each) one partition takes at a time. A partition has one batch in flight,
// so with batches of one call a member's throughput was bound by its
// partitions (16 × 200 records per call latency), below the
// SF_MAX_CONCURRENCY calls it may make; a batch of five calls lets 16
// partitions keep 24 calls busy and still be split by record into full
// calls (no two records of one contact: fold leaves one write per contact).
const batchCalls = 5

// partitionMax is the most deltas in one partition batch, ever.
func (u *Upserter) partitionMax() int { return batchCalls * u.cfg.BatchSize }

// memberCalls is how many Collections calls' worth of deltas a member
// holds fetched at once over all its partitions: twice the calls it may
// have in flight, so they stay busy while the next batches are fetched.
// Without it a member's memory grew with the partitions it owned and the
// backlog behind them: one that held all 16 partitions of a deep backlog
// kept 16 × 1,000 deltas in memory, against 16 × ~600 with a backlog of
// 10,000 (measured: peak heap 1.4–1.7× with 1,000,000 pending).
const memberCalls = 2

// batchMax is the most deltas a partition fetches now: its share of
// memberCalls × the client's concurrency (SF_MAX_CONCURRENCY) calls' worth
// over the partitions this member owns, at least one call's worth and at
// most partitionMax.
func (u *Upserter) batchMax() int {
	conc := salesforce.DefaultMaxConcurrency
	if c, ok := u.d.Salesforce.(interface{ MaxConcurrency() int }); ok {
		conc = c.MaxConcurrency()
	}
	u.mu.Lock()
	owned := max(1, len(u.owned))
	u.mu.Unlock()
	return min(max(memberCalls*conc*u.cfg.BatchSize/owned, u.cfg.BatchSize), u.partitionMax())
}

// gatherPull is the longest pull of a batch being gathered: how long a
// partition may take to notice that the call it should ride in is due.
const gatherPull = 200 * time.Millisecond

// gathered is a partition's batch: its messages and the combiner opening it
// was gathered under (see opening).
type gathered struct {
	msgs []jetstream.Msg
	open *opening
}

// gather keeps pulling into the batch msgs began, announced to the
// combiner as an opening, until the batch holds a full call's worth
// (BatchSize), its own oldest delta is due, the combiner asks it to close
// (a call it can ride in is due), or ctx (the pull context: stop, lease
// loss) ends. Deltas that reach the partition during the freshness budget
// so join the call instead of queueing behind it, and a partition still
// holds one batch at a time.
func (u *Upserter) gather(ctx context.Context, cons jetstream.Consumer, ln *lane, msgs []jetstream.Msg) gathered {
	o := u.combiner.open(ln, oldestOf(msgs), morePending(msgs))
	beat := time.Now()
	// Gathering stops at a full call's worth: waiting for more would only
	// hold a full call back until its budget is spent (a pull already
	// there may still bring up to batchMax).
	for len(msgs) < u.cfg.BatchSize && ctx.Err() == nil {
		select {
		case <-o.closing:
			return gathered{msgs, o}
		default:
		}
		wait := min(gatherPull, time.Until(o.deadline))
		if wait < time.Millisecond {
			break // due: the combiner calls the others now
		}
		more, err := fetchWithin(ctx, cons, u.batchMax()-len(msgs), wait)
		msgs = append(msgs, more...)
		if err != nil {
			break
		}
		if time.Since(beat) >= u.cfg.AckWait/3 { // a long (stretched) budget must not run into AckWait
			worker.InProgress(msgs, nil)
			beat = time.Now()
		}
	}
	return gathered{msgs, o}
}

// morePending reports whether the partition had more deltas waiting when
// the last of msgs was delivered (JetStream's per-message pending count):
// the batch is part of a backlog.
func morePending(msgs []jetstream.Msg) bool {
	if len(msgs) == 0 {
		return false
	}
	md, err := msgs[len(msgs)-1].Metadata()
	return err == nil && md.NumPending > 0
}

// oldestOf is the publish time of the oldest of msgs.
func oldestOf(msgs []jetstream.Msg) time.Time {
	t := time.Now()
	for _, m := range msgs {
		if md, err := m.Metadata(); err == nil && md.Timestamp.Before(t) {
			t = md.Timestamp
		}
	}
	return t
}

// fetchWithin pulls up to n messages, waiting at most d. It is not cut short
// by a context: JetStream has no way to withdraw a pull request, so a client
// that stops listening early loses whatever the server still sends to it
// until AckWait brings it back (a stall of SYNC_ACK_WAIT on every hand-over).
// Waiting out d (and the server's expiry status) receives every message.
func fetchWithin(_ context.Context, cons jetstream.Consumer, n int, d time.Duration) ([]jetstream.Msg, error) {
	return collect(cons.Fetch(n, jetstream.FetchMaxWait(d)))
}

func collect(b jetstream.MessageBatch, err error) ([]jetstream.Msg, error) {
	if err != nil {
		return nil, err
	}
	var out []jetstream.Msg
	for m := range b.Messages() {
		out = append(out, m)
	}
	if err := b.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return out, err
	}
	return out, nil
}
