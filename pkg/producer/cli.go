package producer

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/kelseyhightower/envconfig"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Errors RunCLI returns; ExitCode maps them to exit statuses.
var (
	ErrUsage          = errors.New("usage error")
	ErrRejected       = errors.New("some records were rejected")
	ErrNotImplemented = errors.New("not implemented yet")
)

// ExitCode is the process exit status for RunCLI's error: 0 for nil, 2 for
// usage and not-implemented, 1 otherwise.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrUsage), errors.Is(err, ErrNotImplemented):
		return 2
	}
	return 1
}

const usage = `producer publishes contact deltas (schema contact.delta/v1) to NATS JetStream.

Usage:
  producer publish [--mapping FILE] [--allow-rejects] [--json] FILE...
      Publish NDJSON deltas (one JSON delta per line) or CSV files (by the
      .csv extension, mapped to deltas by --mapping, a JSON or YAML file;
      default columns external_id, segment, version or updated_at,
      first_name, last_name, email, phone, title). Bad lines are reported on
      stderr with their line number and reason and never stop the import.
      Prints a summary (read, rejected, published, duplicates, failed) and
      exits 1 if a record was rejected (unless --allow-rejects) or not stored.
  producer serve
      HTTP ingest: POST /v1/deltas (NDJSON or JSON array, Authorization:
      Bearer $INGEST_TOKEN) answers 202 {"accepted":n,"rejected":m,"errors":[...]};
      GET /healthz.
  producer poll
      PostgreSQL polling (not implemented yet).

Environment:
  NATS_URL         NATS server URL (required), e.g. nats://127.0.0.1:4222
  NATS_PARTITIONS  partitions of a new CONTACTS stream (default 16; an
                   existing stream keeps its count)
  NATS_REPLICAS    stream replicas (3 on a cluster; unset = keep what exists, 1 for new)
  NATS_WAIT        how long to keep retrying while JetStream does not answer
                   (a node restarting, a leader election) before giving up
                   (default 2m); progress goes to stderr
  INGEST_ADDR      serve: listen address (default :8080)
  INGEST_TOKEN     serve: bearer token (required)
  INGEST_MAX_BODY  serve: request body cap in bytes (default 10485760)
  LOG_LEVEL        debug | info | warn | error (default info)

Publishing is idempotent: each delta's Nats-Msg-Id is external_id:version, so
re-running an import within the 10-minute duplicate window stores nothing twice
(counted as duplicates), and a publish JetStream did not confirm is resent
with the same ID. The streams and buckets are created on start.
`

// Env is the configuration shared by the subcommands.
type Env struct {
	NATSURL    string `envconfig:"NATS_URL"`
	Partitions int    `envconfig:"NATS_PARTITIONS"`
	Replicas   int    `envconfig:"NATS_REPLICAS"`
	LogLevel   string `envconfig:"LOG_LEVEL" default:"info"`
	// Wait is how long start-up (Ensure) and publishing keep retrying
	// while JetStream does not answer (0 = DefaultWait).
	Wait time.Duration `envconfig:"NATS_WAIT"`
}

// DefaultWait is Env.Wait's default: long enough for a node to restart and
// a leader to be elected.
const DefaultWait = 2 * time.Minute

func (e Env) wait() time.Duration {
	if e.Wait <= 0 {
		return DefaultWait
	}
	return e.Wait
}

// ServeEnv is the configuration of `producer serve`.
type ServeEnv struct {
	Addr    string `envconfig:"INGEST_ADDR" default:":8080"`
	Token   string `envconfig:"INGEST_TOKEN"`
	MaxBody int64  `envconfig:"INGEST_MAX_BODY" default:"10485760"`
}

// RunCLI runs the producer command line with args (without the program
// name), reading configuration from the environment. Rejected lines and
// progress go to stderr, the summary to stdout.
func RunCLI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: a subcommand is required", ErrUsage)
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "poll":
		fmt.Fprintln(stderr, "not implemented yet: PostgreSQL polling lands in a later issue")
		return fmt.Errorf("poll: %w", ErrNotImplemented)
	case "publish", "serve":
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown subcommand %q", ErrUsage, args[0])
	}
	var env Env
	if err := envconfig.Process("", &env); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	log, err := newLogger(env.LogLevel, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	if args[0] == "publish" {
		return runPublish(ctx, env, args[1:], stdout, stderr, log)
	}

	var senv ServeEnv
	if err := envconfig.Process("", &senv); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if senv.Token == "" {
		return fmt.Errorf("%w: INGEST_TOKEN is required for serve", ErrUsage)
	}
	return Serve(ctx, ServeConfig{Env: env, Addr: senv.Addr, Ingest: IngestConfig{Token: senv.Token, MaxBody: senv.MaxBody, Logger: log}})
}

func newLogger(level string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("%w: LOG_LEVEL %q: %v", ErrUsage, level, err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(w), lvl)), nil
}

// connect dials NATS, ensures the topology (retrying for env.Wait while
// JetStream does not answer, reporting the waits on progress) and returns a
// publishing handle.
func connect(ctx context.Context, env Env, progress *waitReporter, log *zap.Logger) (*nats.Conn, jetstream.JetStream, error) {
	if env.NATSURL == "" {
		return nil, nil, fmt.Errorf("%w: NATS_URL is required (the producer does not embed a server; use workers/standalone for that)", ErrUsage)
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

func runPublish(ctx context.Context, env Env, args []string, stdout, stderr io.Writer, log *zap.Logger) error {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mappingFile := fs.String("mapping", "", "CSV column mapping (JSON or YAML)")
	allowRejects := fs.Bool("allow-rejects", false, "exit 0 even if records were rejected")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	every := fs.Int("progress-every", 10000, "print a progress line every N records")
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	files := fs.Args()
	if len(files) == 0 {
		return fmt.Errorf("%w: publish needs at least one FILE", ErrUsage)
	}
	mapping := DefaultMapping()
	if *mappingFile != "" {
		m, err := LoadMapping(*mappingFile)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUsage, err)
		}
		mapping = m
	}
	progress := printWaits(stderr)
	nc, js, err := connect(ctx, env, progress, log)
	if err != nil {
		return err
	}
	defer drain(nc)

	var total Summary
	start := time.Now()
	for _, file := range files {
		sum, err := publishFile(ctx, js, file, mapping, *every, stderr, progress, env.wait())
		total.Add(sum)
		if err != nil {
			printSummary(stdout, total, time.Since(start), *asJSON)
			return fmt.Errorf("%s: %w", file, err)
		}
	}
	printSummary(stdout, total, time.Since(start), *asJSON)
	switch {
	case total.Failed > 0:
		return fmt.Errorf("%d deltas were not confirmed by JetStream; re-run the same files (duplicates are skipped)", total.Failed)
	case total.Rejected > 0 && !*allowRejects:
		return fmt.Errorf("%w: %d of %d (see the reasons above; --allow-rejects to accept)", ErrRejected, total.Rejected, total.Read)
	}
	return nil
}

func publishFile(ctx context.Context, js jetstream.JetStream, file string, mapping Mapping, every int, stderr io.Writer,
	progress *waitReporter, wait time.Duration) (Summary, error) {
	f, err := os.Open(file)
	if err != nil {
		return Summary{}, err
	}
	defer f.Close()
	var src Source = NDJSON(f)
	if strings.EqualFold(filepath.Ext(file), ".csv") {
		cs, err := CSV(f, mapping)
		if err != nil {
			return Summary{}, err
		}
		if ign := cs.Ignored(); len(ign) > 0 {
			fmt.Fprintf(stderr, "%s: ignoring unmapped columns: %s\n", file, strings.Join(ign, ", "))
		}
		src = cs
	}
	name := filepath.Base(file)
	pub := NewPublisher(js, WithRetryFor(wait),
		WithRetryNotify(func(err error, _ time.Duration) { progress.waiting(err) }),
		WithFailureHandler(func(fl Failure) {
			fmt.Fprintf(stderr, "%s:%d: not stored: %v\n", file, fl.Record, fl.Err)
		}))
	return Import(ctx, src, pub, ImportConfig{
		Source: "file:" + name,
		OnReject: func(r Record) {
			fmt.Fprintf(stderr, "%s:%d: rejected: %v\n", file, r.N, r.Err)
		},
		ProgressEvery: every,
		Progress: func(s Summary) {
			fmt.Fprintf(stderr, "%s: read %d rejected %d published %d duplicates %d\n", name, s.Read, s.Rejected, s.Published, s.Duplicates)
		},
	})
}

func printSummary(w io.Writer, s Summary, d time.Duration, asJSON bool) {
	if asJSON {
		_ = json.NewEncoder(w).Encode(struct {
			Summary
			DurationMS int64 `json:"duration_ms"`
		}{s, d.Milliseconds()})
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
		return fmt.Errorf("%w: %v", ErrUsage, err)
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
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
		<-errc
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
