package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/internal/ctxsleep"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/telemetry"
	"github.com/contactsync/contactsync/pkg/worker"
)

// SF is what the reconciler needs from the Salesforce client.
type SF interface {
	UpsertCollection(ctx context.Context, sobject, extIDField string, recs []salesforce.Record, o salesforce.WriteOptions) ([]salesforce.SaveResult, error)
}

// Error codes of dead letters the reconciler raises itself.
const (
	CodeBadEvent      = "INVALID_CONFLICT_EVENT" // not a decodable conflict event
	CodeMaxDeliveries = "MAX_DELIVERIES"         // still failing on the last delivery
)

// ErrStarted is returned by Start on a Reconciler that was already started.
var ErrStarted = errors.New("reconcile: already started")

// Stats are running totals.
type Stats struct {
	Events       int64 `json:"events"`        // messages settled (acked, dead-lettered or handed back)
	Written      int64 `json:"written"`       // exception records upserted
	Created      int64 `json:"created"`       // of which new records
	DeadLettered int64 `json:"dead_lettered"` // events sent to the DLQ
	Retried      int64 `json:"retried"`       // events handed back for redelivery, and batch retries in place
	Batches      int64 `json:"batches"`
}

// Reconciler consumes CONFLICTS and writes Contact_Sync_Exception__c records.
type Reconciler struct {
	js  jetstream.JetStream
	sf  SF
	cfg Config
	log *zap.Logger

	mu       sync.Mutex
	started  bool
	stopping bool
	iter     jetstream.MessagesContext // the current one; replaced when the consumer is subscribed again
	stopPull context.CancelFunc        // ends subscribing again (phase one of Stop)
	cancel   context.CancelFunc        // aborts in-flight work (phase two of Stop)
	wg       sync.WaitGroup

	events, written, created, dead, retried, batches atomic.Int64
}

// New returns a Reconciler; Start runs it.
func New(js jetstream.JetStream, sf SF, cfg Config, log *zap.Logger) (*Reconciler, error) {
	if js == nil || sf == nil {
		return nil, errors.New("reconcile: JetStream and Salesforce client are required")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Reconciler{js: js, sf: sf, cfg: cfg.WithDefaults(), log: log.Named("reconciler")}, nil
}

// Stats returns the running totals.
func (r *Reconciler) Stats() Stats {
	return Stats{Events: r.events.Load(), Written: r.written.Load(), Created: r.created.Load(),
		DeadLettered: r.dead.Load(), Retried: r.retried.Load(), Batches: r.batches.Load()}
}

// Start creates (or updates) the durable consumer and starts consuming in
// its own goroutine. ctx bounds the setup only; Stop ends the run. While
// JetStream is unavailable (a node restarting, no leader yet), each setup
// call is retried with its own deadline until ctx ends; a missing CONFLICTS
// stream fails at once.
//
// The run outlives node losses: when the consumer stops delivering for good
// (it was deleted, or the server refused the pull), the reconciler creates
// it again and carries on; redelivered events only refresh their records.
func (r *Reconciler) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return ErrStarted
	}
	it, err := r.subscribe(ctx)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	pullCtx, stopPull := context.WithCancel(runCtx)
	r.started, r.iter, r.cancel, r.stopPull = true, it, cancel, stopPull
	r.wg.Add(1)
	go r.run(runCtx, pullCtx, it)
	if as, ok := r.sf.(ApplySF); ok && r.cfg.ApplyInterval > 0 {
		r.wg.Add(1)
		go r.applyLoop(pullCtx, as) // resolved exceptions applied back (apply.go)
	}
	r.log.Info("reconciler started", zap.String("consumer", r.cfg.Durable))
	return nil
}

// subscribe creates or updates the durable consumer, retrying while
// JetStream is unavailable, and opens its message iterator.
func (r *Reconciler) subscribe(ctx context.Context) (jetstream.MessagesContext, error) {
	retry := bus.Retry{OnRetry: func(a bus.Attempt) {
		r.log.Warn("waiting for JetStream, retrying", zap.String("step", a.Step), zap.Int("attempt", a.N),
			zap.Duration("in", a.Wait), zap.Error(a.Err))
	}}
	var cons jetstream.Consumer
	err := retry.Do(ctx, "consumer "+r.cfg.Durable+" on stream "+bus.StreamConflicts, func(ctx context.Context) error {
		var err error
		cons, err = r.js.CreateOrUpdateConsumer(ctx, bus.StreamConflicts, r.cfg.consumerConfig())
		return err
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("reconcile: %w (stream %s is created by the upserters, the producer or bus.Ensure)", err, bus.StreamConflicts)
	}
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(2 * r.cfg.BatchSize))
	if err != nil {
		return nil, fmt.Errorf("reconcile: consume %s: %w", r.cfg.Durable, err)
	}
	return it, nil
}

// Stop shuts down in two phases: stop pulling and finish the events already
// received; if ctx ends first, cancel in-flight calls (their events are
// redelivered later). It returns after the goroutine has exited; the error
// is ctx's when phase two was needed. The caller drains the NATS connection
// afterwards.
func (r *Reconciler) Stop(ctx context.Context) error {
	r.mu.Lock()
	if !r.started {
		r.mu.Unlock()
		return nil
	}
	r.stopping = true
	it, cancel := r.iter, r.cancel
	r.mu.Unlock()

	err := worker.Stop(ctx, worker.Done(&r.wg), func() {
		r.stopPull()
		it.Drain()
	}, cancel)
	r.log.Info("reconciler stopped", zap.Int64("written", r.written.Load()),
		zap.Int64("dead_lettered", r.dead.Load()), zap.Int64("retried", r.retried.Load()))
	return err
}

// run consumes it until Stop; when the iterator closes by itself, it
// subscribes again after a backoff (pullCtx ends that at Stop).
func (r *Reconciler) run(ctx, pullCtx context.Context, it jetstream.MessagesContext) {
	defer r.wg.Done()
	b := backoff.NewExponentialBackOff(backoff.WithInitialInterval(r.cfg.RetryInitial),
		backoff.WithMaxInterval(r.cfg.RetryMax), backoff.WithMaxElapsedTime(0))
	for {
		before := r.batches.Load()
		err := r.consume(ctx, it)
		if pullCtx.Err() != nil {
			return // stopping: it was drained
		}
		it.Stop()
		if errors.Is(err, nats.ErrConnectionClosed) {
			r.log.Error("NATS connection closed; the reconciler stops consuming", zap.Error(err))
			return
		}
		if r.batches.Load() > before {
			b.Reset() // it worked for a while: not a loop of failures
		}
		r.log.Warn("consumer stopped delivering; subscribing again", zap.String("consumer", r.cfg.Durable), zap.Error(err))
		for {
			if !ctxsleep.Sleep(pullCtx, b.NextBackOff()) {
				return
			}
			if it, err = r.subscribe(pullCtx); err == nil {
				break
			}
			if pullCtx.Err() != nil {
				return
			}
			r.log.Error("cannot subscribe again; retrying", zap.Error(err))
		}
		r.mu.Lock()
		if r.stopping {
			r.mu.Unlock()
			it.Stop()
			return
		}
		r.iter = it
		r.mu.Unlock()
	}
}

// consume settles batches from it until it is closed, and returns why: the
// terminal error the iterator reported before closing (consumer deleted,
// bad request), or jetstream.ErrMsgIteratorClosed.
func (r *Reconciler) consume(ctx context.Context, it jetstream.MessagesContext) error {
	var last error
	for {
		first, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				if last != nil && !errors.Is(err, nats.ErrConnectionClosed) {
					return last
				}
				return err
			}
			last = err
			r.log.Warn("pull failed", zap.Error(err))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(r.cfg.RetryInitial):
			}
			continue
		}
		// Linger over, or the iterator closed (the next outer Next sees it).
		batch := worker.Linger([]jetstream.Msg{first}, r.cfg.BatchSize, r.cfg.Linger, func(_ int, wait time.Duration) ([]jetstream.Msg, error) {
			m, err := it.Next(jetstream.NextMaxWait(wait))
			if err != nil {
				return nil, err
			}
			return []jetstream.Msg{m}, nil
		})
		t := r.process(ctx, batch)
		r.batches.Add(1)
		if r.cfg.OnBatch != nil {
			r.cfg.OnBatch(t)
		}
	}
}

// group is the events of one key in a batch.
type group struct {
	key   string
	event conflict.Event // the newest
	idx   []int          // the batch positions of its messages
	first int            // of the newest event
}

// process decides and settles one batch: each event ends written (the
// newest of its key Created or Updated, older ones of the same key
// StaleSkipped: the record carries the newest), DeadLettered or Retried,
// and worker.Settler acks, terminates or hands it back.
func (r *Reconciler) process(ctx context.Context, msgs []jetstream.Msg) worker.Tally {
	res := make([]worker.Result, len(msgs))
	var groups []*group
	byKey := map[string]*group{}
	for i, m := range msgs {
		ev, err := conflict.DecodeEvent(m.Data())
		if err != nil {
			res[i] = worker.Result{Outcome: worker.DeadLettered, Code: CodeBadEvent, Message: err.Error()}
			continue
		}
		k := ev.Key()
		g := byKey[k]
		if g == nil {
			g = &group{key: k, event: ev, first: i}
			byKey[k] = g
			groups = append(groups, g)
		} else if ev.SeenAt.After(g.event.SeenAt) || (ev.SeenAt.Equal(g.event.SeenAt) && ev.SourceVersion > g.event.SourceVersion) {
			g.event, g.first = ev, i
		}
		g.idx = append(g.idx, i)
	}
	if len(groups) > 0 {
		r.decide(ctx, msgs, groups, res)
	}
	st := worker.Settler{JS: r.js, Log: r.log, CallTimeout: 10 * time.Second}
	if n := st.DeadLetters(ctx, msgs, res); n > 0 {
		r.log.Info("stopping: dead letters left for redelivery", zap.Int("events", n))
	}
	// Count before acking: whoever watches the consumer drain (the
	// standalone run) reads Stats as soon as the last ack lands.
	var t worker.Tally
	for _, x := range res {
		t.Add(x.Outcome, 1)
	}
	r.count(t)
	st.Finish(msgs, res, nil)
	return t
}

// decide writes one exception record per group and sets the outcome of
// each of its events.
func (r *Reconciler) decide(ctx context.Context, msgs []jetstream.Msg, groups []*group, res []worker.Result) {
	recs := make([]salesforce.Record, len(groups))
	for i, g := range groups {
		recs[i] = Record(g.event, r.cfg.KeyField, r.cfg.PayloadLimit)
	}
	sr, err := r.write(ctx, recs, msgs)
	if err != nil {
		r.log.Error("exception batch not written; events handed back", zap.Int("events", len(msgs)), zap.String("error", telemetry.Redact(err.Error())))
		for _, g := range groups {
			for _, i := range g.idx {
				res[i] = r.handBack(msgs[i], "WRITE_FAILED", err.Error())
			}
		}
		return
	}
	for gi, g := range groups {
		if s := sr[gi]; s.Success {
			for _, i := range g.idx {
				res[i] = worker.Result{Outcome: worker.StaleSkipped}
			}
			res[g.first] = worker.Result{Outcome: worker.Updated}
			if s.Created {
				res[g.first].Outcome = worker.Created
			}
			continue
		}
		e := salesforce.RecordError{StatusCode: salesforce.CodeUnknownError, Message: "record failed without an error"}
		if len(sr[gi].Errors) > 0 {
			e = sr[gi].Errors[0]
		}
		for _, i := range g.idx {
			if transient(salesforce.Classify(e.StatusCode, 0)) {
				res[i] = r.handBack(msgs[i], e.StatusCode, e.Message)
			} else {
				res[i] = worker.Result{Outcome: worker.DeadLettered, Code: e.StatusCode, Message: e.Message}
			}
		}
	}
}

// write upserts recs, retrying transient whole-call failures in place with
// exponential backoff (backoff/v4) while the messages are kept in progress.
func (r *Reconciler) write(ctx context.Context, recs []salesforce.Record, msgs []jetstream.Msg) ([]salesforce.SaveResult, error) {
	bo := backoff.NewExponentialBackOff(backoff.WithInitialInterval(r.cfg.RetryInitial),
		backoff.WithMaxInterval(r.cfg.RetryMax), backoff.WithMaxElapsedTime(r.cfg.RetryElapsed))
	var res []salesforce.SaveResult
	err := backoff.RetryNotify(func() error {
		cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
		defer cancel()
		var err error
		res, err = r.sf.UpsertCollection(cctx, r.cfg.Object, r.cfg.KeyField, recs, salesforce.WriteOptions{})
		if err == nil && len(res) != len(recs) {
			err = fmt.Errorf("reconcile: %d results for %d records", len(res), len(recs))
		}
		if err != nil && (ctx.Err() != nil || !transient(salesforce.ClassOf(err))) {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(bo, ctx), func(err error, wait time.Duration) {
		r.retried.Add(1)
		r.log.Warn("exception batch failed; retrying", zap.Duration("in", wait), zap.String("error", telemetry.Redact(err.Error())))
		worker.InProgress(msgs, nil)
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return res, nil
}

// handBack returns m for redelivery after a backoff; on its last delivery it
// goes to the DLQ instead, so nothing is dropped silently.
func (r *Reconciler) handBack(m jetstream.Msg, code, msg string) worker.Result {
	n := deliveries(m)
	if n >= uint64(r.cfg.MaxDeliver) {
		return worker.Result{Outcome: worker.DeadLettered, Code: code, Message: fmt.Sprintf("%s (after %d deliveries)", msg, n)}
	}
	delay := r.cfg.RetryInitial << min(n, 16)
	if delay > r.cfg.RetryMax || delay <= 0 {
		delay = r.cfg.RetryMax
	}
	return worker.Result{Outcome: worker.Retried, Delay: delay}
}

// count adds a batch's outcomes to the running totals.
func (r *Reconciler) count(t worker.Tally) {
	r.events.Add(int64(t.Total()))
	r.written.Add(int64(t.Of(worker.Created) + t.Of(worker.Updated)))
	r.created.Add(int64(t.Of(worker.Created)))
	r.dead.Add(int64(t.Of(worker.DeadLettered)))
	r.retried.Add(int64(t.Of(worker.Retried)))
}

func deliveries(m jetstream.Msg) uint64 {
	if md, err := m.Metadata(); err == nil {
		return md.NumDelivered
	}
	return 1
}

func transient(c salesforce.Class) bool {
	return c == salesforce.ClassTransient || c == salesforce.ClassSession || c == salesforce.ClassLimit
}
