// Command upserter is one member of the upsert fleet: it consumes its share
// of the CONTACTS partitions and writes the deltas to Salesforce Contacts by
// external ID, settling duplicate-rule conflicts by SYNC_POLICY.
//
// Configuration is by environment; run with --help for the list.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/service"
	"github.com/contactsync/contactsync/pkg/telemetry"
	"github.com/contactsync/contactsync/pkg/upsert"
)

type config struct {
	NATSURL     string `envconfig:"NATS_URL" required:"true" desc:"NATS server URL(s), comma-separated"`
	MetricsAddr string `envconfig:"METRICS_ADDR" default:":9090" desc:"listen address for /metrics and /healthz; empty = off"`
	LogLevel    string `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	Replicas    int    `envconfig:"NATS_REPLICAS" desc:"replicas of streams and buckets (3 on a cluster); unset = keep what exists, 1 for new ones"`
	salesforce.Env
	upsert.Config
}

const help = `upserter: consumes contact deltas (stream CONTACTS) and upserts them into
Salesforce by external ID, 200 per sObject Collections call. Run as many
replicas as you like (up to SYNC_PARTITIONS): they split the partitions
between them and take over a dead replica's share within seconds.

Duplicate-rule conflicts follow SYNC_POLICY (strict | external-id | email;
per segment: SYNC_POLICY_<SEGMENT>), and SYNC_ADOPT_UNLINKED (default true).

Usage: upserter [--help]

Environment:
`

func main() { service.Main("upserter", help, run) }

func run(ctx context.Context, cfg config) error {
	log, err := telemetry.NewLogger(cfg.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	policy, err := conflict.ConfigFromEnv(os.Environ())
	if err != nil {
		return err
	}
	if err := cfg.Env.Validate(); err != nil {
		return err
	}
	sfcfg := cfg.Env.Config()
	sfcfg.Logger = log
	sf, err := salesforce.New(ctx, sfcfg)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(cfg.NATSURL, nats.Name("contactsync-upserter"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("NATS_URL: %w", err)
	}
	defer func() { _ = nc.Drain() }()
	js, err := bus.NewJetStream(nc)
	if err != nil {
		return err
	}
	if err := bus.Ensure(ctx, js, bus.Topology{Partitions: cfg.Partitions, Replicas: cfg.Replicas}); err != nil {
		return err
	}
	reg := telemetry.NewRegistry()
	telemetry.RegisterSalesforce(reg, sf)
	u, err := upsert.New(cfg.Config, upsert.Deps{NATS: nc, Salesforce: sf, Resolver: conflict.NewResolver(sf, policy, log),
		Metrics: upsert.NewMetrics(reg), Logger: log})
	if err != nil {
		return err
	}
	if err := u.Start(ctx); err != nil {
		return err
	}
	log.Info("upserter started", zap.String("member", u.Member()))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return telemetry.Serve(gctx, cfg.MetricsAddr, reg, nil, log) })
	<-gctx.Done()
	log.Info("shutting down: finishing in-flight batches")
	if err := u.Stop(context.Background()); err != nil {
		log.Warn("stopped at the shutdown deadline", zap.Error(err))
	}
	return g.Wait()
}
