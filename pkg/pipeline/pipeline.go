// Package pipeline runs the whole of contactsync in one process: a JetStream
// server (embedded unless NATS_URL is set), a Salesforce org (the embedded
// emulator unless SF_LOGIN_URL is set), the producer, a fleet of upserters
// (each with its own NATS connection, so partition ownership is real) and the
// reconciler. It reads its input (a file or generated contacts), waits until
// every delta has an outcome, and accounts for all of them in a Summary.
package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/producer"
	"github.com/contactsync/contactsync/pkg/reconcile"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/synth"
	"github.com/contactsync/contactsync/pkg/upsert"
)

// Config describes one run. Zero values take the defaults.
type Config struct {
	NATSURL   string // empty = embedded JetStream
	DataDir   string // embedded JetStream store; empty = a temp dir removed at the end
	Upserters int    // fleet members; default 4
	Input     string // NDJSON or CSV file; empty = generated contacts
	Mapping   string // CSV column mapping file (optional); with Source, the PostgreSQL mapping (required)
	// Source, a postgres:// URL, reads a table by watermark once instead
	// of Input (see pkg/pgsource).
	Source   string
	Synth    synth.Options
	SF       salesforce.Config // LoginURL empty = embedded emulator
	Sim      sfsim.Config      // the embedded emulator's settings
	Conflict conflict.Config
	Upsert   upsert.Config
	Topology bus.Topology
	Timeout  time.Duration // give up waiting for outcomes after this; default 30m
	// ShutdownTimeout is the one deadline for stopping the run: every
	// upserter drains its in-flight batches in parallel with the others
	// and with the reconciler, and what is still in flight at the deadline
	// is cancelled (redelivered by a later run). Each member's own
	// Upsert.ShutdownTimeout is capped at it. Default 10s.
	ShutdownTimeout time.Duration
	Progress        io.Writer // progress lines; nil = none
	// ProgressEvery is how often a progress line is written while waiting
	// for outcomes (default 1s).
	ProgressEvery time.Duration
	Logger        *zap.Logger
	// Latencies, when set, records publish→write latency (benchmarks).
	Latencies *upsert.Latencies
}

func (c *Config) setDefaults() {
	if c.Upserters <= 0 {
		c.Upserters = 4
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Minute
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Upsert.ShutdownTimeout <= 0 || c.Upsert.ShutdownTimeout > c.ShutdownTimeout {
		c.Upsert.ShutdownTimeout = c.ShutdownTimeout
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Topology.Partitions == 0 {
		c.Topology.Partitions = c.Upsert.Partitions
	}
	c.Upsert.Partitions = c.Topology.Partitions
	if c.Upsert.LimitCheckInterval == 0 {
		c.Upsert.LimitCheckInterval = time.Minute
	}
	if c.Upsert.UsagePauseAt == 0 {
		c.Upsert.UsagePauseAt = 0.9
	}
}

// DefaultShutdownTimeout is Config.ShutdownTimeout's default.
const DefaultShutdownTimeout = 10 * time.Second

// pausedShutdown caps the shutdown deadline of a run that ends with writes
// paused for the daily allocation.
const pausedShutdown = time.Second

// Run executes one run and returns its summary. The error is for failures
// to run at all; an incomplete run is a Summary with Gaps.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	cfg.setDefaults()
	log := cfg.Logger
	start := time.Now()
	sum := Summary{Policy: string(policyName(cfg.Conflict.DefaultPolicy))}

	// JetStream.
	natsURL := cfg.NATSURL
	if natsURL == "" {
		dir := cfg.DataDir
		if dir == "" {
			tmp, err := os.MkdirTemp("", "contactsync-js-")
			if err != nil {
				return sum, err
			}
			defer os.RemoveAll(tmp)
			dir = tmp
		}
		ns, err := bus.StartEmbedded(dir)
		if err != nil {
			return sum, fmt.Errorf("embedded JetStream: %w", err)
		}
		defer ns.Shutdown()
		natsURL = ns.ClientURL()
		sum.DataDir = cfg.DataDir // "" when the temp store is removed
		log.Info("embedded JetStream", zap.String("url", natsURL), zap.String("store", dir))
	}
	nc, err := nats.Connect(natsURL, nats.Name("contactsync-standalone"))
	if err != nil {
		return sum, fmt.Errorf("NATS_URL: %w", err)
	}
	defer nc.Close()
	js, err := bus.NewJetStream(nc)
	if err != nil {
		return sum, err
	}
	if err := bus.Ensure(ctx, js, cfg.Topology); err != nil {
		return sum, err
	}

	// Salesforce.
	sfcfg := cfg.SF
	var sim *sfsim.Server
	if sfcfg.LoginURL == "" {
		simcfg := cfg.Sim
		if simcfg.Logger == nil {
			simcfg.Logger = log.Named("sfsim")
		}
		sim, err = sfsim.New(simcfg)
		if err != nil {
			return sum, fmt.Errorf("embedded emulator: %w", err)
		}
		defer sim.Close()
		sfcfg = salesforce.Config{LoginURL: sim.URL(), ClientID: "contactsync", ClientSecret: "contactsync-secret",
			APIVersion: cfg.SF.APIVersion, MaxConcurrency: cfg.SF.MaxConcurrency}
		sum.Salesforce = "embedded emulator " + sim.URL()
	} else {
		sum.Salesforce = sfcfg.LoginURL
	}
	if sfcfg.Logger == nil {
		sfcfg.Logger = log.Named("salesforce")
	}
	sf, err := salesforce.New(ctx, sfcfg)
	if err != nil {
		return sum, err
	}
	defer sf.Close()
	calls0 := sf.APICalls()

	// Input (generated data may seed the emulator with colliding contacts).
	var src producer.Source
	if cfg.Source == "" {
		if src, err = openInput(cfg, sim); err != nil {
			return sum, err
		}
	}

	// Reconciler and upserter fleet, stopped together by stopAll.
	var (
		rec     *reconcile.Reconciler
		fleet   []*upsert.Upserter
		conns   []*nats.Conn
		stopped bool
	)
	deadline := cfg.ShutdownTimeout
	stopAll := func() Shutdown {
		if stopped {
			return Shutdown{}
		}
		stopped = true
		return stopMembers(deadline, rec, fleet, conns, log)
	}
	defer stopAll() // early returns; the normal end stops them before the summary
	rec, err = reconcile.New(js, sf, reconcile.Config{}, log.Named("reconciler"))
	if err != nil {
		return sum, err
	}
	if err := rec.Start(ctx); err != nil {
		rec = nil
		return sum, err
	}

	stats := &upsert.Stats{}
	gate := upsert.NewGate(sf, cfg.Upsert.UsagePauseAt, cfg.Upsert.LimitCheckInterval, log)
	resolver := conflict.NewResolver(sf, cfg.Conflict, log.Named("conflict"))
	for i := 0; i < cfg.Upserters; i++ {
		unc, err := nats.Connect(natsURL, nats.Name(fmt.Sprintf("contactsync-upserter-%d", i)))
		if err != nil {
			return sum, err
		}
		ucfg := cfg.Upsert
		ucfg.Member = fmt.Sprintf("standalone-%d-%d", os.Getpid(), i)
		u, err := upsert.New(ucfg, upsert.Deps{NATS: unc, Salesforce: sf, Resolver: resolver, Stats: stats, Gate: gate,
			Latencies: cfg.Latencies, Logger: log.Named("upserter")})
		if err != nil {
			unc.Close()
			return sum, err
		}
		if err := u.Start(ctx); err != nil {
			unc.Close()
			return sum, err
		}
		fleet, conns = append(fleet, u), append(conns, unc)
	}

	// Publish.
	var pub producer.Summary
	if cfg.Source != "" {
		pub, err = pollOnce(ctx, js, cfg, cfg.Progress, log)
	} else {
		pub, err = publish(ctx, js, src, cfg.Progress, log)
	}
	if err != nil {
		return sum, err
	}
	sum.Read, sum.Rejected, sum.Published, sum.Duplicates = pub.Read, pub.Rejected, pub.Published, pub.Duplicates

	// Wait for every published delta and every conflict event to settle.
	waitErr := waitSettled(ctx, js, cfg, stats, gate, sum.Published, cfg.Progress)
	snap := stats.Snapshot()
	sum.Created, sum.Updated, sum.Adopted, sum.Rekeyed = snap.Created, snap.Updated, snap.Adopted, snap.Rekeyed
	sum.StaleSkipped, sum.Held, sum.DeadLettered = snap.StaleSkipped, snap.Held, snap.DeadLettered
	sum.Deleted = snap.Deleted
	sum.Exceptions = rec.Stats().Written
	if paused, why := gate.Paused(); paused {
		// The gate closes on the daily allocation only (usage at
		// SF_API_USAGE_PAUSE_AT, or REQUEST_LIMIT_EXCEEDED).
		sum.Paused = "daily API limit reached: " + why
		// Batches in flight wait at the closed gate and cannot finish
		// before the allocation frees up: waiting out the whole deadline
		// for them would only delay the summary. They are redelivered.
		deadline = min(deadline, pausedShutdown)
	}
	sum.DurationMS = time.Since(start).Milliseconds()
	sum.Shutdown = stopAll()
	sum.APICalls = sf.APICalls() - calls0
	sum.RetriedBatches = snap.Retries
	sum.UpsertCalls, sum.BatchSize = snap.Calls, cmp.Or(cfg.Upsert.BatchSize, upsert.DefaultBatchSize)
	sum.ReconcilerRetries = rec.Stats().Retried
	if sim != nil {
		// The embedded emulator counts every request by route, and holds
		// only this run's exception records.
		sum.APICallsByRoute = sim.Stats().Routes
		sum.ExceptionsByKind = map[string]int64{}
		for _, r := range sim.Records("Contact_Sync_Exception__c") {
			k, _ := r["Kind__c"].(string)
			sum.ExceptionsByKind[k]++
		}
	}
	sum.Gaps = sum.Check()
	if waitErr != nil && !errors.Is(waitErr, errStalled) {
		sum.Gaps = append(sum.Gaps, waitErr.Error())
	}
	return sum, nil
}

// stopMembers stops the reconciler and every upserter at once under one
// deadline: each member drains its in-flight batches (capped by its
// ShutdownTimeout, which setDefaults keeps within the deadline), then the
// connections close. Stopping them one after another would add their
// drains up.
func stopMembers(deadline time.Duration, rec *reconcile.Reconciler, fleet []*upsert.Upserter, conns []*nats.Conn, log *zap.Logger) Shutdown {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	sd := Shutdown{Upserters: len(fleet), Deadline: formatDuration(deadline)}
	var stoppedN atomic.Int64
	var wg sync.WaitGroup
	for _, u := range fleet {
		wg.Go(func() {
			if err := u.Stop(ctx); err != nil {
				log.Warn("upserter stopped at the shutdown deadline; its in-flight deltas are redelivered to the next run", zap.Error(err))
			}
			stoppedN.Add(1)
		})
	}
	if rec != nil {
		wg.Go(func() {
			if err := rec.Stop(ctx); err != nil {
				log.Warn("reconciler stopped at the shutdown deadline; its pending events are redelivered to the next run", zap.Error(err))
			}
			sd.Reconciler = true
		})
	}
	wg.Wait()
	for _, nc := range conns {
		nc.Close()
	}
	sd.Stopped = int(stoppedN.Load())
	sd.DurationMS = time.Since(start).Milliseconds()
	return sd
}

// formatDuration prints 2s, 1m30s, 10s (no trailing zero units).
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func policyName(p conflict.Policy) conflict.Policy {
	if p == "" {
		return conflict.Strict
	}
	return p
}

var errStalled = errors.New("stalled")

// waitSettled waits until every published delta has an outcome and the
// reconciler has nothing pending; it also returns when writes are paused for
// API limits (nothing will move until the allocation frees up) or on timeout.
func waitSettled(ctx context.Context, js jetstream.JetStream, cfg Config, stats *upsert.Stats, gate *upsert.Gate, published int64, progress io.Writer) error {
	deadline := time.Now().Add(cfg.Timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	lastPrint := start
	var pausedSince time.Time
	for {
		s := stats.Snapshot()
		if progress != nil && time.Since(lastPrint) >= cfg.ProgressEvery {
			lastPrint = time.Now()
			paused, _ := gate.Paused()
			fmt.Fprintln(progress, progressLine(s, published, time.Since(start), paused))
		}
		if s.Done() >= published && reconcilerIdle(ctx, js) {
			return nil
		}
		if paused, _ := gate.Paused(); paused {
			if pausedSince.IsZero() {
				pausedSince = time.Now()
			} else if time.Since(pausedSince) > 3*cfg.Upsert.LimitCheckInterval+2*time.Second {
				return errStalled
			}
		} else {
			pausedSince = time.Time{}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for outcomes", cfg.Timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// progressLine is one progress line: deltas done of published, the rate
// since the wait began and the time left at that rate.
func progressLine(s upsert.Snapshot, published int64, elapsed time.Duration, paused bool) string {
	done := s.Done()
	pct := 100.0
	if published > 0 {
		pct = 100 * float64(done) / float64(published)
	}
	rate := float64(done) / max(elapsed.Seconds(), 0.001)
	eta := "ETA -"
	switch {
	case paused:
		eta = "ETA: paused, daily API limit reached"
	case rate > 0 && done < published:
		eta = "ETA " + formatDuration((time.Duration(float64(published-done)/rate) * time.Second).Round(time.Second))
	case done >= published:
		eta = "ETA 0s"
	}
	return fmt.Sprintf("progress: %d/%d deltas done (%.1f%%), %.0f/s, %s (created %d, updated %d, stale %d, held %d, dlq %d)",
		done, published, pct, rate, eta, s.Created, s.Updated, s.StaleSkipped, s.Held, s.DeadLettered)
}

func reconcilerIdle(ctx context.Context, js jetstream.JetStream) bool {
	c, err := js.Consumer(ctx, bus.StreamConflicts, "reconciler")
	if err != nil {
		return false
	}
	info, err := c.Info(ctx)
	if err != nil {
		return false
	}
	return info.NumPending == 0 && info.NumAckPending == 0
}
