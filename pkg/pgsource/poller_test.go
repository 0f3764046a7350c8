package pgsource_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/bus/bustest"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/pgsource"
	"github.com/contactsync/contactsync/pkg/pgsource/pgtest"
	"github.com/contactsync/contactsync/pkg/producer"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"))
}

// fixture is a real PostgreSQL database and a real embedded JetStream.
type fixture struct {
	db *pgtest.DB
	js jetstream.JetStream
	kv jetstream.KeyValue
}

const contactsTable = `CREATE TABLE contacts (
	external_id text,
	segment     text,
	first_name  text,
	last_name   text,
	email       text,
	score       numeric,
	deleted_at  timestamptz,
	updated_at  timestamptz DEFAULT now()
);
CREATE INDEX ON contacts (updated_at, external_id);`

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := pgtest.New(t)
	db.Exec(t, contactsTable)
	_, js := bustest.Start(t, bus.Topology{Partitions: 4, Storage: jetstream.MemoryStorage})
	kv, err := js.KeyValue(context.Background(), bus.BucketWatermarks)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{db: db, js: js, kv: kv}
}

func testMapping(t *testing.T) pgsource.Mapping {
	t.Helper()
	m, err := pgsource.ParseMapping([]byte(`
table: contacts
key: external_id
segment: segment
default_segment: emea
deleted: deleted_at
fields:
  first_name: FirstName
  last_name: LastName
  email: Email
  score: Score__c
`), false)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *fixture) poller(t *testing.T, cfg pgsource.Config) *pgsource.Poller {
	t.Helper()
	if cfg.Mapping.Name == "" {
		cfg.Mapping = testMapping(t)
	}
	cfg.DSN = f.db.DSN
	p, err := pgsource.New(context.Background(), cfg, f.kv, producer.NewPollSink(f.js))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func poll(t *testing.T, p *pgsource.Poller) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.Poll(ctx); err != nil {
		t.Fatalf("Poll: %v", err)
	}
}

// stored returns every delta in CONTACTS, in stream order.
func (f *fixture) stored(t *testing.T) []delta.Delta {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := f.js.Stream(ctx, bus.StreamContacts)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []delta.Delta
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		d, err := delta.Decode(m.Data)
		if err != nil {
			t.Fatalf("stored message %d: %v", seq, err)
		}
		out = append(out, d)
	}
	return out
}

// byID counts stored deltas per external ID.
func byID(ds []delta.Delta) map[string]int {
	n := map[string]int{}
	for _, d := range ds {
		n[d.ExternalID]++
	}
	return n
}

func TestPollPublishesRowsAsDeltas(t *testing.T) {
	f := newFixture(t)
	f.db.Exec(t, `INSERT INTO contacts (external_id, segment, first_name, last_name, email, score, deleted_at, updated_at) VALUES
		('MC_1', 'apac', 'Jane', 'Doe', 'jane@example.com', 12.50, NULL, '2026-11-26 10:00:00.123456+00'),
		('MC_2', NULL,   'Jo',   NULL,  NULL, NULL, NULL, '2026-11-26 10:00:01+00'),
		('MC_3', 'emea', 'Gone', 'Away', 'gone@example.com', 1, '2026-11-26 11:00:00+00', '2026-11-26 11:00:00+00')`)
	p := f.poller(t, pgsource.Config{})
	poll(t, p)
	got := f.stored(t)
	if len(got) != 3 {
		t.Fatalf("stored %d deltas, want 3: %+v", len(got), got)
	}
	d1, d2, d3 := got[0], got[1], got[2]
	if d1.ExternalID != "MC_1" || d1.Segment != "apac" || d1.Version != time.Date(2026, 11, 26, 10, 0, 0, 123456000, time.UTC).UnixMicro() {
		t.Errorf("first delta: %+v", d1)
	}
	if d1.Fields["Email"] != "jane@example.com" || d1.Fields["Score__c"] != json.Number("12.50") || d1.Source != "postgres:contacts" {
		t.Errorf("first delta fields: %#v source %q", d1.Fields, d1.Source)
	}
	if d2.Segment != "emea" {
		t.Errorf("NULL segment: got %q, want the default emea", d2.Segment)
	}
	if v, ok := d2.Fields["LastName"]; !ok || v != nil {
		t.Errorf("NULL last_name: got %#v (present %v), want null (clear the field)", v, ok)
	}
	if !d3.IsDelete() || len(d3.Fields) != 0 || d3.Version != time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC).UnixMicro() {
		t.Errorf("soft-deleted row: %+v, want a delete at its updated_at", d3)
	}
	st := p.Stats()
	if st.Read != 3 || st.Published != 3 || st.Deletes != 1 || st.Rejected != 0 {
		t.Errorf("stats %+v", st)
	}
	pos := p.Position()
	if !pos.Set || pos.Key != "MC_3" || pos.Order != d3.Version {
		t.Errorf("position %+v, want at MC_3", pos)
	}
	// Nothing new: a second poll publishes nothing.
	poll(t, p)
	if n := len(f.stored(t)); n != 3 {
		t.Errorf("after an idle poll CONTACTS has %d deltas, want 3", n)
	}
}

// Rows sharing one updated_at across page boundaries are each read once:
// paging is by (updated_at, key), never by updated_at alone.
func TestPollSameTimestampAcrossPages(t *testing.T) {
	f := newFixture(t)
	f.db.Exec(t, `INSERT INTO contacts (external_id, last_name, updated_at)
		SELECT 'MC_' || lpad(i::text, 3, '0'), 'Name ' || i, '2026-11-26 10:00:00+00' FROM generate_series(1, 23) i`)
	f.db.Exec(t, `INSERT INTO contacts (external_id, last_name, updated_at)
		SELECT 'MC_' || lpad(i::text, 3, '0'), 'Name ' || i, '2026-11-26 10:00:01+00' FROM generate_series(24, 30) i`)
	p := f.poller(t, pgsource.Config{PageSize: 4})
	poll(t, p)
	n := byID(f.stored(t))
	if len(n) != 30 {
		t.Fatalf("%d distinct contacts stored, want 30", len(n))
	}
	for id, c := range n {
		if c != 1 {
			t.Errorf("%s stored %d times", id, c)
		}
	}
	if st := p.Stats(); st.Read != 30 || st.Published != 30 || st.Duplicates != 0 {
		t.Errorf("stats %+v: every row read and published once", st)
	}
	// Three rows change at a new shared timestamp: exactly those arrive.
	f.db.Exec(t, `UPDATE contacts SET last_name = 'Changed', updated_at = '2026-11-26 10:00:02+00' WHERE external_id IN ('MC_002', 'MC_017', 'MC_029')`)
	poll(t, p)
	all := f.stored(t)
	if len(all) != 33 {
		t.Fatalf("stored %d, want 33", len(all))
	}
	for _, d := range all[30:] {
		if d.Fields["LastName"] != "Changed" {
			t.Errorf("new delta %s: %#v", d.ExternalID, d.Fields)
		}
	}
}

// A transaction that wrote its row earlier (updated_at = its start time)
// but commits after a later row was already polled still gets published.
func TestPollLateCommit(t *testing.T) {
	f := newFixture(t)
	p := f.poller(t, pgsource.Config{Overlap: time.Minute})
	poll(t, p) // the empty table: position and clock set
	ctx := context.Background()
	txA, err := f.db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback(ctx)
	if _, err := txA.Exec(ctx, `INSERT INTO contacts (external_id, last_name, updated_at) VALUES ('MC_LATE', 'Late', now())`); err != nil {
		t.Fatal(err)
	}
	// B starts after A, writes a later updated_at and commits first.
	f.db.Exec(t, `INSERT INTO contacts (external_id, last_name, updated_at) VALUES ('MC_EARLY', 'Early', clock_timestamp())`)
	poll(t, p)
	if n := byID(f.stored(t)); n["MC_EARLY"] != 1 || n["MC_LATE"] != 0 {
		t.Fatalf("before A commits: %v", n)
	}
	var lateAt, earlyAt time.Time
	if err := txA.QueryRow(ctx, `SELECT updated_at FROM contacts WHERE external_id = 'MC_LATE'`).Scan(&lateAt); err != nil {
		t.Fatal(err)
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Pool.QueryRow(ctx, `SELECT updated_at FROM contacts WHERE external_id = 'MC_EARLY'`).Scan(&earlyAt); err != nil {
		t.Fatal(err)
	}
	if !lateAt.Before(earlyAt) || p.Position().Order != earlyAt.UnixMicro() {
		t.Fatalf("test setup: late row at %v must precede the polled position %v (position %+v)", lateAt, earlyAt, p.Position())
	}
	poll(t, p)
	n := byID(f.stored(t))
	if n["MC_LATE"] != 1 || n["MC_EARLY"] != 1 {
		t.Fatalf("after A commits: %v, want the late row too, each once", n)
	}
	if st := p.Stats(); st.Unchanged == 0 {
		t.Errorf("the overlap re-read MC_EARLY: unchanged %d, want ≥1 (and it was not sent again)", st.Unchanged)
	}
}

// Rows that cannot be deltas are rejected with their key and reason and
// passed; rows paging cannot reach are counted.
func TestPollBadRows(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat("x", 81)
	f.db.Exec(t, `INSERT INTO contacts (external_id, segment, last_name, updated_at) VALUES
		('MC_OK1', 'emea', 'A', '2026-11-26 10:00:00+00'),
		('MC_BADSEG', 'EMEA North', 'B', '2026-11-26 10:00:01+00'),
		($1, 'emea', 'C', '2026-11-26 10:00:02+00'),
		(NULL, 'emea', 'D', '2026-11-26 10:00:03+00'),
		('MC_NOTIME', 'emea', 'E', NULL),
		('MC_FUTURE', 'emea', 'F', now() + interval '1 day'),
		('MC_OK2', 'emea', 'G', '2026-11-26 10:00:04+00')`, long)
	p := f.poller(t, pgsource.Config{})
	poll(t, p)
	n := byID(f.stored(t))
	if len(n) != 2 || n["MC_OK1"] != 1 || n["MC_OK2"] != 1 {
		t.Fatalf("stored %v, want MC_OK1 and MC_OK2", n)
	}
	st := p.Stats()
	if st.Rejected != 2 || st.NullKey != 1 || st.NullOrder != 1 || st.FutureRows != 1 {
		t.Fatalf("stats %+v: want 2 rejected, 1 NULL key, 1 NULL updated_at, 1 in the future", st)
	}
	if p.Position().Key != "MC_OK2" {
		t.Errorf("position %+v: rejected rows are passed, the position reaches MC_OK2", p.Position())
	}
	// The position passed them only once they were dead letters, one per
	// row version however often the overlap re-reads them.
	poll(t, p)
	dlq := f.deadLetters(t)
	if len(dlq) != 2 {
		t.Fatalf("%d dead letters for 2 rejected rows: %v", len(dlq), dlq)
	}
	for _, h := range dlq {
		if h.Get(bus.HeaderErrorCode) != producer.RejectedRowCode || h.Get(bus.HeaderErrorMessage) == "" {
			t.Errorf("dead letter headers %v: want code %s and a reason", h, producer.RejectedRowCode)
		}
	}
	// A fixed row gets a new updated_at and arrives.
	f.db.Exec(t, `UPDATE contacts SET segment = 'emea-north', updated_at = '2026-11-26 10:00:05+00' WHERE external_id = 'MC_BADSEG'`)
	poll(t, p)
	if n := byID(f.stored(t)); n["MC_BADSEG"] != 1 {
		t.Errorf("fixed row not published: %v", n)
	}
}

func TestNewStartupErrors(t *testing.T) {
	f := newFixture(t)
	f.db.Exec(t, `CREATE TABLE seq_contacts (id bigint, seq bigint, name text)`)
	mapping := func(doc string) pgsource.Mapping {
		m, err := pgsource.ParseMapping([]byte(doc), false)
		if err != nil {
			t.Fatalf("mapping %q: %v", doc, err)
		}
		return m
	}
	base := "key: external_id\ndefault_segment: emea\nfields: {last_name: LastName}\n"
	for _, tc := range []struct {
		name string
		cfg  pgsource.Config
		want []string
	}{
		{"missing table", pgsource.Config{Mapping: mapping("table: nope\n" + base)}, []string{"mapping table", "nope"}},
		{"unknown field column", pgsource.Config{Mapping: mapping("table: contacts\nkey: external_id\ndefault_segment: emea\nfields: {surname: LastName}\n")},
			[]string{"mapping fields.surname", `column "surname" not found`}},
		{"unknown key column", pgsource.Config{Mapping: mapping("table: contacts\nkey: ext\ndefault_segment: emea\nfields: {last_name: LastName}\n")},
			[]string{"mapping key", `"ext"`}},
		{"integer updated_at", pgsource.Config{Mapping: mapping("table: seq_contacts\nkey: id\nupdated_at: seq\ndefault_segment: emea\nfields: {name: LastName}\n")},
			[]string{"mapping updated_at", "sequence"}},
		{"wrong password", pgsource.Config{DSN: strings.Replace(f.db.DSN, ":contactsync@", ":wrong-secret@", 1)}, []string{"POLL_DSN"}},
		{"page size", pgsource.Config{PageSize: 1 << 20}, []string{"POLL_PAGE_SIZE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg.Mapping.Name == "" {
				cfg.Mapping = testMapping(t)
			}
			if cfg.DSN == "" {
				cfg.DSN = f.db.DSN
			}
			p, err := pgsource.New(context.Background(), cfg, f.kv, producer.NewPollSink(f.js))
			if err == nil {
				p.Close()
				t.Fatal("New succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "wrong-secret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// A poller started again resumes at the saved position: it re-reads at
// most the overlap, and JetStream's dedup absorbs the re-sent deltas.
func TestPollResumes(t *testing.T) {
	f := newFixture(t)
	f.db.Exec(t, `INSERT INTO contacts (external_id, last_name, updated_at)
		SELECT 'MC_' || i, 'Old', '2026-11-26 10:00:00+00'::timestamptz + i * interval '1 second' FROM generate_series(1, 50) i`)
	f.db.Exec(t, `INSERT INTO contacts (external_id, last_name, updated_at)
		SELECT 'MC_NEW' || i, 'New', now() - interval '1 second' FROM generate_series(1, 5) i`)
	first := f.poller(t, pgsource.Config{PageSize: 7})
	poll(t, first)
	first.Close()
	second := f.poller(t, pgsource.Config{PageSize: 7})
	if second.Position() != first.Position() {
		t.Fatalf("second poller starts at %+v, want the saved %+v", second.Position(), first.Position())
	}
	poll(t, second)
	st := second.Stats()
	if st.Published != 0 || st.Duplicates != 5 || st.Read != 5 {
		t.Errorf("restarted poll: %+v; want only the 5 rows in the overlap re-read, all duplicates", st)
	}
	if n := len(f.stored(t)); n != 55 {
		t.Errorf("CONTACTS has %d deltas, want 55", n)
	}
}

func TestPollSequenceAndQuery(t *testing.T) {
	f := newFixture(t)
	f.db.Exec(t, `CREATE TABLE people (id bigint PRIMARY KEY, seq bigint NOT NULL, name text, region text, active boolean NOT NULL DEFAULT true);
		CREATE TABLE regions (region text PRIMARY KEY, segment text)`)
	f.db.Exec(t, `INSERT INTO regions VALUES ('north', 'emea-n'), ('south', 'emea-s')`)
	f.db.Exec(t, `INSERT INTO people (id, seq, name, region, active) SELECT i, 100 + i, 'P' || i, CASE WHEN i % 2 = 0 THEN 'north' ELSE 'south' END, i <> 3 FROM generate_series(1, 12) i`)
	m, err := pgsource.ParseMapping([]byte(`{
		"name": "people",
		"query": "SELECT p.id, p.seq, p.name, r.segment, NOT p.active AS gone FROM people p JOIN regions r USING (region) WHERE p.seq >= $1",
		"key": "id", "sequence": "seq", "segment": "segment", "deleted": "gone",
		"fields": {"name": "LastName"}}`), true)
	if err != nil {
		t.Fatal(err)
	}
	p := f.poller(t, pgsource.Config{Mapping: m, PageSize: 5})
	poll(t, p)
	got := f.stored(t)
	if len(got) != 12 {
		t.Fatalf("stored %d, want 12", len(got))
	}
	for _, d := range got {
		if d.ExternalID == "3" != d.IsDelete() {
			t.Errorf("%s: delete = %v", d.ExternalID, d.IsDelete())
		}
		var id int64
		fmt.Sscan(d.ExternalID, &id)
		if d.Version != 100+id || (id%2 == 0) != (d.Segment == "emea-n") {
			t.Errorf("delta %+v", d)
		}
	}
	if pos := p.Position(); pos.Order != 112 || pos.Key != "12" {
		t.Errorf("position %+v, want seq 112 key 12", pos)
	}
	f.db.Exec(t, `UPDATE people SET name = 'Renamed', seq = 200 WHERE id = 5`)
	poll(t, p)
	all := f.stored(t)
	if len(all) != 13 || all[12].ExternalID != "5" || all[12].Version != 200 {
		t.Fatalf("after the update: %d deltas, last %+v", len(all), all[len(all)-1])
	}
}

// deadLetters returns the headers of every message in the DLQ stream.
func (f *fixture) deadLetters(t *testing.T) []nats.Header {
	t.Helper()
	ctx := context.Background()
	s, err := f.js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []nats.Header
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		out = append(out, m.Header)
	}
	return out
}
