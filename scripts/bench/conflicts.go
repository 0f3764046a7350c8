package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/producer"
	"github.com/contactsync/contactsync/pkg/reconcile"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/upsert"
)

const (
	conflictDeltas    = 200
	conflictConflicts = 50
)

// runConflicts measures, for each policy, the API calls of one upserter
// batch of 200 deltas of which 50 carry the email of an existing contact
// with another external ID: once with the whole batch in one segment, and
// once spread over three segments (as a partition's batch is in practice:
// partitions are by contact key, not by segment).
func runConflicts(ctx context.Context, o Options) ([]ConflictRow, error) {
	var rows []ConflictRow
	for _, segs := range [][]string{{"emea"}, {"emea", "amer", "apac"}} {
		for _, p := range []conflict.Policy{conflict.Strict, conflict.ExternalID, conflict.Email} {
			r, err := conflictBatch(ctx, o, p, segs)
			if err != nil {
				return nil, fmt.Errorf("policy %s, %d segments: %w", p, len(segs), err)
			}
			rows = append(rows, r)
		}
	}
	return rows, nil
}

func conflictBatch(ctx context.Context, o Options, policy conflict.Policy, segments []string) (ConflictRow, error) {
	row := ConflictRow{Policy: string(policy), Segments: fmt.Sprintf("%d segment", len(segments)),
		Deltas: conflictDeltas, Conflicts: conflictConflicts}
	if len(segments) > 1 {
		row.Segments += "s"
	}
	ns, nc, stop, err := embeddedNATS("bench-conflicts")
	if err != nil {
		return row, err
	}
	defer stop()
	js, err := producer.NewJetStream(nc, 0)
	if err != nil {
		return row, err
	}
	// One partition, so the 200 deltas meet in one batch.
	if err := bus.Ensure(ctx, js, bus.Topology{Partitions: 1}); err != nil {
		return row, err
	}
	srv, err := sfsim.New(sfsim.Config{})
	if err != nil {
		return row, err
	}
	defer srv.Close()
	sf, err := salesforce.New(ctx, salesforce.Config{LoginURL: srv.URL(), ClientID: "contactsync", ClientSecret: "contactsync-secret"})
	if err != nil {
		return row, err
	}
	defer sf.Close()

	// Every fourth delta's email already belongs to a contact linked to
	// another external ID: a real duplicate-rule conflict.
	pub := producer.NewPublisher(js)
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range conflictDeltas {
		email := fmt.Sprintf("o'conflict.%03d@Example.com", i)
		if i%(conflictDeltas/conflictConflicts) == 0 {
			if _, err := srv.Insert("Contact", map[string]any{"LastName": "Legacy", "Email": strings.ToLower(email),
				extIDField: fmt.Sprintf("LEGACY-%03d", i)}); err != nil {
				return row, fmt.Errorf("seed: %w", err)
			}
		}
		d := delta.Delta{Schema: delta.SchemaV1, ExternalID: fmt.Sprintf("CF_%03d", i), Segment: segments[i%len(segments)],
			Version: base.UnixMicro() + int64(i), Source: "bench", EmittedAt: base,
			Fields: map[string]any{"FirstName": "Con", "LastName": fmt.Sprintf("Flict %d", i), "Email": email}}
		if err := pub.Publish(ctx, i+1, d); err != nil {
			return row, err
		}
	}
	if c, err := pub.Flush(ctx); err != nil || c.Published != conflictDeltas {
		return row, fmt.Errorf("publish: %+v, %v", c, err)
	}

	routes0 := srv.Stats().Routes
	calls0 := sf.APICalls()
	unc, err := nats.Connect(ns.ClientURL(), nats.Name("bench-conflicts-upserter"))
	if err != nil {
		return row, err
	}
	defer unc.Close()
	stats := &upsert.Stats{}
	counted := &countingSF{Client: sf, by: &sync.Map{}}
	u, err := upsert.New(upsert.Config{Partitions: 1, BatchSize: conflictDeltas, Member: "bench-conflicts"},
		upsert.Deps{NATS: unc, Salesforce: counted, Stats: stats,
			Resolver: conflict.NewResolver(&countingSF{Client: sf, by: counted.by, prefix: "resolver "}, conflict.Config{DefaultPolicy: policy}, nil)})
	if err != nil {
		return row, err
	}
	if err := u.Start(ctx); err != nil {
		return row, err
	}
	err = waitFor(ctx, 2*time.Minute, func() bool { return stats.Snapshot().Done() >= conflictDeltas })
	_ = u.Stop(context.Background())
	if err != nil {
		return row, fmt.Errorf("upserter: %d of %d done: %w", stats.Snapshot().Done(), conflictDeltas, err)
	}
	snap := stats.Snapshot()
	upserterCalls := sf.APICalls() - calls0
	routes1 := srv.Stats().Routes

	// The reconciler writes the batch's exception records.
	rec, err := reconcile.New(js, sf, reconcile.Config{}, nil)
	if err != nil {
		return row, err
	}
	if err := rec.Start(ctx); err != nil {
		return row, err
	}
	err = waitFor(ctx, 2*time.Minute, func() bool { return rec.Stats().Events >= snap.ConflictEvents })
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_ = rec.Stop(sctx)
	cancel()
	if err != nil {
		return row, fmt.Errorf("reconciler: %d of %d events: %w", rec.Stats().Events, snap.ConflictEvents, err)
	}
	routes2 := srv.Stats().Routes

	row.Batches = snap.Batches
	row.Upserts = counted.get("UpsertCollection")
	row.Beyond = upserterCalls - row.Upserts
	row.Reconciler = sf.APICalls() - calls0 - upserterCalls
	row.Outcomes = fmt.Sprintf("created %d, updated %d, adopted %d, rekeyed %d, held %d, dlq %d; %d conflict events, %d exceptions written",
		snap.Created, snap.Updated, snap.Adopted, snap.Rekeyed, snap.Held, snap.DeadLettered, snap.ConflictEvents, rec.Stats().Written)
	row.Calls = counted.String() + "; emulator routes: " + routesString(routes0, routes1) + " + reconciler " + routesString(routes1, routes2)
	if snap.Batches != 1 {
		o.logf("  warning: policy %s took %d batches, not 1", policy, snap.Batches)
	}
	return row, nil
}

// countingSF counts the API calls made inside each Salesforce method the
// upserter and the resolver use (exact here: one batch, calls in sequence).
type countingSF struct {
	*salesforce.Client
	prefix string
	by     *sync.Map // method → *atomic.Int64
}

func (c *countingSF) count(method string, f func()) {
	before := c.Client.APICalls()
	f()
	v, _ := c.by.LoadOrStore(c.prefix+method, new(atomic.Int64))
	v.(*atomic.Int64).Add(c.Client.APICalls() - before)
}

func (c *countingSF) get(method string) int64 {
	if v, ok := c.by.Load(method); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

func (c *countingSF) String() string {
	var parts []string
	c.by.Range(func(k, v any) bool {
		if n := v.(*atomic.Int64).Load(); n > 0 {
			parts = append(parts, fmt.Sprintf("%s ×%d", k, n))
		}
		return true
	})
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func (c *countingSF) UpsertCollection(ctx context.Context, sobject, extIDField string, recs []salesforce.Record, o salesforce.WriteOptions) (res []salesforce.SaveResult, err error) {
	c.count("UpsertCollection", func() { res, err = c.Client.UpsertCollection(ctx, sobject, extIDField, recs, o) })
	return res, err
}

func (c *countingSF) UpdateCollection(ctx context.Context, sobject string, recs []salesforce.Record, o salesforce.WriteOptions) (res []salesforce.SaveResult, err error) {
	c.count("UpdateCollection", func() { res, err = c.Client.UpdateCollection(ctx, sobject, recs, o) })
	return res, err
}

func (c *countingSF) QueryAll(ctx context.Context, soql string) (recs []salesforce.Record, err error) {
	c.count("QueryAll", func() { recs, err = c.Client.QueryAll(ctx, soql) })
	return recs, err
}

func (c *countingSF) Limits(ctx context.Context) (l map[string]salesforce.Limit, err error) {
	c.count("Limits", func() { l, err = c.Client.Limits(ctx) })
	return l, err
}

func routesString(before, after map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if d := after[k] - before[k]; d > 0 {
			parts = append(parts, fmt.Sprintf("%s ×%d", k, d))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
