// Command reconciler consumes conflict events from the CONFLICTS stream and
// writes them as Contact_Sync_Exception__c records (upsert by
// Exception_Key__c), for data stewards to review.
//
// Configuration is by environment; run with --help for the list.
package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/reconcile"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/service"
	"github.com/contactsync/contactsync/pkg/telemetry"
)

type config struct {
	NATSURL         string        `envconfig:"NATS_URL" required:"true" desc:"NATS server URL(s), comma-separated"`
	MetricsAddr     string        `envconfig:"METRICS_ADDR" default:":9091" desc:"listen address for /metrics and /healthz; empty = off (the port plan: upserter 9090, reconciler 9091, producer 9092)"`
	LogLevel        string        `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"30s" desc:"time to finish in-flight batches on SIGTERM"`
	salesforce.Env
	reconcile.Config
}

const help = `reconciler: consumes conflict events (stream CONFLICTS, durable consumer
"reconciler") and upserts them into Salesforce as Contact_Sync_Exception__c
records by Exception_Key__c, 200 per sObject Collections call. Replays and
redeliveries refresh Last_Seen__c on the existing record; a steward's
Status__c is never overwritten. Events Salesforce refuses go to the DLQ
(contacts.dlq.<segment>) with the reason.

Usage: reconciler [--help]

Environment:
`

func main() { service.Main("reconciler", help, run) }

// run connects, runs the reconciler until ctx ends, then shuts down in two
// phases (finish in-flight batches, then cancel) and drains NATS last.
func run(ctx context.Context, cfg config) error {
	log, err := telemetry.NewLogger(cfg.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	if err := cfg.Env.Validate(); err != nil {
		return err
	}
	sfcfg := cfg.Env.Config()
	sfcfg.Logger = log
	sf, err := salesforce.New(ctx, sfcfg)
	if err != nil {
		return err
	}
	defer sf.Close()
	nc, err := nats.Connect(cfg.NATSURL, nats.Name("contactsync-reconciler"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("NATS_URL: %w", err)
	}
	defer nc.Close()
	js, err := bus.NewJetStream(nc)
	if err != nil {
		return err
	}
	rec, err := reconcile.New(js, sf, cfg.Config, log)
	if err != nil {
		return err
	}
	reg := telemetry.NewRegistry()
	telemetry.RegisterSalesforce(reg, sf)
	registerStats(reg, rec)
	mctx, stopMetrics := context.WithCancel(context.WithoutCancel(ctx))
	metricsDone := make(chan error, 1)
	go func() { metricsDone <- telemetry.Serve(mctx, cfg.MetricsAddr, reg, nil, log) }()
	defer func() { stopMetrics(); <-metricsDone }()

	// Start waits (retrying, logging each wait) while JetStream is
	// unavailable, until SIGTERM.
	if err := rec.Start(ctx); err != nil {
		return err
	}
	var fatal error
	select {
	case <-ctx.Done():
	case err := <-metricsDone:
		metricsDone <- err // for the deferred wait
		if err != nil {
			// Returned, so the process exits 1 (it used to exit 0).
			fatal = fmt.Errorf("metrics server: %w", err)
		}
	}
	log.Info("shutting down: finishing in-flight batches")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	stopErr := rec.Stop(sctx)
	if err := nc.Drain(); err != nil {
		log.Warn("nats drain", zap.Error(err))
	}
	if stopErr != nil {
		return errors.Join(fatal, fmt.Errorf("shutdown: in-flight batch cancelled after %s: %w", cfg.ShutdownTimeout, stopErr))
	}
	return fatal
}

// registerStats exposes the reconciler's totals as
// contactsync_reconciler_records_total{outcome}.
func registerStats(reg *prometheus.Registry, rec *reconcile.Reconciler) {
	for outcome, f := range map[string]func(reconcile.Stats) int64{
		"written":       func(s reconcile.Stats) int64 { return s.Written },
		"created":       func(s reconcile.Stats) int64 { return s.Created },
		"dead_lettered": func(s reconcile.Stats) int64 { return s.DeadLettered },
		"retried":       func(s reconcile.Stats) int64 { return s.Retried },
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "contactsync_reconciler_records_total",
			Help:        "Contact_Sync_Exception__c records by outcome: written (created included), created, dead_lettered, retried.",
			ConstLabels: prometheus.Labels{"outcome": outcome},
		}, func() float64 { return float64(f(rec.Stats())) }))
	}
}
