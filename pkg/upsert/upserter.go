package upsert

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/fleet"
	"github.com/contactsync/contactsync/pkg/salesforce"
)

// PriorityGroup is the pinned priority group of the partition consumers.
const PriorityGroup = "upserters"

// ConsumerName is the durable consumer of partition p.
func ConsumerName(p int) string { return fmt.Sprintf("upsert-p%02d", p) }

// Salesforce is what the upserter needs from pkg/salesforce.
type Salesforce interface {
	UpsertCollection(ctx context.Context, sobject, extIDField string, recs []salesforce.Record, o salesforce.WriteOptions) ([]salesforce.SaveResult, error)
	Usage() salesforce.Usage
	Limits(ctx context.Context) (map[string]salesforce.Limit, error)
}

// Resolver settles a batch's duplicate-rule refusals by policy (pkg/conflict).
type Resolver interface {
	Resolve(ctx context.Context, refusals []conflict.Refusal) ([]conflict.Outcome, error)
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
	cfg   Config
	d     Deps
	js    jetstream.JetStream
	log   *zap.Logger
	state *stateStore

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
	js, err := jetstream.New(d.NATS)
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
// begins consuming the partitions assigned to this member. ctx bounds setup only.
func (u *Upserter) Start(ctx context.Context) error {
	stream, err := u.js.Stream(ctx, bus.StreamContacts)
	if err != nil {
		return fmt.Errorf("upsert: stream %s: %w (run the producer or bus.Ensure first)", bus.StreamContacts, err)
	}
	u.stream = stream
	for p := 0; p < u.cfg.Partitions; p++ {
		if _, err := stream.CreateOrUpdateConsumer(ctx, u.consumerConfig(p)); err != nil {
			return fmt.Errorf("upsert: consumer %s: %w", ConsumerName(p), err)
		}
	}
	if _, err := u.js.KeyValue(ctx, bus.BucketState); err != nil {
		return fmt.Errorf("upsert: bucket %s: %w", bus.BucketState, err)
	}
	u.state = newStateStore(u.js)
	membersKV, err := u.js.KeyValue(ctx, bus.BucketMembers)
	if err != nil {
		return fmt.Errorf("upsert: bucket %s: %w", bus.BucketMembers, err)
	}
	member, err := fleet.Join(ctx, membersKV, u.cfg.Member, u.cfg.Heartbeat, u.log)
	if err != nil {
		return fmt.Errorf("upsert: join fleet: %w", err)
	}
	// From here Run owns the membership (and closes its watch).
	u.member = member
	u.hardCtx, u.hardCancel = context.WithCancel(context.Background())
	softCtx, softCancel := context.WithCancel(u.hardCtx)
	u.softCancel = softCancel
	u.wg.Add(2)
	go func() { defer u.wg.Done(); member.Run(softCtx) }()
	go func() { defer u.wg.Done(); u.assignLoop(softCtx) }()
	return nil
}

func (u *Upserter) consumerConfig(p int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        ConsumerName(p),
		Description:    fmt.Sprintf("contactsync upserter, partition %d", p),
		FilterSubject:  bus.DeltaFilter(p),
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        u.cfg.AckWait,
		MaxDeliver:     u.cfg.MaxDeliver,
		MaxAckPending:  2 * u.cfg.BatchSize,
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PriorityGroups: []string{PriorityGroup},
		PinnedTTL:      u.cfg.PinnedTTL,
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
// (bounded by ShutdownTimeout), then cancel whatever is left. It leaves the
// fleet so other members take the partitions at once. The NATS connection
// belongs to the caller (nc.Drain it afterwards).
func (u *Upserter) Stop() {
	u.mu.Lock()
	if u.closed || u.hardCancel == nil {
		u.mu.Unlock()
		return
	}
	u.closed = true
	for p, run := range u.owned {
		close(run.stop)
		delete(u.owned, p)
	}
	u.mu.Unlock()
	u.softCancel()
	done := make(chan struct{})
	go func() { u.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(u.cfg.ShutdownTimeout):
		u.log.Warn("shutdown timeout: cancelling in-flight batches; they will be redelivered")
	}
	u.hardCancel()
	<-done
}
