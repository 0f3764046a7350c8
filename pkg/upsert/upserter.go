package upsert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/fleet"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/worker"
)

// ConsumerName is the durable consumer of partition p.
func ConsumerName(p int) string { return fmt.Sprintf("upsert-p%02d", p) }

// Salesforce is what the upserter needs from pkg/salesforce.
type Salesforce interface {
	UpsertCollection(ctx context.Context, sobject, extIDField string, recs []salesforce.Record, o salesforce.WriteOptions) ([]salesforce.SaveResult, error)
	Usage() salesforce.Usage
	Limits(ctx context.Context) (map[string]salesforce.Limit, error)
	QueryAll(ctx context.Context, soql string) ([]salesforce.Record, error)
}

// Resolver settles a batch's duplicate-rule refusals by policy (pkg/conflict).
type Resolver interface {
	Resolve(ctx context.Context, refusals []conflict.Refusal) ([]conflict.Verdict, error)
}

// Deps are the Upserter's collaborators.
type Deps struct {
	NATS       *nats.Conn // its own connection: ownership is per connection
	Salesforce Salesforce
	Resolver   Resolver
	Stats      *Stats      // nil = a new one
	Gate       *Gate       // nil = a new one (share one per process)
	Metrics    *Metrics    // nil = none
	Latencies  *Latencies  // nil = not recorded
	Logger     *zap.Logger // nil = nop
}

// Upserter is one member of the upsert fleet.
type Upserter struct {
	cfg      Config
	d        Deps
	js       jetstream.JetStream
	log      *zap.Logger
	state    *stateStore
	combiner *combiner
	calls    callStats // this member's own calls, for its heartbeat (Stats may be shared)
	budget   *budget
	leases   jetstream.KeyValue // partition leases, in the state bucket (see stateStore)

	stream jetstream.Stream
	member *fleet.Membership

	hardCtx    context.Context // cancelled at the end of shutdown
	hardCancel context.CancelFunc
	softCancel context.CancelFunc
	wg         sync.WaitGroup

	mu     sync.Mutex
	owned  map[int]*partitionRun
	closed bool
}

type partitionRun struct {
	stop chan struct{}
	done chan struct{}
}

// New builds an Upserter; Start runs it.
func New(cfg Config, d Deps) (*Upserter, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if d.NATS == nil || d.Salesforce == nil || d.Resolver == nil {
		return nil, errors.New("upsert: Deps.NATS, Deps.Salesforce and Deps.Resolver are required")
	}
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	if d.Stats == nil {
		d.Stats = &Stats{}
	}
	if d.Gate == nil {
		d.Gate = NewGate(d.Salesforce, cfg.UsagePauseAt, cfg.LimitCheckInterval, d.Logger)
	}
	if cfg.Member == "" {
		host, _ := os.Hostname()
		cfg.Member = fmt.Sprintf("%s-%d-%04x", host, os.Getpid(), rand.IntN(1<<16))
	}
	// A publish to a stream without a leader must fail, not wait forever.
	js, err := bus.NewJetStream(d.NATS)
	if err != nil {
		return nil, err
	}
	return &Upserter{cfg: cfg, d: d, js: js, log: d.Logger.With(zap.String("member", cfg.Member)), owned: map[int]*partitionRun{}}, nil
}

// Stats returns the shared outcome counters.
func (u *Upserter) Stats() *Stats { return u.d.Stats }

// Member is this upserter's fleet member name.
func (u *Upserter) Member() string { return u.cfg.Member }

// Owned returns the partitions this member consumes now.
func (u *Upserter) Owned() []int {
	u.mu.Lock()
	defer u.mu.Unlock()
	var ps []int
	for p := range u.owned {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// Start creates the partition consumers (idempotent), joins the fleet and
// begins consuming the partitions assigned to this member. Each step is
// retried (a JetStream node may be away) until ctx, which bounds setup
// only, ends.
func (u *Upserter) Start(ctx context.Context) error {
	step := func(what string, f func(context.Context) error) error {
		if err := retry(ctx, u.log, what, f); err != nil {
			return fmt.Errorf("upsert: %s: %w", what, err)
		}
		return nil
	}
	if err := step("stream "+bus.StreamContacts, func(ctx context.Context) (err error) {
		u.stream, err = u.js.Stream(ctx, bus.StreamContacts)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return backoff.Permanent(fmt.Errorf("%w (run the producer or bus.Ensure first)", err))
		}
		return err
	}); err != nil {
		return err
	}
	if err := u.checkVersionField(ctx); err != nil {
		return err
	}
	for p := 0; p < u.cfg.Partitions; p++ {
		if err := step("consumer "+ConsumerName(p), func(ctx context.Context) error {
			_, err := u.stream.CreateOrUpdateConsumer(ctx, u.consumerConfig(p))
			return err
		}); err != nil {
			return err
		}
	}
	if err := step("bucket "+bus.BucketState, func(ctx context.Context) (err error) {
		u.leases, err = u.js.KeyValue(ctx, bus.BucketState)
		return err
	}); err != nil {
		return err
	}
	u.state = newStateStore(u.js)
	var membersKV jetstream.KeyValue
	if err := step("bucket "+bus.BucketMembers, func(ctx context.Context) (err error) {
		membersKV, err = u.js.KeyValue(ctx, bus.BucketMembers)
		return err
	}); err != nil {
		return err
	}
	var member *fleet.Membership
	if err := step("join fleet", func(ctx context.Context) (err error) {
		member, err = fleet.Join(ctx, membersKV, u.cfg.Member, u.cfg.Heartbeat, u.log)
		return err
	}); err != nil {
		return err
	}
	// From here Run owns the membership (and closes its watch).
	u.member = member
	u.hardCtx, u.hardCancel = context.WithCancel(context.Background())
	u.budget = newBudget(u.d.Salesforce.Usage, u.cfg.APIBudget, u.cfg.MaxDelay, u.cfg.MaxDelayCap, u.log)
	u.budget.metrics = u.d.Metrics
	u.combiner = newCombiner(u.d.Salesforce, u.cfg.Object, u.cfg.ExternalIDField, u.cfg.BatchSize, u.budget.delay)
	u.combiner.gate = u.d.Gate.Wait
	u.combiner.count = func(r callReason, n int) {
		u.calls.add(r, n)
		u.d.Stats.calls.add(r, n)
		u.d.Metrics.call(r, n)
	}
	member.SetReport(func() []byte {
		r := MemberReport{At: time.Now().UTC(), Partitions: u.Owned(), Calls: u.calls.snapshot(), BatchSize: u.cfg.BatchSize}
		u.budget.report(&r)
		b, _ := json.Marshal(r)
		return b
	})
	go u.combiner.run(u.hardCtx) // outlives the partition loops: Stop waits for it last
	softCtx, softCancel := context.WithCancel(u.hardCtx)
	u.softCancel = softCancel
	u.wg.Add(2)
	go func() { defer u.wg.Done(); member.Run(softCtx) }()
	go func() { defer u.wg.Done(); u.assignLoop(softCtx) }()
	return nil
}

// checkVersionField makes sure the org has the version field before the
// first write, which would otherwise fail for every record (one query).
func (u *Upserter) checkVersionField(ctx context.Context) error {
	f := u.cfg.VersionField
	if f == "" {
		return nil
	}
	_, err := u.d.Salesforce.QueryAll(ctx, "SELECT "+f+" FROM "+u.cfg.Object+" LIMIT 1")
	var ae *salesforce.APIError
	if errors.As(err, &ae) && ae.ErrorCode == salesforce.CodeInvalidField {
		return fmt.Errorf("upsert: %s has no field %s (SYNC_VERSION_FIELD): deploy deployments/salesforce "+
			"(the field and its Sync_Version_Monotonic validation rule), or set SYNC_VERSION_FIELD=none to write without the version guard", u.cfg.Object, f)
	}
	if err != nil {
		return fmt.Errorf("upsert: check %s.%s (SYNC_VERSION_FIELD): %w", u.cfg.Object, f, err)
	}
	return nil
}

// consumerConfig is partition p's durable consumer. It has no priority
// group: who may pull is decided by the partition's lease, not by pinning.
func (u *Upserter) consumerConfig(p int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName(p),
		Description:   fmt.Sprintf("contactsync upserter, partition %d", p),
		FilterSubject: bus.DeltaFilter(p),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       u.cfg.AckWait,
		MaxDeliver:    u.cfg.MaxDeliver,
		MaxAckPending: 2 * u.partitionMax(),
	}
}

// assignLoop follows fleet membership and starts/stops partition loops.
func (u *Upserter) assignLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case members := <-u.member.Changes():
			u.rebalance(fleet.Assign(members, u.cfg.Partitions, u.cfg.Member))
		}
	}
}

func (u *Upserter) rebalance(want []int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return
	}
	for p, run := range u.owned {
		if !slices.Contains(want, p) {
			close(run.stop)
			delete(u.owned, p)
			u.log.Info("releasing partition", zap.Int("partition", p))
		}
	}
	for _, p := range want {
		if _, ok := u.owned[p]; ok {
			continue
		}
		run := &partitionRun{stop: make(chan struct{}), done: make(chan struct{})}
		u.owned[p] = run
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			defer close(run.done)
			u.runPartition(p, run.stop)
		}()
	}
	if u.d.Metrics != nil {
		u.d.Metrics.partitions.Set(float64(len(u.owned)))
	}
	u.log.Debug("partitions assigned", zap.Ints("partitions", want))
}

// Stop shuts down in two phases: stop pulling and finish in-flight batches
// (bounded by ctx and by ShutdownTimeout, whichever ends first), then cancel
// whatever is left; those deltas are redelivered to the partition's next
// owner, and Stop says so in its error. It leaves the fleet so other members
// take the partitions at once. The NATS connection belongs to the caller
// (nc.Drain it afterwards). Stop is safe to call more than once.
func (u *Upserter) Stop(ctx context.Context) error {
	u.mu.Lock()
	if u.closed || u.hardCancel == nil {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	for p, run := range u.owned {
		close(run.stop)
		delete(u.owned, p)
	}
	u.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, u.cfg.ShutdownTimeout)
	defer cancel()
	err := worker.Stop(ctx, worker.Done(&u.wg), func() {
		u.softCancel()
		u.combiner.hurry() // batches in flight go out now, not at their deadline
	}, func() {
		if ctx.Err() != nil {
			u.log.Warn("shutdown deadline: cancelling in-flight batches; they will be redelivered")
		}
		u.hardCancel()
	})
	<-u.combiner.stopped
	if err != nil {
		return fmt.Errorf("upsert: in-flight batches cut short at the shutdown deadline (SYNC_SHUTDOWN_TIMEOUT %v or the caller's); their deltas are redelivered to the partitions' next owner", u.cfg.ShutdownTimeout)
	}
	return nil
}
