package upsert_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/bus/bustest"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
	"github.com/contactsync/contactsync/pkg/upsert"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"))
}

// env is one test's real parts: an embedded JetStream server with the
// topology, the Salesforce emulator over HTTP and a client for it.
type env struct {
	t      *testing.T
	ns     *bus.Embedded
	js     jetstream.JetStream
	srv    *sfsimtest.Org
	sf     *salesforce.Client
	stats  *upsert.Stats
	gate   *upsert.Gate
	cfg    upsert.Config
	pol    conflict.Config
	logger *zap.Logger
}

func newEnv(t *testing.T, sfcfg sfsim.Config) *env {
	t.Helper()
	ns, js := bustest.Start(t, bus.Topology{})
	srv := sfsimtest.Start(t, sfcfg)
	sf := srv.Client(t)
	cfg := upsert.Config{AckWait: 3 * time.Second, MaxDelay: 200 * time.Millisecond, LeaseTTL: 2 * time.Second, Heartbeat: 300 * time.Millisecond,
		LimitCheckInterval: 200 * time.Millisecond, ShutdownTimeout: 5 * time.Second, RecordRetryMaxElapsed: 20 * time.Second}
	e := &env{t: t, ns: ns, js: js, srv: srv, sf: sf, stats: &upsert.Stats{}, cfg: cfg}
	e.gate = upsert.NewGate(sf, 0.9, cfg.LimitCheckInterval, nil)
	return e
}

// startUpserter starts a fleet member on its own NATS connection and returns
// it with that connection (close the connection to simulate a crash).
func (e *env) startUpserter(name string) (*upsert.Upserter, *nats.Conn) {
	e.t.Helper()
	nc, _ := bustest.Connect(e.t, e.ns)
	cfg := e.cfg
	cfg.Member = name
	u, err := upsert.New(cfg, upsert.Deps{NATS: nc, Salesforce: e.sf, Resolver: conflict.NewResolver(e.sf, e.pol, nil),
		Stats: e.stats, Gate: e.gate, Logger: e.logger})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = u.Stop(context.Background()); nc.Close() })
	return u, nc
}

func (e *env) publish(ds ...delta.Delta) {
	e.t.Helper()
	for _, d := range ds {
		b, err := json.Marshal(d)
		if err != nil {
			e.t.Fatal(err)
		}
		e.publishRaw(d.Subject(), b, d.MsgID())
	}
}

func (e *env) publishRaw(subject string, data []byte, id string) {
	e.t.Helper()
	if _, err := e.js.Publish(context.Background(), subject, data, jetstream.WithMsgID(id)); err != nil {
		e.t.Fatal(err)
	}
}

// eventually polls cond until it holds; timeout only bounds a test that
// would otherwise hang, no assertion depends on it.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, failf func() string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal(failf())
		}
	}
}

// waitDone waits until n deltas reached an outcome.
func (e *env) waitDone(n int64, timeout time.Duration) upsert.Snapshot {
	e.t.Helper()
	eventually(e.t, timeout, func() bool { return e.stats.Snapshot().Done() >= n }, func() string {
		s := e.stats.Snapshot()
		return fmt.Sprintf("only %d of %d deltas reached an outcome: %+v", s.Done(), n, s)
	})
	return e.stats.Snapshot()
}

func contactDelta(id string, v int64, fields map[string]any) delta.Delta {
	return delta.Delta{Schema: delta.SchemaV1, ExternalID: id, Segment: "emea", Version: v, Fields: fields}
}

// contacts returns the emulator's contacts by external ID, failing on duplicates.
func (e *env) contacts() map[string]map[string]any {
	e.t.Helper()
	out := map[string]map[string]any{}
	for _, r := range e.srv.Records("Contact") {
		x, _ := r["External_Contact_ID__c"].(string)
		if _, dup := out[x]; dup && x != "" {
			e.t.Fatalf("two Contacts with external ID %q", x)
		}
		out[x] = r
	}
	return out
}

func TestNewestVersionWinsAcrossUpserters(t *testing.T) {
	e := newEnv(t, sfsim.Config{})
	const contacts, versions = 300, 5
	var ds []delta.Delta
	for i := range contacts {
		id := fmt.Sprintf("MC/%d é.x", i) // needs key encoding
		for v := 1; v <= versions; v++ {
			ds = append(ds, contactDelta(id, int64(v), map[string]any{
				"LastName": fmt.Sprintf("Last %d", i), "Title": fmt.Sprintf("v%d", v), "Email": fmt.Sprintf("c%d@example.com", i)}))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	for i := range 3 {
		e.startUpserter(fmt.Sprintf("m%d", i))
	}
	e.publish(ds...)
	s := e.waitDone(int64(len(ds)), 60*time.Second)

	if s.Created != contacts {
		t.Errorf("created = %d, want %d", s.Created, contacts)
	}
	if got := s.Done(); got != int64(len(ds)) {
		t.Errorf("outcomes = %d, want exactly %d (each delta once)", got, len(ds))
	}
	if s.DeadLettered != 0 || s.Held != 0 {
		t.Errorf("unexpected dead letters/holds: %+v", s)
	}
	cs := e.contacts()
	if len(cs) != contacts {
		t.Fatalf("%d contacts in Salesforce, want %d", len(cs), contacts)
	}
	for i := range contacts {
		c := cs[fmt.Sprintf("MC/%d é.x", i)]
		if c["Title"] != fmt.Sprintf("v%d", versions) {
			t.Fatalf("contact %d has Title %v, want the newest version v%d", i, c["Title"], versions)
		}
	}
	// A redelivered or replayed old version changes nothing.
	before := e.stats.Snapshot()
	old := contactDelta("MC/0 é.x", 2, map[string]any{"LastName": "Old", "Title": "v2"})
	old.Source = "replay" // different bytes, same version
	b, _ := json.Marshal(old)
	e.publishRaw(old.Subject(), b, "replay-1")
	after := e.waitDone(before.Done()+1, 20*time.Second)
	if after.StaleSkipped != before.StaleSkipped+1 {
		t.Errorf("replayed old version: stale_skipped %d → %d, want +1", before.StaleSkipped, after.StaleSkipped)
	}
	if c := e.contacts()["MC/0 é.x"]; c["Title"] != "v5" {
		t.Errorf("replay of an older version overwrote the contact: Title %v", c["Title"])
	}
}

func TestKilledUpserterPartitionsMove(t *testing.T) {
	e := newEnv(t, sfsim.Config{Faults: sfsim.Faults{LatencyMS: 50}})
	a, anc := e.startUpserter("a")
	b, _ := e.startUpserter("b")
	waitOwned(t, a, b, 16)

	const contacts = 400
	var ds []delta.Delta
	for i := range contacts {
		for v := 1; v <= 3; v++ {
			ds = append(ds, contactDelta(fmt.Sprintf("K%d", i), int64(v), map[string]any{"LastName": "K", "Title": fmt.Sprintf("v%d", v)}))
		}
	}
	e.publish(ds...)
	// Crash a while it has work in flight: its connection dies without acks.
	eventually(t, 20*time.Second, func() bool { return e.stats.Snapshot().Batches >= 2 }, func() string { return "no batch started" })
	anc.Close()
	_ = a.Stop(context.Background())

	s := e.waitDone(int64(len(ds)), 90*time.Second)
	// Writes the crashed member made but never acked are redelivered and
	// applied again as updates: outcomes still add up to one per delta.
	if s.Created+s.Updated+s.StaleSkipped != int64(len(ds)) || s.Created == 0 {
		t.Errorf("outcomes %+v do not add up to %d applied or skipped deltas", s, len(ds))
	}
	// The crashed member's key expires (TTL) and the survivor takes every
	// partition, whether or not the crashed one left work behind.
	eventually(t, 30*time.Second, func() bool { return len(b.Owned()) == 16 },
		func() string { return fmt.Sprintf("survivor owns %v, want all 16 partitions", b.Owned()) })
	cs := e.contacts()
	if len(cs) != contacts {
		t.Fatalf("%d contacts, want %d", len(cs), contacts)
	}
	for i := range contacts {
		if c := cs[fmt.Sprintf("K%d", i)]; c["Title"] != "v3" {
			t.Fatalf("contact K%d Title %v, want v3", i, c["Title"])
		}
	}
}

func waitOwned(t *testing.T, a, b *upsert.Upserter, total int) {
	t.Helper()
	eventually(t, 20*time.Second, func() bool {
		return len(a.Owned())+len(b.Owned()) == total && len(a.Owned()) > 0 && len(b.Owned()) > 0
	}, func() string { return fmt.Sprintf("partitions not balanced: a=%v b=%v", a.Owned(), b.Owned()) })
	if d := len(a.Owned()) - len(b.Owned()); d > 1 || d < -1 {
		t.Fatalf("unbalanced: a=%v b=%v", a.Owned(), b.Owned())
	}
}

func TestTransientFaultsAndTokenExpiry(t *testing.T) {
	e := newEnv(t, sfsim.Config{Seed: 3, Faults: sfsim.Faults{ErrorRate: 0.2, Errors: []string{"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "HTML_502"}}})
	e.startUpserter("a")
	var ds []delta.Delta
	for i := range 200 {
		for v := 1; v <= 3; v++ {
			ds = append(ds, contactDelta(fmt.Sprintf("T%d", i), int64(v), map[string]any{"LastName": "T", "Title": fmt.Sprintf("v%d", v)}))
		}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // expire sessions while the run is under way
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				e.srv.ExpireSessions()
			}
		}
	}()
	for _, d := range ds {
		e.publish(d)
	}
	s := e.waitDone(int64(len(ds)), 60*time.Second)
	close(stop)
	wg.Wait()
	if s.DeadLettered != 0 {
		t.Errorf("dead_lettered = %d; transient faults must be retried, not dead-lettered", s.DeadLettered)
	}
	if s.Retries == 0 {
		t.Error("expected retries with a 20% fault rate")
	}
	for i, c := 0, e.contacts(); i < 200; i++ {
		if c[fmt.Sprintf("T%d", i)]["Title"] != "v3" {
			t.Fatalf("T%d: Title %v, want v3 (order kept through retries)", i, c[fmt.Sprintf("T%d", i)]["Title"])
		}
	}
}

func TestDailyLimitPausesFleet(t *testing.T) {
	e := newEnv(t, sfsim.Config{DailyLimit: 10})
	e.cfg.BatchSize = 10
	e.startUpserter("a")
	var ds []delta.Delta
	for i := range 500 {
		ds = append(ds, contactDelta(fmt.Sprintf("L%d", i), 1, map[string]any{"LastName": "L"}))
	}
	e.publish(ds...)
	eventually(t, 30*time.Second, func() bool { paused, _ := e.gate.Paused(); return paused },
		func() string { return "fleet did not pause near the daily limit" })
	// While paused, the fleet's only calls are its periodic /limits checks.
	// Start counting after the first check: writes in flight when the gate
	// closed have finished by then.
	first := e.srv.Stats()
	eventually(t, 30*time.Second, func() bool { return e.srv.Stats().Routes["GET /limits"] > first.Routes["GET /limits"] },
		func() string { return "paused fleet never checked /limits" })
	before := e.srv.Stats()
	eventually(t, 30*time.Second, func() bool { return e.srv.Stats().Routes["GET /limits"] >= before.Routes["GET /limits"]+3 },
		func() string { return "paused fleet never checked /limits" })
	after := e.srv.Stats()
	if writes, checks := after.APICalls-before.APICalls, after.Routes["GET /limits"]-before.Routes["GET /limits"]; writes != checks {
		t.Errorf("paused fleet made %d calls, of which only %d were /limits checks", writes, checks)
	}
	s := e.stats.Snapshot()
	if s.DeadLettered != 0 {
		t.Errorf("dead_lettered = %d: a spent allocation must pause, not drop", s.DeadLettered)
	}
	if s.Done() >= int64(len(ds)) {
		t.Fatalf("everything finished under a 10-call limit?")
	}
	info, err := e.js.Stream(context.Background(), bus.StreamContacts)
	if err != nil {
		t.Fatal(err)
	}
	si, _ := info.Info(context.Background())
	if si.State.Msgs != uint64(len(ds)) {
		t.Errorf("stream holds %d deltas, want all %d kept", si.State.Msgs, len(ds))
	}
}

func TestBadInputEndsInDLQWithReason(t *testing.T) {
	e := newEnv(t, sfsim.Config{})
	e.startUpserter("a")
	bad := []struct {
		d    delta.Delta
		code string
	}{
		{contactDelta("B1", 1, map[string]any{"LastName": "B", "Email": "john.smith@@corp.example"}), "INVALID_EMAIL_ADDRESS"},
		{contactDelta("B2", 1, map[string]any{"LastName": string(make([]byte, 81))}), "STRING_TOO_LONG"},
		{contactDelta("B3", 1, map[string]any{"FirstName": "No last name"}), "REQUIRED_FIELD_MISSING"},
		{contactDelta("B4", 1, map[string]any{"LastName": "B", "Shoe_Size__c": 42}), "INVALID_FIELD"},
	}
	for i := range bad {
		if bad[i].code == "STRING_TOO_LONG" {
			bad[i].d.Fields["LastName"] = strings.Repeat("Worthington", 20000) // 220,000 characters
		}
		e.publish(bad[i].d)
	}
	e.publishRaw("contacts.delta.emea.broken", []byte(`{"schema":"contact.delta/v1",`), "broken-1")
	good := contactDelta("B5", 1, map[string]any{"LastName": "Good"})
	e.publish(good)
	s := e.waitDone(int64(len(bad)+2), 30*time.Second)
	if s.DeadLettered != int64(len(bad)+1) || s.Created != 1 {
		t.Fatalf("outcomes %+v; want %d dead letters and the good one created", s, len(bad)+1)
	}
	// Each dead letter carries Salesforce's (or the decoder's) reason.
	codes := map[string]bool{}
	cons, err := e.js.OrderedConsumer(context.Background(), bus.StreamDLQ, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(10, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		codes[m.Headers().Get(bus.HeaderErrorCode)] = true
		msg := m.Headers().Get(bus.HeaderErrorMessage)
		if msg == "" {
			t.Errorf("dead letter %s has no message", m.Headers().Get(bus.HeaderErrorCode))
		}
		// The reason names what is wrong without the personal data it refused.
		if strings.Contains(msg, "john.smith") || strings.Contains(msg, "WorthingtonWorthington") {
			t.Errorf("dead letter %s quotes personal data: %.120q", m.Headers().Get(bus.HeaderErrorCode), msg)
		}
	}
	for _, b := range bad {
		if !codes[b.code] {
			t.Errorf("no dead letter with code %s (got %v)", b.code, codes)
		}
	}
	if !codes["INVALID_DELTA"] {
		t.Errorf("malformed delta not dead-lettered as INVALID_DELTA (got %v)", codes)
	}
}

func TestConflictHeldAndPublished(t *testing.T) {
	e := newEnv(t, sfsim.Config{})
	if _, err := e.srv.Insert("Contact", map[string]any{"LastName": "Existing", "Email": "o'brien@example.com", "External_Contact_ID__c": "OTHER-1"}); err != nil {
		t.Fatal(err)
	}
	e.startUpserter("a")
	e.publish(contactDelta("NEW-1", 1, map[string]any{"LastName": "New", "Email": "O'Brien@Example.com"}))
	s := e.waitDone(1, 30*time.Second)
	if s.Held != 1 || s.ConflictEvents != 1 {
		t.Fatalf("strict policy: want held=1 and one conflict event, got %+v", s)
	}
	cons, err := e.js.OrderedConsumer(context.Background(), bus.StreamConflicts, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := conflict.DecodeEvent(m.Data())
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != conflict.KindEmailConflict || ev.IncomingExternalID != "NEW-1" || len(ev.ExistingExternalIDs) != 1 || ev.ExistingExternalIDs[0] != "OTHER-1" {
		t.Fatalf("event = %+v", ev)
	}
	// The incoming external ID travels as a header too, so a dead letter
	// of the event names its contact in `syncctl dlq list` (headers only).
	if got := m.Headers().Get(delta.HeaderExternalID); got != "NEW-1" {
		t.Fatalf("%s = %q, want NEW-1", delta.HeaderExternalID, got)
	}
	if n := len(e.contacts()); n != 1 {
		t.Fatalf("%d contacts: a held conflict must not write", n)
	}
}

// Stop(ctx) finishes in-flight batches only while ctx lasts: a caller whose
// deadline has passed gets its Stop at once, told that batches were cut
// short, and the cut deltas are redelivered to the next owner, not lost.
func TestStopAtTheCallersDeadline(t *testing.T) {
	e := newEnv(t, sfsim.Config{})
	a, _ := e.startUpserter("a")
	e.srv.SetFaults(sfsim.Faults{LatencyMS: 60000}) // a call that outlives any shutdown
	var ds []delta.Delta
	for i := range 10 {
		ds = append(ds, contactDelta(fmt.Sprintf("S%d", i), 1, map[string]any{"LastName": "S"}))
	}
	e.publish(ds...)
	eventually(t, 30*time.Second, func() bool {
		for p := range upsert.DefaultPartitions {
			c, err := e.js.Consumer(context.Background(), bus.StreamContacts, upsert.ConsumerName(p))
			if err != nil {
				continue
			}
			if info, err := c.Info(context.Background()); err == nil && info.NumAckPending > 0 {
				return true
			}
		}
		return false
	}, func() string { return "the upserter never took a batch" })
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	err := a.Stop(expired)
	if err == nil || !strings.Contains(err.Error(), "SYNC_SHUTDOWN_TIMEOUT") {
		t.Fatalf("Stop with an expired context = %v, want an error saying batches were cut short (naming SYNC_SHUTDOWN_TIMEOUT)", err)
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Fatalf("a second Stop = %v, want nil", err)
	}
	e.srv.SetFaults(sfsim.Faults{})
	e.startUpserter("b")
	e.waitDone(10, 60*time.Second)
	if n := len(e.contacts()); n != 10 {
		t.Fatalf("%d contacts after the hand-over, want 10: cut deltas must be redelivered", n)
	}
}

// A call goes out when it is full or when its oldest delta has waited
// SYNC_MAX_DELAY, whichever is first. At a high arrival rate (measured:
// 2,000 deltas/s, 125 per partition per second) a partition kept gathering
// until its batch held five calls' worth or its oldest delta was due, so a
// full call's worth of deltas waited out the whole budget (p99 6.9 s with a
// 5 s budget). With a budget of ten minutes, a partition holding one full
// call's worth must still send it: one full call, nothing waits for the
// budget.
func TestFullCallDoesNotWaitForTheBudget(t *testing.T) {
	e := newEnv(t, sfsim.Config{})
	e.cfg.MaxDelay, e.cfg.MaxDelayCap, e.cfg.AckWait = 10*time.Minute, 10*time.Minute, 11*time.Minute
	var ds []delta.Delta
	for i := 0; len(ds) < upsert.DefaultBatchSize; i++ {
		id := fmt.Sprintf("P0_%05d", i)
		if bus.Partition(delta.ContactKey(id), 16) == 0 {
			ds = append(ds, contactDelta(id, 1, map[string]any{"LastName": "Full " + id}))
		}
	}
	e.startUpserter("full-call")
	before := e.srv.Stats().Routes["PATCH /composite/sobjects/{type}/{field}"]
	e.publish(ds...)
	s := e.waitDone(int64(len(ds)), time.Minute) // the bug: ten minutes
	if s.Created != int64(len(ds)) {
		t.Fatalf("outcomes %+v, want %d created", s, len(ds))
	}
	if calls := e.srv.Stats().Routes["PATCH /composite/sobjects/{type}/{field}"] - before; calls != 1 {
		t.Fatalf("%d upsert calls for one partition's %d deltas, want one full call", calls, len(ds))
	}
}
