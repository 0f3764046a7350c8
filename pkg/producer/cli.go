package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/telemetry"
)

// Errors the commands return; cli.ExitCode maps them to exit statuses.
var (
	ErrUsage    = cli.ErrUsage
	ErrRejected = cli.ErrRejected
)

// Env is the configuration shared by the subcommands.
type Env struct {
	NATSURL    string `envconfig:"NATS_URL" desc:"NATS server URL (required), e.g. nats://127.0.0.1:4222"`
	Partitions int    `envconfig:"NATS_PARTITIONS" desc:"partitions of a new CONTACTS stream (default 16; an existing stream keeps its count)"`
	Replicas   int    `envconfig:"NATS_REPLICAS" desc:"stream replicas (3 on a cluster; unset = keep what exists, 1 for new)"`
	LogLevel   string `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error (JSON logs on stderr)"`
	// Wait is how long start-up (Ensure) and publishing keep retrying
	// while JetStream does not answer (0 = DefaultWait).
	Wait cli.Duration `envconfig:"NATS_WAIT" desc:"how long to keep retrying while JetStream does not answer (default 2m)"`
}

// DefaultWait is Env.Wait's default: long enough for a node to restart and
// a leader to be elected.
const DefaultWait = 2 * time.Minute

func (e Env) wait() time.Duration {
	if e.Wait <= 0 {
		return DefaultWait
	}
	return time.Duration(e.Wait)
}

// ServeEnv is the configuration of `producer serve`.
type ServeEnv struct {
	Addr    string `envconfig:"INGEST_ADDR" default:":8080" desc:"serve: listen address of POST /v1/deltas and GET /healthz"`
	Token   string `envconfig:"INGEST_TOKEN" desc:"serve: bearer token clients must send (required)"`
	MaxBody int64  `envconfig:"INGEST_MAX_BODY" default:"10485760" desc:"serve: request body cap in bytes"`
	// MetricsAddr: the port plan gives each service its own default, so
	// they run side by side on one host (README, "Ports").
	MetricsAddr string `envconfig:"METRICS_ADDR" default:":9092" desc:"serve: listen address for /metrics and /healthz; empty = off"`
}

// RunCLI runs the producer command line with args (without the program
// name), reading configuration from the environment. Rejected lines and
// progress go to stderr, the summary to stdout.
func RunCLI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return Program().Run(ctx, args, stdout, stderr)
}

// ExitCode is the process exit status for RunCLI's error (cli.ExitCode).
func ExitCode(err error) int { return cli.ExitCode(err) }

// connect dials NATS, ensures the topology (retrying for env.Wait while
// JetStream does not answer, reporting the waits on progress) and returns a
// publishing handle.
func connect(ctx context.Context, env Env, progress *waitReporter, log *zap.Logger) (*nats.Conn, jetstream.JetStream, error) {
	if env.NATSURL == "" {
		return nil, nil, cli.Usagef("NATS_URL is required (the producer does not embed a server; use workers/standalone for that)")
	}
	nc, err := nats.Connect(env.NATSURL, nats.Name("contactsync-producer"), nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", zap.String("url", c.ConnectedUrlRedacted())) }))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS: %w", err)
	}
	js, err := NewJetStream(nc, DefaultMaxPending)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	ectx, cancel := context.WithTimeout(ctx, env.wait())
	defer cancel()
	err = bus.EnsureWith(ectx, js, bus.Topology{Partitions: env.Partitions, Replicas: env.Replicas},
		bus.Retry{OnRetry: func(a bus.Attempt) { progress.waiting(fmt.Errorf("%s: %w", a.Step, a.Err)) }})
	if err != nil {
		nc.Close()
		var re *bus.RetryError
		if errors.As(err, &re) && ctx.Err() == nil {
			return nil, nil, fmt.Errorf("JetStream at NATS_URL %s did not become available within NATS_WAIT %s: %w",
				bus.RedactURLs(env.NATSURL), env.wait(), err)
		}
		return nil, nil, err
	}
	return nc, js, nil
}

// waitReporter reports waits for JetStream at most once a second, so an
// outage is visible without flooding: the CLI prints "waiting for
// JetStream: <reason>, retrying" to stderr, serve logs a warning.
type waitReporter struct {
	report func(reason error)
	mu     sync.Mutex
	last   time.Time
}

func printWaits(w io.Writer) *waitReporter {
	return &waitReporter{report: func(reason error) { fmt.Fprintf(w, "waiting for JetStream: %v, retrying\n", reason) }}
}

func logWaits(log *zap.Logger) *waitReporter {
	return &waitReporter{report: func(reason error) { log.Warn("waiting for JetStream, retrying", zap.Error(reason)) }}
}

func (r *waitReporter) waiting(reason error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.last) < time.Second {
		return
	}
	r.last = time.Now()
	r.report(reason)
}

func publishFile(ctx context.Context, js jetstream.JetStream, file string, src Source, every int, stderr io.Writer,
	progress *waitReporter, wait time.Duration, showPII bool) (Summary, error) {
	name := filepath.Base(file)
	pub := NewPublisher(js, WithRetryFor(wait),
		WithRetryNotify(func(err error, _ time.Duration) { progress.waiting(err) }),
		WithFailureHandler(func(fl Failure) {
			fmt.Fprintf(stderr, "%s:%d: not stored: %s\n", file, fl.Record, reason(fl.Err, showPII))
		}))
	return Import(ctx, src, pub, ImportConfig{
		Source: "file:" + name,
		OnReject: func(r Record) {
			fmt.Fprintf(stderr, "%s:%d: rejected: %s\n", file, r.N, reason(r.Err, showPII))
		},
		ProgressEvery: every,
		Progress: func(s Summary) {
			if s.Read%int64(max(every, 1)) == 0 && s.Read > 0 {
				fmt.Fprintf(stderr, "%s: progress: read %d rejected %d published %d (acks pending %d)\n", name, s.Read, s.Rejected, s.Published,
					s.Read-s.Rejected-s.Published-s.Duplicates-s.Failed)
			}
		},
	})
}

func printSummary(w io.Writer, files []fileSummary, s Summary, d time.Duration, asJSON bool) {
	if asJSON {
		if files == nil {
			files = []fileSummary{}
		}
		_ = json.NewEncoder(w).Encode(struct {
			Summary
			Files      []fileSummary `json:"files"`
			DurationMS int64         `json:"duration_ms"`
		}{s, files, d.Milliseconds()})
		return
	}
	fmt.Fprintf(w, "read %d  rejected %d  published %d  duplicates %d  failed %d  (%s)\n",
		s.Read, s.Rejected, s.Published, s.Duplicates, s.Failed, d.Round(time.Millisecond))
}

// ServeConfig configures Serve.
type ServeConfig struct {
	Env    Env
	Addr   string // listen address, e.g. ":8080" or "127.0.0.1:0"
	Ingest IngestConfig
	// OnListen, if set, is called with the bound address once listening.
	OnListen func(net.Addr)
	// MetricsAddr serves /metrics and /healthz (telemetry.Serve) beside the
	// ingest port, as every service does; empty = off.
	MetricsAddr string
	// ShutdownTimeout bounds waiting for in-flight requests (default 30s).
	ShutdownTimeout time.Duration
}

// Serve runs the HTTP ingest until ctx ends, then stops accepting, lets
// in-flight requests finish (they wait for their acks) and drains NATS.
func Serve(ctx context.Context, cfg ServeConfig) error {
	log := cfg.Ingest.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if err := cfg.Ingest.validate(); err != nil {
		return cli.AsUsage(err)
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	nc, js, err := connect(ctx, cfg.Env, logWaits(log), log)
	if err != nil {
		return err
	}
	h, err := NewIngestHandler(js, cfg.Ingest)
	if err != nil {
		nc.Close()
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		nc.Close()
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Info("ingest listening", zap.String("addr", ln.Addr().String()))
	if cfg.OnListen != nil {
		cfg.OnListen(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	mctx, stopMetrics := context.WithCancel(ctx)
	defer stopMetrics()
	metricsErr := make(chan error, 1)
	go func() {
		metricsErr <- telemetry.Serve(mctx, cfg.MetricsAddr, telemetry.NewRegistry(), func() error {
			if !nc.IsConnected() {
				return errors.New("not connected to NATS")
			}
			return nil
		}, log)
	}()
	select {
	case err = <-errc:
	case err = <-metricsErr:
		metricsErr <- nil // for the wait below
		if err != nil {
			err = fmt.Errorf("METRICS_ADDR: %w", err)
		}
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		_ = srv.Shutdown(sctx)
		cancel()
		<-errc
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
		<-errc
	}
	stopMetrics()
	if merr := <-metricsErr; err == nil {
		err = merr
	}
	drain(nc)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// drain flushes and closes nc and waits until its callbacks have run, so
// nothing is logged after the command returns.
func drain(nc *nats.Conn) {
	if nc.IsClosed() {
		return
	}
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
	}
	select {
	case <-closed:
	case <-time.After(nats.DefaultDrainTimeout + time.Second): // closed concurrently: no callback comes
	}
}
