package pgsource

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/telemetry"
)

// ErrConfig wraps the start-up errors a user fixes in the settings or the
// mapping (as opposed to a database that does not answer).
var ErrConfig = errors.New("invalid configuration")

// configErr marks err as a configuration error, keeping its message.
type configErr struct{ err error }

func (e configErr) Error() string   { return e.err.Error() }
func (e configErr) Unwrap() []error { return []error{ErrConfig, e.err} }

// Defaults of Config; the zero value of each field means its default.
const (
	DefaultInterval      = 5 * time.Second
	DefaultPageSize      = 5000
	DefaultOverlap       = time.Minute
	DefaultOverlapSeq    = 1000
	DefaultCheckEvery    = 5 * time.Minute
	DefaultProgressEvery = 5 * time.Second
	// FutureTolerance is how far past the database clock an updated_at may
	// be before the bad-row check reports it (rows later than the clock
	// wait until it passes them).
	FutureTolerance = time.Minute
)

// Sink is where the poller publishes deltas: producer.Publisher in
// production (Nats-Msg-Id = external ID + version).
type Sink interface {
	// Publish sends d without waiting; record numbers it for failures.
	Publish(ctx context.Context, record int, d delta.Delta) error
	// Flush waits until every delta published since the last Flush is
	// confirmed or failed, and returns their counts.
	Flush(ctx context.Context) (Acks, error)
	// Reject stores a row that cannot be a delta as a dead letter and
	// returns once JetStream confirmed it: the position passes a rejected
	// row only after it is in the DLQ, where ops see it (syncctl dlq list).
	Reject(ctx context.Context, r Rejection) error
}

// Rejection is a source row that could not become a delta.
type Rejection struct {
	Source  string // the mapping's name
	Key     string // the row's key column
	Order   int64  // its updated_at in µs, or its sequence
	Segment string // the segment it would have gone to, if known
	Reason  string // why, emails masked
}

// Acks are the outcomes of the publishes a Flush waited for.
type Acks struct {
	Published, Duplicates, Failed int64
}

// Config configures a Poller. Zero values mean the defaults.
type Config struct {
	Mapping Mapping
	// DSN is the database's connection string (POLL_DSN / --dsn).
	DSN string
	// Interval between polls once caught up (POLL_INTERVAL).
	Interval time.Duration
	// PageSize is the rows read per query (POLL_PAGE_SIZE).
	PageSize int
	// Rate caps published rows per second (POLL_RATE); 0 = no cap.
	Rate float64
	// Overlap is how far before the database clock at the previous poll
	// each poll re-reads (time mode; POLL_OVERLAP). It must cover the
	// longest transaction writing the table, plus any skew between the
	// clock that sets updated_at and the database's.
	Overlap time.Duration
	// OverlapSeq is the same in sequence values (sequence mode;
	// POLL_OVERLAP_SEQ).
	OverlapSeq int64
	// CheckEvery is how often rows paging cannot reach (NULL key, NULL or
	// future updated_at) are counted and reported.
	CheckEvery time.Duration
	// ProgressEvery is how often Progress is called during a long poll.
	ProgressEvery time.Duration
	// Progress, if set, is called during a poll with a backlog (an initial
	// load) and at its end.
	Progress func(Progress)
	// BeforeSave, if set, is called after JetStream confirmed a page and
	// before its position is saved (tests use it to crash the poller there).
	BeforeSave func(Position)
	Logger     *zap.Logger
}

func (c *Config) setDefaults() {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.PageSize <= 0 {
		c.PageSize = DefaultPageSize
	}
	if c.Overlap <= 0 {
		c.Overlap = DefaultOverlap
	}
	if c.OverlapSeq <= 0 {
		c.OverlapSeq = DefaultOverlapSeq
	}
	if c.CheckEvery <= 0 {
		c.CheckEvery = DefaultCheckEvery
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = DefaultProgressEvery
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

func (c Config) validate() error {
	switch {
	case c.DSN == "":
		return errors.New("POLL_DSN (--dsn) is required: the PostgreSQL connection string, e.g. postgres://user:pass@host:5432/db")
	case c.PageSize > 100000:
		return fmt.Errorf("POLL_PAGE_SIZE (--page-size) %d: at most 100000", c.PageSize)
	case c.Rate < 0 || math.IsNaN(c.Rate):
		return fmt.Errorf("POLL_RATE (--rate) %v: want rows per second, 0 for no cap", c.Rate)
	case c.Interval < 10*time.Millisecond:
		return fmt.Errorf("POLL_INTERVAL (--interval) %v: at least 10ms", c.Interval)
	}
	return nil
}

// Stats counts what a poller did over its life.
type Stats struct {
	Polls      int64 `json:"polls"`
	Queries    int64 `json:"queries"`    // SQL statements sent
	Read       int64 `json:"read"`       // rows read
	Rejected   int64 `json:"rejected"`   // rows that could not be a delta (logged with key and reason)
	Unchanged  int64 `json:"unchanged"`  // rows re-read in the overlap, already confirmed by this process
	Published  int64 `json:"published"`  // deltas newly stored in CONTACTS
	Duplicates int64 `json:"duplicates"` // deltas CONTACTS already had (re-read after a restart)
	Deletes    int64 `json:"deletes"`    // of those sent, deletes (soft-delete column)
	Failed     int64 `json:"failed"`     // deltas JetStream did not confirm (retried on the next poll)
	// Unreachable is what the last bad-row check found.
	NullKey    int64 `json:"null_key"`
	NullOrder  int64 `json:"null_order"`
	FutureRows int64 `json:"future_rows"`
}

// Progress reports a poll with a backlog.
type Progress struct {
	Rows    int64         // rows read in this poll
	Total   int64         // rows to read in this poll when it started (estimate; 0 = unknown)
	Rate    float64       // rows per second so far
	ETA     time.Duration // at Rate; 0 = unknown
	Elapsed time.Duration
	Done    bool
}

// Poller publishes the changes of one source.
type Poller struct {
	cfg     Config
	pool    *pgxpool.Pool
	plan    *plan
	wm      *watermarks
	sink    Sink
	log     *zap.Logger
	limiter *rate.Limiter

	pos       Position
	sent      map[string]int64 // key:order → order of rows confirmed (or rejected) in this process, for the overlap
	lastCheck time.Time
	lastBad   [3]int64

	mu    sync.Mutex
	stats Stats
}

// New connects to the database, checks the mapping against it and loads
// the saved position from kv (the watermarks bucket). Errors name the
// setting to fix.
func New(ctx context.Context, cfg Config, kv jetstream.KeyValue, sink Sink) (*Poller, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, configErr{err}
	}
	if err := cfg.Mapping.validate(); err != nil {
		return nil, configErr{err}
	}
	pcfg, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, configErr{fmt.Errorf("POLL_DSN (--dsn): not a PostgreSQL connection string: %v", redactParseError(err))}
	}
	pcfg.MaxConns = 2
	pcfg.ConnConfig.RuntimeParams["application_name"] = "contactsync-poll"
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, configErr{fmt.Errorf("POLL_DSN (--dsn): %w", err)}
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := pool.Ping(cctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("POLL_DSN (--dsn): cannot connect to %s@%s/%s: %w", pcfg.ConnConfig.User, pcfg.ConnConfig.Host, pcfg.ConnConfig.Database, err)
	}
	pl, err := newPlan(cctx, pool, cfg.Mapping)
	if err != nil {
		pool.Close()
		if ctx.Err() == nil && !isConnError(err) {
			err = configErr{err}
		}
		return nil, err
	}
	p := &Poller{cfg: cfg, pool: pool, plan: pl, sink: sink, log: cfg.Logger.With(zap.String("source", cfg.Mapping.Name)),
		wm: &watermarks{kv: kv, key: cfg.Mapping.WatermarkKey()}, sent: map[string]int64{}}
	if cfg.Rate > 0 {
		p.limiter = rate.NewLimiter(rate.Limit(cfg.Rate), max(1, int(cfg.Rate/10)))
	}
	if p.pos, err = p.wm.load(cctx); err != nil {
		pool.Close()
		return nil, err
	}
	return p, nil
}

// redactParseError keeps a DSN parse error from echoing the password.
func redactParseError(err error) string {
	msg := err.Error()
	if i := len("cannot parse `"); len(msg) > i && msg[:i] == "cannot parse `" {
		if j := indexFrom(msg, "`", i); j > 0 {
			return msg[:i] + "…" + msg[j:]
		}
	}
	return msg
}

func indexFrom(s, sub string, from int) int {
	for i := from; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// Close releases the database connections.
func (p *Poller) Close() { p.pool.Close() }

// Position is the last saved position.
func (p *Poller) Position() Position { return p.pos }

// Stats returns the counts so far.
func (p *Poller) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

func (p *Poller) count(f func(*Stats)) {
	p.mu.Lock()
	f(&p.stats)
	p.mu.Unlock()
}

// Run polls until ctx ends. A failed poll (database or JetStream away) is
// logged and tried again after the interval from the last saved position,
// so the poller never stops on a passing failure and never skips a row.
func (p *Poller) Run(ctx context.Context) error {
	for {
		if err := p.Poll(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.log.Error("poll failed; retrying from the saved position", zap.Error(err))
		}
		t := time.NewTimer(p.cfg.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Poll reads everything new since the saved position (and the overlap
// before it) once, publishing and saving as it goes, and returns when it
// has caught up.
func (p *Poller) Poll(ctx context.Context) error {
	p.count(func(s *Stats) { s.Polls++ })
	if time.Since(p.lastCheck) >= p.cfg.CheckEvery {
		if err := p.checkUnreachable(ctx); err != nil {
			return err
		}
	}
	var clock int64 // time mode: the database clock at the start of the poll, µs
	if !p.plan.seq {
		var now time.Time
		p.count(func(s *Stats) { s.Queries++ })
		if err := p.pool.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
			return fmt.Errorf("read the database clock: %w", err)
		}
		clock = now.UnixMicro()
	}
	c := &cycle{p: p, start: time.Now(), clock: clock}
	pos := p.pos
	// 1. The overlap: rows at or before the saved position that a
	// transaction may have committed since. Nothing here moves the
	// position; what was already confirmed by this process is not resent.
	if pos.Set {
		from, window := int64(0), false
		switch {
		case p.plan.seq:
			from, window = pos.Order-p.cfg.OverlapSeq, true
		case pos.Bound <= pos.Order:
			from, window = pos.Bound, true
		}
		if window {
			upTo := pos
			if err := c.pass(ctx, page{from: from, upTo: &upTo}, false); err != nil {
				return err
			}
		}
	}
	// 2. Everything after the saved position, saving after every page.
	pg := page{from: p.plan.lowest()}
	if pos.Set {
		after := pos
		pg.after = &after
	}
	if err := c.pass(ctx, pg, true); err != nil {
		return err
	}
	// A poll that found nothing new still narrows the overlap of the next
	// one; saving it is worth a KV write only when it found late rows or
	// the saved bound lags by more than the overlap (after a restart the
	// re-read stays within about two overlaps).
	if !p.plan.seq && p.pos.Set {
		bound := clock - p.cfg.Overlap.Microseconds()
		if c.sentInWindow > 0 || bound-p.pos.Bound > p.cfg.Overlap.Microseconds() {
			np := p.pos
			np.Bound = bound
			if err := p.save(ctx, np); err != nil {
				return err
			}
		}
	}
	p.prune()
	c.progress(true)
	return nil
}

// cycle is one poll in progress.
type cycle struct {
	p            *Poller
	start        time.Time
	clock        int64
	rows         int64
	total        int64
	lastProgress time.Time
	sentInWindow int64
	record       int
}

// pass reads pages from pg on. With advance, the position moves (and is
// saved) after every confirmed page.
func (c *cycle) pass(ctx context.Context, pg page, advance bool) error {
	p := c.p
	pg.limit = p.cfg.PageSize
	if !p.plan.seq {
		pg.maxOrder = &c.clock
	}
	first := true
	for {
		sql, args := p.plan.query(pg)
		p.count(func(s *Stats) { s.Queries++ })
		rows, err := p.pool.Query(ctx, sql, args...)
		if err != nil {
			return fmt.Errorf("read %s: %w", p.cfg.Mapping.Name, err)
		}
		var batch []row
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				rows.Close()
				return fmt.Errorf("read %s: %w", p.cfg.Mapping.Name, err)
			}
			batch = append(batch, p.plan.convert(vals))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read %s: %w", p.cfg.Mapping.Name, err)
		}
		if advance && first && len(batch) == p.cfg.PageSize {
			c.estimate(ctx, pg)
		}
		first = false
		if len(batch) == 0 {
			return nil
		}
		if err := c.publish(ctx, batch, advance); err != nil {
			return err
		}
		last := batch[len(batch)-1]
		next := Position{Order: last.order, Key: last.key, Set: true}
		if advance {
			np := next
			np.Rows = p.pos.Rows
			np.Bound = c.clock - p.cfg.Overlap.Microseconds()
			if p.cfg.BeforeSave != nil {
				p.cfg.BeforeSave(np)
			}
			if err := p.save(ctx, np); err != nil {
				return err
			}
		}
		c.rows += int64(len(batch))
		c.progress(false)
		if len(batch) < p.cfg.PageSize {
			return nil
		}
		pg.after = &next
	}
}

// publish sends the page's deltas and waits for JetStream to confirm them
// all. Rows already confirmed (or rejected) by this process are skipped.
func (c *cycle) publish(ctx context.Context, batch []row, advance bool) error {
	p := c.p
	var sent, rejected, unchanged, deletes int64
	var fresh []string
	for _, r := range batch {
		id := r.key + ":" + fmtInt(r.order)
		if _, ok := p.sent[id]; ok {
			unchanged++
			continue
		}
		if r.err != nil {
			rejected++
			reason := telemetry.MaskEmails(r.err.Error())
			p.log.Warn("row rejected", zap.String("key", r.key), zap.Int64(p.cfg.Mapping.orderSetting(), r.order),
				zap.String("reason", reason))
			if err := p.sink.Reject(ctx, Rejection{Source: p.cfg.Mapping.SourceName(), Key: r.key, Order: r.order, Segment: r.delta.Segment, Reason: reason}); err != nil {
				return fmt.Errorf("dead-letter rejected row %s: %w", r.key, err)
			}
			fresh = append(fresh, id)
			continue
		}
		if p.limiter != nil {
			if err := p.limiter.Wait(ctx); err != nil {
				return err
			}
		}
		c.record++
		if err := p.sink.Publish(ctx, c.record, r.delta); err != nil {
			var fe *delta.FieldError
			if errors.As(err, &fe) {
				rejected++
				reason := telemetry.MaskEmails(err.Error())
				p.log.Warn("row rejected", zap.String("key", r.key), zap.String("reason", reason))
				if err := p.sink.Reject(ctx, Rejection{Source: p.cfg.Mapping.SourceName(), Key: r.key, Order: r.order, Segment: r.delta.Segment, Reason: reason}); err != nil {
					return fmt.Errorf("dead-letter rejected row %s: %w", r.key, err)
				}
				fresh = append(fresh, id)
				continue
			}
			return err
		}
		sent++
		if r.delta.IsDelete() {
			deletes++
		}
		fresh = append(fresh, id)
	}
	acks, err := p.sink.Flush(ctx)
	p.count(func(s *Stats) {
		s.Read += int64(len(batch))
		s.Rejected += rejected
		s.Unchanged += unchanged
		s.Published += acks.Published
		s.Duplicates += acks.Duplicates
		s.Failed += acks.Failed
		s.Deletes += deletes
	})
	if err != nil {
		return err
	}
	if acks.Failed > 0 {
		return fmt.Errorf("JetStream did not confirm %d of %d deltas; the position stays where it was", acks.Failed, sent)
	}
	if !advance {
		c.sentInWindow += sent
	}
	p.pos.Rows += acks.Published
	// Remember what a later overlap would read again: in time mode only
	// rows recent enough to fall in one.
	keepFrom := c.clock - 2*p.cfg.Overlap.Microseconds()
	for _, id := range fresh {
		o := orderOf(id)
		if p.plan.seq || o >= keepFrom {
			p.sent[id] = o
		}
	}
	return nil
}

// save writes the position; a concurrent change reloads it.
func (p *Poller) save(ctx context.Context, np Position) error {
	if np.Order < p.pos.Order && p.pos.Set {
		np.Order, np.Key = p.pos.Order, p.pos.Key
	}
	np.Rows = max(np.Rows, p.pos.Rows)
	np.SavedAt = time.Now().UTC().Truncate(time.Microsecond)
	if err := p.wm.save(ctx, np); err != nil {
		if errors.Is(err, errConcurrentPoller) {
			if pos, lerr := p.wm.load(ctx); lerr == nil {
				p.pos = pos
			}
		}
		return err
	}
	p.pos = np
	return nil
}

// prune forgets confirmed rows no overlap will read again.
func (p *Poller) prune() {
	var floor int64
	switch {
	case !p.pos.Set:
		return
	case p.plan.seq:
		floor = p.pos.Order - p.cfg.OverlapSeq
	default:
		floor = min(p.pos.Bound, p.pos.Order)
	}
	for id, o := range p.sent {
		if o < floor {
			delete(p.sent, id)
		}
	}
}

// estimate counts the rows a long poll has to read, for the ETA.
func (c *cycle) estimate(ctx context.Context, pg page) {
	p := c.p
	from := pg.from
	if pg.after != nil {
		from = pg.after.Order
	}
	args := []any{p.plan.lowArg(from)}
	if !p.plan.seq {
		args = append(args, p.plan.lowArg(c.clock))
	}
	p.count(func(s *Stats) { s.Queries++ })
	if err := p.pool.QueryRow(ctx, p.plan.count, args...).Scan(&c.total); err != nil {
		p.log.Debug("count for progress failed", zap.Error(err))
		c.total = 0
	}
	c.lastProgress = time.Now()
	c.progress(false)
}

func (c *cycle) progress(done bool) {
	if c.p.cfg.Progress == nil || c.total == 0 {
		return
	}
	if !done && time.Since(c.lastProgress) < c.p.cfg.ProgressEvery && c.rows > 0 {
		return
	}
	c.lastProgress = time.Now()
	el := time.Since(c.start)
	pr := Progress{Rows: c.rows, Total: c.total, Elapsed: el, Done: done}
	if s := el.Seconds(); s > 0 {
		pr.Rate = float64(c.rows) / s
	}
	if pr.Rate > 0 && c.total > c.rows {
		pr.ETA = time.Duration(float64(c.total-c.rows) / pr.Rate * float64(time.Second))
	}
	c.p.cfg.Progress(pr)
}

// checkUnreachable counts rows keyset paging cannot read and reports them
// when the counts change.
func (p *Poller) checkUnreachable(ctx context.Context) error {
	p.lastCheck = time.Now()
	var args []any
	if p.plan.seq {
		args = []any{p.plan.lowArg(p.plan.lowest())}
	} else {
		args = []any{p.plan.lowArg(p.plan.lowest()), time.Now().Add(FutureTolerance).UTC()}
	}
	var bad [3]int64
	p.count(func(s *Stats) { s.Queries++ })
	if err := p.pool.QueryRow(ctx, p.plan.check, args...).Scan(&bad[0], &bad[1], &bad[2]); err != nil {
		return fmt.Errorf("check %s for unreadable rows: %w", p.cfg.Mapping.Name, err)
	}
	p.count(func(s *Stats) { s.NullKey, s.NullOrder, s.FutureRows = bad[0], bad[1], bad[2] })
	if bad != p.lastBad && bad != [3]int64{} {
		p.log.Warn("rows the poller cannot read: fix them in the source (they are not published until then)",
			zap.Int64("null_key", bad[0]), zap.Int64("null_"+p.cfg.Mapping.orderSetting(), bad[1]),
			zap.Int64("future_"+p.cfg.Mapping.orderSetting(), bad[2]),
			zap.String("key_column", p.cfg.Mapping.Key), zap.String("order_column", p.cfg.Mapping.order()))
	}
	p.lastBad = bad
	return nil
}

// isConnError reports whether err is the database going away rather than
// the mapping not fitting it.
func isConnError(err error) bool {
	var pe *pgconn.PgError
	return !errors.As(err, &pe) && !strings.HasPrefix(err.Error(), "mapping ")
}
