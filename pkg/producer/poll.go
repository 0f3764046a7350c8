package producer

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/pgsource"
	"github.com/contactsync/contactsync/pkg/telemetry"
)

// PollEnv is the configuration of `producer poll` (flags win).
type PollEnv struct {
	DSN        string       `envconfig:"POLL_DSN" desc:"poll: PostgreSQL connection string (--dsn)"`
	Mapping    string       `envconfig:"POLL_MAPPING" desc:"poll: mapping file, YAML or JSON (--mapping)"`
	Interval   cli.Duration `envconfig:"POLL_INTERVAL" desc:"poll: time between polls once caught up (default 5s)"`
	PageSize   int          `envconfig:"POLL_PAGE_SIZE" desc:"poll: rows per query (default 5000)"`
	Rate       float64      `envconfig:"POLL_RATE" desc:"poll: published rows per second cap (0 = none)"`
	Overlap    cli.Duration `envconfig:"POLL_OVERLAP" desc:"poll: re-read window for late commits (default 1m)"`
	OverlapSeq int64        `envconfig:"POLL_OVERLAP_SEQ" desc:"poll: re-read window in sequence values (default 1000)"`
}

// EnvHaltBeforeSave is a test hook: when set to 1, `producer poll` stops
// (prints "halted before watermark save" to stderr and blocks) after the
// first page is confirmed by JetStream and before its position is saved,
// so a test can kill -9 it exactly there.
const EnvHaltBeforeSave = "CONTACTSYNC_POLL_HALT_BEFORE_SAVE"

// PollSink publishes the poller's deltas through a Publisher and reports
// the acks of each page.
type PollSink struct {
	js   jetstream.JetStream
	pub  *Publisher
	last Counts
	now  func() time.Time
}

// NewPollSink returns a sink publishing to js (see NewJetStream) with the
// publisher options opts.
func NewPollSink(js jetstream.JetStream, opts ...PublisherOption) *PollSink {
	return &PollSink{js: js, pub: NewPublisher(js, opts...), now: time.Now}
}

// RejectedRowCode is the dead-letter code of a source row that could not
// become a delta (see pgsource.Rejection).
const RejectedRowCode = "SOURCE_ROW_REJECTED"

// Reject stores r in the DLQ (segment r.Segment, or "unknown"), once per
// row version however often the overlap re-reads it, and waits for the ack.
func (s *PollSink) Reject(ctx context.Context, r pgsource.Rejection) error {
	data, err := json.Marshal(map[string]any{"source": r.Source, "external_id": r.Key, "version": r.Order, "segment": r.Segment})
	if err != nil {
		return err
	}
	seg := r.Segment
	if seg == "" || delta.ValidateSegment(seg) != nil {
		seg = "unknown"
	}
	h := nats.Header{}
	h.Set(jetstream.MsgIDHeader, fmt.Sprintf("row:%s:%s:%d", r.Source, r.Key, r.Order))
	return bus.PublishDeadLetter(ctx, s.js, bus.DeadLetter{Subject: bus.DLQSubject(seg), Data: data, Header: h,
		ErrorCode: RejectedRowCode, Message: r.Reason})
}

// Publish sends d, stamped with emitted_at.
func (s *PollSink) Publish(ctx context.Context, record int, d delta.Delta) error {
	if d.EmittedAt.IsZero() {
		d.EmittedAt = s.now().UTC()
	}
	return s.pub.Publish(ctx, record, d)
}

// Flush waits for every delta sent so far and returns the acks since the
// previous Flush.
func (s *PollSink) Flush(ctx context.Context) (pgsource.Acks, error) {
	c, err := s.pub.Flush(ctx)
	a := pgsource.Acks{Published: c.Published - s.last.Published, Duplicates: c.Duplicates - s.last.Duplicates, Failed: c.Failed - s.last.Failed}
	s.last = c
	return a, err
}

type pollFlags struct {
	dsn, mapping      string
	interval, overlap time.Duration
	pageSize          int
	rate              float64
	overlapSeq        int64
	once              bool
}

func (f *pollFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.dsn, "dsn", "", "PostgreSQL connection string (env POLL_DSN)")
	fs.StringVar(&f.mapping, "mapping", "", "table or query and column mapping, YAML or JSON (env POLL_MAPPING)")
	cli.DurationVar(fs, &f.interval, "interval", 0, "time between polls once caught up (env POLL_INTERVAL, default 5s)")
	fs.IntVar(&f.pageSize, "page-size", 0, "rows per query (env POLL_PAGE_SIZE, default 5000)")
	fs.Float64Var(&f.rate, "rate", 0, "at most this many rows published per second, 0 = no cap (env POLL_RATE)")
	cli.DurationVar(fs, &f.overlap, "overlap", 0, "re-read this far before the last poll's database clock, for late commits (env POLL_OVERLAP, default 1m)")
	fs.Int64Var(&f.overlapSeq, "overlap-seq", 0, "sequence mode: re-read this many sequence values (env POLL_OVERLAP_SEQ, default 1000)")
	fs.BoolVar(&f.once, "once", false, "poll until caught up once, print a summary and exit (cron, a backfill, an initial load)")
}

// withEnv fills what the command line did not set from the environment.
func (f *pollFlags) withEnv(in *cli.Invocation, pe PollEnv) {
	if !in.Set("dsn") {
		f.dsn = pe.DSN
	}
	if !in.Set("mapping") {
		f.mapping = pe.Mapping
	}
	if !in.Set("interval") {
		f.interval = time.Duration(pe.Interval)
	}
	if !in.Set("page-size") {
		f.pageSize = pe.PageSize
	}
	if !in.Set("rate") {
		f.rate = pe.Rate
	}
	if !in.Set("overlap") {
		f.overlap = time.Duration(pe.Overlap)
	}
	if !in.Set("overlap-seq") {
		f.overlapSeq = pe.OverlapSeq
	}
}

func runPoll(ctx context.Context, in *cli.Invocation, f pollFlags) error {
	if err := in.NoArgs(); err != nil {
		return err
	}
	var env Env
	if err := cli.LoadEnv(&env); err != nil {
		return err
	}
	var pe PollEnv
	if err := cli.LoadEnv(&pe); err != nil {
		return err
	}
	f.withEnv(in, pe)
	if f.mapping == "" {
		return cli.Usagef("--mapping (POLL_MAPPING) is required: the table or query and its column mapping")
	}
	if f.dsn == "" {
		return cli.Usagef("--dsn (POLL_DSN) is required, e.g. postgres://user:pass@host:5432/db")
	}
	m, err := pgsource.LoadMapping(f.mapping)
	if err != nil {
		return cli.Usagef("--mapping: %v", err)
	}
	stderr := in.Stderr
	log, err := telemetry.NewLoggerTo(env.LogLevel, stderr)
	if err != nil {
		return cli.AsUsage(err)
	}
	defer func() { _ = log.Sync() }()
	progress := printWaits(stderr)
	nc, js, err := connect(ctx, env, progress, log)
	if err != nil {
		return err
	}
	defer drain(nc)
	kv, err := js.KeyValue(ctx, bus.BucketWatermarks)
	if err != nil {
		return fmt.Errorf("watermarks bucket: %w", err)
	}
	cfg := pgsource.Config{Mapping: m, DSN: f.dsn, Interval: f.interval, PageSize: f.pageSize, Rate: f.rate,
		Overlap: f.overlap, OverlapSeq: f.overlapSeq, Logger: log,
		Progress: func(p pgsource.Progress) {
			eta := "?"
			if p.ETA > 0 {
				eta = p.ETA.Round(time.Second).String()
			}
			fmt.Fprintf(stderr, "poll %s: %d of %d rows  %.0f rows/s  ETA %s\n", m.Name, p.Rows, p.Total, p.Rate, eta)
		}}
	if os.Getenv(EnvHaltBeforeSave) == "1" {
		cfg.BeforeSave = func(pgsource.Position) {
			fmt.Fprintln(stderr, "halted before watermark save")
			<-ctx.Done()
		}
	}
	sink := NewPollSink(js, WithRetryFor(env.wait()),
		WithRetryNotify(func(err error, _ time.Duration) { progress.waiting(err) }),
		WithFailureHandler(func(fl Failure) {
			log.Warn("delta not confirmed by JetStream; it is read again on the next poll", zap.String("external_id", fl.ExternalID), zap.Error(fl.Err))
		}))
	p, err := pgsource.New(ctx, cfg, kv, sink)
	if err != nil {
		if errors.Is(err, pgsource.ErrConfig) {
			return cli.AsUsage(err)
		}
		return err
	}
	defer p.Close()
	start := time.Now()
	if !f.once {
		log.Info("polling", zap.String("source", m.Name), zap.Duration("interval", cfg.Interval))
		return p.Run(ctx)
	}
	err = p.Poll(ctx)
	printPollSummary(in.Stdout, p.Stats(), p.Position(), time.Since(start), in.JSON)
	if err != nil {
		return err
	}
	if st := p.Stats(); st.Rejected > 0 {
		return fmt.Errorf("%w: %d rows (see the reasons on stderr; they are passed, fix them in the source)", ErrRejected, st.Rejected)
	}
	return nil
}

func printPollSummary(w io.Writer, s pgsource.Stats, pos pgsource.Position, d time.Duration, asJSON bool) {
	if asJSON {
		_ = json.NewEncoder(w).Encode(struct {
			pgsource.Stats
			Position   pgsource.Position `json:"position"`
			DurationMS int64             `json:"duration_ms"`
		}{s, pos, d.Milliseconds()})
		return
	}
	fmt.Fprintf(w, "read %d  rejected %d  unchanged %d  published %d  duplicates %d  deletes %d  failed %d  queries %d  (%s)\n",
		s.Read, s.Rejected, s.Unchanged, s.Published, s.Duplicates, s.Deletes, s.Failed, s.Queries, d.Round(time.Millisecond))
	if s.NullKey+s.NullOrder+s.FutureRows > 0 {
		fmt.Fprintf(w, "unreadable rows: %d with a NULL key, %d with a NULL ordering column, %d in the future\n", s.NullKey, s.NullOrder, s.FutureRows)
	}
}
