// Command pgpoll measures `producer poll` against real PostgreSQL and an
// embedded JetStream (a benchmark, not a test):
//
//   - initial load of --rows rows into CONTACTS, in rows/s, against two
//     ceilings of the same machine: COPY (SELECT …) TO STDOUT of the same
//     rows, and raw async JetStream publishes of the same payloads;
//
//   - the idle poll cost in queries per minute at the default interval;
//
//   - COMMIT → stored in CONTACTS, p50/p99, at --rate changes/s.
//
//     CONTACTSYNC_TEST_PG_DSN=postgres://… go run ./scripts/bench/pgpoll [--rows 1000000]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/pgsource"
	"github.com/contactsync/contactsync/pkg/producer"
)

func main() {
	rows := flag.Int("rows", 1000000, "rows of the initial load")
	rate := flag.Int("rate", 100, "changes per second for the latency run")
	dur := flag.Duration("latency-for", 20*time.Second, "length of the latency run")
	interval := flag.Duration("interval", pgsource.DefaultInterval, "poll interval of the idle and latency runs")
	dsn := flag.String("dsn", os.Getenv("CONTACTSYNC_TEST_PG_DSN"), "admin DSN (a role that may create databases)")
	flag.Parse()
	if *dsn == "" {
		fmt.Fprintln(os.Stderr, "pgpoll: --dsn or CONTACTSYNC_TEST_PG_DSN is required")
		os.Exit(2)
	}
	if err := run(context.Background(), *dsn, *rows, *rate, *dur, *interval); err != nil {
		fmt.Fprintln(os.Stderr, "pgpoll:", err)
		os.Exit(1)
	}
}

const mappingYAML = "table: contacts\nkey: external_id\nsegment: segment\ndefault_segment: emea\nfields: {first_name: FirstName, last_name: LastName, email: Email}\n"

func run(ctx context.Context, adminDSN string, rows, rate int, dur, interval time.Duration) error {
	admin, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return err
	}
	const db = "cs_bench_pgpoll"
	_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		return err
	}
	defer func() {
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
		admin.Close(context.Background())
	}()
	dsn := replaceDB(adminDSN, db)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	fmt.Printf("# producer poll benchmark: %d rows, %d changes/s, interval %s\n", rows, rate, interval)
	t0 := time.Now()
	for _, stmt := range []string{
		`CREATE TABLE contacts (external_id text NOT NULL, segment text, first_name text, last_name text, email text, updated_at timestamptz NOT NULL)`,
		fmt.Sprintf(`INSERT INTO contacts SELECT 'MC_' || i, 'seg' || (i %% 8), 'First' || i, 'Last' || i, 'c' || i || '@example.com',
			'2026-11-01'::timestamptz + (i / 10) * interval '1 millisecond' FROM generate_series(1, %d) i`, rows),
		`CREATE INDEX ON contacts (updated_at, external_id)`, `CREATE INDEX ON contacts (external_id)`, `ANALYZE contacts`,
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			return err
		}
	}
	fmt.Printf("table loaded in %s\n", time.Since(t0).Round(time.Millisecond))

	// Ceiling 1: COPY of the same rows, in the poller's order.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	t0 = time.Now()
	tag, err := conn.Conn().PgConn().CopyTo(ctx, io.Discard, "COPY (SELECT external_id, updated_at, segment, email, first_name, last_name FROM contacts ORDER BY updated_at, external_id) TO STDOUT")
	conn.Release()
	if err != nil {
		return err
	}
	copyRate := float64(tag.RowsAffected()) / time.Since(t0).Seconds()

	m, err := pgsource.ParseMapping([]byte(mappingYAML), false)
	if err != nil {
		return err
	}
	// Ceiling 2: raw publishes of the same payloads (built by the poller's
	// own conversion into memory first).
	pubRate, err := publishCeiling(ctx, dsn, m, rows)
	if err != nil {
		return err
	}

	// The poll itself.
	_, js, _, cleanup, err := jetStream(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	kv, err := js.KeyValue(ctx, bus.BucketWatermarks)
	if err != nil {
		return err
	}
	p, err := pgsource.New(ctx, pgsource.Config{Mapping: m, DSN: dsn, Interval: interval}, kv, producer.NewPollSink(js))
	if err != nil {
		return err
	}
	defer p.Close()
	t0 = time.Now()
	if err := p.Poll(ctx); err != nil {
		return err
	}
	el := time.Since(t0)
	st := p.Stats()
	pollRate := float64(st.Published) / el.Seconds()
	ceiling := math.Min(copyRate, pubRate)
	fmt.Printf("\n| initial load | rows/s | ratio to the slower ceiling |\n|---|---|---|\n")
	fmt.Printf("| COPY … TO STDOUT | %.0f | |\n| raw JetStream publish | %.0f | |\n| producer poll | %.0f (%d rows in %s, %d queries) | %.2f |\n",
		copyRate, pubRate, pollRate, st.Published, el.Round(time.Millisecond), st.Queries, pollRate/ceiling)

	// Idle cost.
	q0 := p.Stats().Queries
	const idlePolls = 5
	for range idlePolls {
		if err := p.Poll(ctx); err != nil {
			return err
		}
	}
	perPoll := float64(p.Stats().Queries-q0) / idlePolls
	fmt.Printf("\nidle: %.1f queries per poll = %.0f queries/min at a %s interval (plus the bad-row check every %s)\n",
		perPoll, perPoll*float64(time.Minute)/float64(interval), interval, pgsource.DefaultCheckEvery)

	// Latency COMMIT → CONTACTS at rate changes/s, the poller running.
	lat, err := latency(ctx, pool, js, p, rate, dur)
	if err != nil {
		return err
	}
	slices.Sort(lat)
	pct := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	fmt.Printf("\ncommit → CONTACTS at %d changes/s for %s (%d changes): p50 %s  p99 %s  max %s (target p99 ≤ interval + 1s = %s)\n",
		rate, dur, len(lat), pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), interval+time.Second)
	return nil
}

func replaceDB(dsn, db string) string {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return dsn
	}
	return fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Password, cfg.Host, cfg.Port, db)
}

func jetStream(ctx context.Context) (*bus.Embedded, jetstream.JetStream, *nats.Conn, func(), error) {
	dir, err := os.MkdirTemp("", "pgpoll-bench")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	srv, err := bus.StartEmbedded(dir)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		return nil, nil, nil, nil, err
	}
	js, err := producer.NewJetStream(nc, 0)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if err := bus.Ensure(ctx, js, bus.Topology{}); err != nil {
		return nil, nil, nil, nil, err
	}
	return srv, js, nc, func() { nc.Close(); srv.Shutdown(); os.RemoveAll(dir) }, nil
}

// memSink keeps the deltas instead of publishing them.
type memSink struct{ msgs []*nats.Msg }

func (s *memSink) Publish(_ context.Context, _ int, d delta.Delta) error {
	m, err := producer.Message(d)
	if err != nil {
		return err
	}
	s.msgs = append(s.msgs, m)
	return nil
}
func (s *memSink) Flush(context.Context) (pgsource.Acks, error) { return pgsource.Acks{}, nil }

// Reject counts nothing: the benchmark's rows are all valid.
func (s *memSink) Reject(context.Context, pgsource.Rejection) error { return nil }

func publishCeiling(ctx context.Context, dsn string, m pgsource.Mapping, rows int) (float64, error) {
	_, js, _, cleanup, err := jetStream(ctx)
	if err != nil {
		return 0, err
	}
	defer cleanup()
	kv, err := js.KeyValue(ctx, bus.BucketWatermarks)
	if err != nil {
		return 0, err
	}
	sink := &memSink{}
	p, err := pgsource.New(ctx, pgsource.Config{Mapping: m, DSN: dsn}, kv, sink)
	if err != nil {
		return 0, err
	}
	defer p.Close()
	if err := p.Poll(ctx); err != nil {
		return 0, err
	}
	t0 := time.Now()
	// As many acks outstanding as the producer allows (DefaultMaxPending).
	var futs []jetstream.PubAckFuture
	wait := func(f jetstream.PubAckFuture) error {
		select {
		case <-f.Ok():
			return nil
		case err := <-f.Err():
			return err
		}
	}
	for _, msg := range sink.msgs {
		if len(futs) >= producer.DefaultMaxPending {
			if err := wait(futs[0]); err != nil {
				return 0, err
			}
			futs = futs[1:]
		}
		f, err := js.PublishMsgAsync(msg)
		if err != nil {
			return 0, err
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		if err := wait(f); err != nil {
			return 0, err
		}
	}
	return float64(len(sink.msgs)) / time.Since(t0).Seconds(), nil
}

func latency(ctx context.Context, pool *pgxpool.Pool, js jetstream.JetStream, p *pgsource.Poller, rate int, dur time.Duration) ([]time.Duration, error) {
	var mu sync.Mutex
	committed := map[string]time.Time{}
	var lat []time.Duration
	s, err := js.Stream(ctx, bus.StreamContacts)
	if err != nil {
		return nil, err
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return nil, err
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		now := time.Now()
		id := msg.Headers().Get(delta.HeaderExternalID)
		mu.Lock()
		if t, ok := committed[id]; ok {
			lat = append(lat, now.Sub(t))
			delete(committed, id)
		}
		mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	defer cc.Stop()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(rctx) }()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	end := time.Now().Add(dur)
	n := 0
	for time.Now().Before(end) {
		<-tick.C
		n++
		id := fmt.Sprintf("MC_%d", n)
		// Stamped before the statement, so the figure includes the UPDATE and
		// its COMMIT (an upper bound of commit → CONTACTS).
		mu.Lock()
		committed[id] = time.Now()
		mu.Unlock()
		if _, err := pool.Exec(ctx, `UPDATE contacts SET last_name = 'Changed', updated_at = now() WHERE external_id = $1`, id); err != nil {
			cancel()
			return nil, err
		}
	}
	tick.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		left := len(committed)
		mu.Unlock()
		if left == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(committed) > 0 {
		return nil, fmt.Errorf("%d changes never reached CONTACTS", len(committed))
	}
	return lat, nil
}
