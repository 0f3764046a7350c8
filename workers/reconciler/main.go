// Command reconciler consumes conflict events from the CONFLICTS stream and
// writes them as Contact_Sync_Exception__c records (upsert by
// Exception_Key__c), for data stewards to review.
//
// Configuration is by environment; run with --help for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/contactsync/contactsync/pkg/reconcile"
	"github.com/contactsync/contactsync/pkg/salesforce"
)

// config is the reconciler's environment.
type config struct {
	NATSURL          string        `envconfig:"NATS_URL" default:"nats://127.0.0.1:4222" desc:"NATS server URL(s), comma-separated"`
	SFLoginURL       string        `envconfig:"SF_LOGIN_URL" required:"true" desc:"My Domain URL of the org, or an sfsim URL"`
	SFAuth           string        `envconfig:"SF_AUTH" default:"client_credentials" desc:"client_credentials or jwt"`
	SFClientID       string        `envconfig:"SF_CLIENT_ID" desc:"connected app consumer key"`
	SFClientSecret   string        `envconfig:"SF_CLIENT_SECRET" desc:"consumer secret (client_credentials)"`
	SFUsername       string        `envconfig:"SF_USERNAME" desc:"integration user (jwt)"`
	SFPrivateKeyFile string        `envconfig:"SF_PRIVATE_KEY_FILE" desc:"PEM key signing the JWT (jwt)"`
	SFAPIVersion     string        `envconfig:"SF_API_VERSION" default:"60.0" desc:"REST API version"`
	MetricsAddr      string        `envconfig:"METRICS_ADDR" desc:"listen address for /metrics and /healthz; empty = off"`
	LogLevel         string        `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	ShutdownTimeout  time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"30s" desc:"time to finish in-flight batches on SIGTERM"`
	reconcile.Config
}

func main() {
	fs := flag.NewFlagSet("reconciler", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "reconciler: writes conflict events (stream CONFLICTS) as Contact_Sync_Exception__c records.\n\nUsage: reconciler [--help]\n\nEnvironment:\n")
		_ = envconfig.Usagef("", &config{}, fs.Output(), envconfig.DefaultTableFormat)
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	var cfg config
	if err := envconfig.Process("", &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "reconciler:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "reconciler:", err)
		stop()
		os.Exit(1)
	}
}

// run connects, runs the reconciler until ctx ends, and shuts down in two
// phases (finish in-flight batches, then cancel), draining NATS last.
func run(ctx context.Context, cfg config) error {
	log, err := newLogger(cfg.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	sf, err := salesforce.New(ctx, salesforce.Config{
		LoginURL: cfg.SFLoginURL, Auth: cfg.SFAuth, ClientID: cfg.SFClientID, ClientSecret: cfg.SFClientSecret,
		Username: cfg.SFUsername, PrivateKeyFile: cfg.SFPrivateKeyFile, APIVersion: cfg.SFAPIVersion,
		Logger: log.Named("salesforce"),
	})
	if err != nil {
		return fmt.Errorf("salesforce: %w", err)
	}
	nc, err := nats.Connect(cfg.NATSURL, nats.Name("contactsync-reconciler"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("nats %s: %w", redactURL(cfg.NATSURL), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	rec, err := reconcile.New(js, sf, cfg.Config, log)
	if err != nil {
		return err
	}
	if cfg.MetricsAddr != "" {
		srv, err := serveMetrics(cfg.MetricsAddr, rec, log)
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	if err := rec.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	stopErr := rec.Stop(sctx)
	if err := nc.Drain(); err != nil {
		log.Warn("nats drain", zap.Error(err))
	}
	s := rec.Stats()
	log.Info("reconciler done", zap.Int64("written", s.Written), zap.Int64("created", s.Created),
		zap.Int64("dead_lettered", s.DeadLettered), zap.Int64("retried", s.Retried))
	if stopErr != nil {
		return fmt.Errorf("shutdown: in-flight work cancelled: %w", stopErr)
	}
	return nil
}

func serveMetrics(addr string, rec *reconcile.Reconciler, log *zap.Logger) (*http.Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	for name, f := range map[string]func(reconcile.Stats) int64{
		"written":       func(s reconcile.Stats) int64 { return s.Written },
		"created":       func(s reconcile.Stats) int64 { return s.Created },
		"dead_lettered": func(s reconcile.Stats) int64 { return s.DeadLettered },
		"retried":       func(s reconcile.Stats) int64 { return s.Retried },
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "contactsync_reconciler_records_total",
			Help:        "Exception records by outcome (written, created, dead_lettered, retried).",
			ConstLabels: prometheus.Labels{"outcome": name},
		}, func() float64 { return float64(f(rec.Stats())) }))
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", zap.Error(err))
		}
	}()
	return srv, nil
}

func newLogger(level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(strings.TrimSpace(level))
	if err != nil {
		return nil, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	return zc.Build()
}

// redactURL drops user info from a NATS URL before it is printed.
func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "***" + u[i:]
		}
	}
	return u
}
