package reconcile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/bus/bustest"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/reconcile"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
	"github.com/contactsync/contactsync/pkg/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const object = "Contact_Sync_Exception__c"

// waitTimeout only bounds a test that would otherwise hang; no assertion
// depends on it.
const waitTimeout = 60 * time.Second

type harness struct {
	js   jetstream.JetStream
	srv  *sfsimtest.Org
	sf   *countingSF
	reps chan worker.Tally
	ids  []string // seeded contacts the events point at
}

// countingSF is the real client, with a signal per call.
type countingSF struct {
	*salesforce.Client
	calls chan struct{}
}

func (c *countingSF) UpsertCollection(ctx context.Context, sobject, ext string, recs []salesforce.Record, o salesforce.WriteOptions) ([]salesforce.SaveResult, error) {
	defer func() {
		select {
		case c.calls <- struct{}{}:
		default:
		}
	}()
	return c.Client.UpsertCollection(ctx, sobject, ext, recs, o)
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	_, js := bustest.Start(t, bus.Topology{Storage: jetstream.MemoryStorage})
	return newHarnessOn(t, js)
}

// newHarnessOn is a harness whose reconcilers use js.
func newHarnessOn(t *testing.T, js jetstream.JetStream) *harness {
	t.Helper()
	srv := sfsimtest.Start(t, sfsim.Config{})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	sf := srv.Client(t, func(c *salesforce.Config) { c.MaxRetryElapsed, c.HTTPClient = -1, &http.Client{Transport: tr} })
	h := &harness{js: js, srv: srv, sf: &countingSF{Client: sf, calls: make(chan struct{}, 64)},
		reps: make(chan worker.Tally, 1024)}
	for i := range 6 {
		id, err := srv.Insert("Contact", map[string]any{"LastName": fmt.Sprintf("Existing %d", i),
			"Email": fmt.Sprintf("existing%d@example.com", i)})
		if err != nil {
			t.Fatal(err)
		}
		h.ids = append(h.ids, id)
	}
	return h
}

func (h *harness) start(t *testing.T, cfg reconcile.Config) *reconcile.Reconciler {
	t.Helper()
	cfg.OnBatch = func(r worker.Tally) { h.reps <- r }
	if cfg.RetryInitial == 0 {
		cfg.RetryInitial = 5 * time.Millisecond
	}
	r, err := reconcile.New(h.js, h.sf, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if err := r.Stop(ctx); err != nil {
				t.Errorf("Stop: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return r
}

// settle waits until n events have been settled by batches.
func (h *harness) settle(t *testing.T, n int) worker.Tally {
	t.Helper()
	var sum worker.Tally
	timeout := time.After(waitTimeout)
	for sum.Total() < n {
		select {
		case r := <-h.reps:
			sum.Merge(r)
		case <-timeout:
			t.Fatalf("only %d of %d events settled", sum.Total(), n)
		}
	}
	return sum
}

func (h *harness) publish(t *testing.T, evs ...conflict.Event) {
	t.Helper()
	for _, ev := range evs {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.js.Publish(context.Background(), bus.ConflictSubject(ev.Segment), b); err != nil {
			t.Fatal(err)
		}
	}
}

func (h *harness) exceptions() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, r := range h.srv.Records(object) {
		k, _ := r["Exception_Key__c"].(string)
		if _, dup := out[k]; dup {
			panic("two exception records with key " + k)
		}
		out[k] = r
	}
	return out
}

func events(seen time.Time, ids []string) []conflict.Event {
	d := json.RawMessage(`{"schema":"contact.delta/v1","external_id":"MC_1","segment":"emea","version":7,"fields":{"LastName":"Doe","Email":"jane@example.com"}}`)
	return []conflict.Event{
		{Kind: conflict.KindEmailConflict, Policy: conflict.Strict, Segment: "emea", IncomingExternalID: "MC_1",
			Email: "jane@example.com", ExistingIDs: []string{ids[0]}, ExistingExternalIDs: []string{"MC_OLD"},
			Delta: d, SourceVersion: 7, SeenAt: seen},
		{Kind: conflict.KindAmbiguousEmail, Policy: conflict.Strict, Segment: "emea", IncomingExternalID: "MC_2",
			Email: "bob@example.com", ExistingIDs: []string{ids[1], ids[2]},
			ExistingExternalIDs: []string{"", "MC_9"}, SourceVersion: 3, SeenAt: seen},
		{Kind: conflict.KindDuplicateCreated, Policy: conflict.ExternalID, Segment: "apac", IncomingExternalID: "MC_3",
			Email: "o'brien@example.com", ExistingIDs: []string{ids[3]}, ExistingExternalIDs: []string{"MC_8"},
			SourceVersion: 4, SeenAt: seen},
		{Kind: conflict.KindMultipleExternalIDMatches, Policy: conflict.Email, Segment: "apac", IncomingExternalID: "MC_4",
			ExistingIDs: []string{ids[4], ids[5]}, SourceVersion: 5, SeenAt: seen},
	}
}

// TestWriteOnceAndReplay: events become one record each; the same conflicts
// seen again (a replay or a second run) refresh Last_Seen__c and create
// nothing; a fresh consumer re-reading the whole stream creates nothing; a
// steward's status survives.
func TestWriteOnceAndReplay(t *testing.T) {
	h := newHarness(t)
	r := h.start(t, reconcile.Config{})
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	evs := events(t0, h.ids)
	dup := evs[0] // the same conflict twice in one batch
	dup.SourceVersion = 8
	h.publish(t, append(evs, dup)...)
	rep := h.settle(t, 5)
	// Four records; the duplicate rides in its key's record.
	if rep.Of(worker.DeadLettered) != 0 || rep.Of(worker.Retried) != 0 || rep.Wrote() != 4 || rep.Of(worker.StaleSkipped) != 1 {
		t.Fatalf("report %+v", rep)
	}
	ex := h.exceptions()
	if len(ex) != 4 {
		t.Fatalf("%d exception records, want 4", len(ex))
	}
	first := ex[evs[0].Key()]
	if first == nil {
		t.Fatal("no record for the first event")
	}
	for f, want := range map[string]any{"Kind__c": "Email_Conflict", "Policy__c": "strict", "Segment__c": "emea",
		"Incoming_External_Id__c": "MC_1", "Existing_Contact__c": h.ids[0], "Existing_External_Id__c": "MC_OLD",
		"Email__c": "jane@example.com", "Status__c": "New"} {
		if first[f] != want {
			t.Errorf("%s = %v, want %v", f, first[f], want)
		}
	}
	if v, _ := first["Source_Version__c"].(float64); v != 8 {
		if vi, ok := first["Source_Version__c"].(int64); !ok || vi != 8 {
			t.Errorf("Source_Version__c = %v (%T), want the newest, 8", first["Source_Version__c"], first["Source_Version__c"])
		}
	}
	if p, _ := first["Payload__c"].(string); !strings.Contains(p, `"external_id":"MC_1"`) {
		t.Errorf("Payload__c = %q", p)
	}
	if got := ex[evs[1].Key()]["Existing_External_Id__c"]; got != "MC_9" {
		t.Errorf("Existing_External_Id__c = %v", got)
	}

	// A steward resolves one; then the same conflicts are seen again later.
	stewardID := ex[evs[1].Key()]["Id"].(string)
	if err := h.sf.Update(context.Background(), object, stewardID, salesforce.Record{"Status__c": "Resolved"}, salesforce.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(time.Hour)
	h.publish(t, events(t1, h.ids)...)
	h.settle(t, 4)
	ex2 := h.exceptions()
	if len(ex2) != 4 {
		t.Fatalf("after replay: %d exception records, want 4", len(ex2))
	}
	for k, rec := range ex2 {
		if rec["Id"] != ex[k]["Id"] {
			t.Errorf("record of %s replaced", k)
		}
		if ls, _ := rec["Last_Seen__c"].(string); !strings.HasPrefix(ls, "2026-11-26T11:00:00") {
			t.Errorf("Last_Seen__c = %v, want refreshed to %s", rec["Last_Seen__c"], t1)
		}
	}
	if st := ex2[evs[1].Key()]["Status__c"]; st != "Resolved" {
		t.Errorf("steward's status overwritten: %v", st)
	}
	if s := r.Stats(); s.Written != 8 || s.Created != 4 || s.Events != 9 {
		t.Errorf("stats %+v", s)
	}

	// A forced redelivery of everything: a new consumer reads the stream
	// from the start.
	h.start(t, reconcile.Config{Durable: "reconciler-rerun"})
	h.settle(t, 9)
	if n := len(h.exceptions()); n != 4 {
		t.Fatalf("after re-reading the stream: %d exception records, want 4", n)
	}
}

// TestDeadLetters: an event Salesforce refuses (email too long) and an event
// that is not one go to the DLQ with their reason; the good event of the same
// batch is written.
func TestDeadLetters(t *testing.T) {
	h := newHarness(t)
	r := h.start(t, reconcile.Config{})
	seen := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	good := events(seen, h.ids)[0]
	bad := good
	bad.IncomingExternalID = "MC_LONG"
	bad.Email = strings.Repeat("a", 120) + "@example.com"
	h.publish(t, good, bad)
	if _, err := h.js.Publish(context.Background(), bus.ConflictSubject("emea"), []byte(`{"kind":`)); err != nil {
		t.Fatal(err)
	}
	rep := h.settle(t, 3)
	if rep.Wrote() != 1 || rep.Of(worker.DeadLettered) != 2 {
		t.Fatalf("report %+v", rep)
	}
	if ex := h.exceptions(); len(ex) != 1 || ex[good.Key()] == nil {
		t.Fatalf("exception records %v", ex)
	}
	dlq, err := h.js.Stream(context.Background(), bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	for seq := uint64(1); seq <= 2; seq++ {
		m, err := dlq.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatalf("DLQ message %d: %v", seq, err)
		}
		if m.Subject != bus.DLQSubject("emea") {
			t.Errorf("DLQ subject %s", m.Subject)
		}
		codes[m.Header.Get(bus.HeaderErrorCode)] = m.Header.Get(bus.HeaderErrorMessage)
		if m.Header.Get(bus.HeaderOrigSubject) != bus.ConflictSubject("emea") {
			t.Errorf("original subject %q", m.Header.Get(bus.HeaderOrigSubject))
		}
		// The dead letter names the stream it came from (it said CONTACTS
		// before the worker runtime was shared), and its reason never
		// quotes the refused email.
		if got := m.Header.Get(bus.HeaderOrigStream); got != bus.StreamConflicts {
			t.Errorf("%s = %q, want %s", bus.HeaderOrigStream, got, bus.StreamConflicts)
		}
		if msg := m.Header.Get(bus.HeaderErrorMessage); strings.Contains(msg, "@example.com") {
			t.Errorf("dead-letter reason quotes the email in clear: %q", msg)
		}
	}
	if _, ok := codes[reconcile.CodeBadEvent]; !ok {
		t.Errorf("no %s dead letter: %v", reconcile.CodeBadEvent, codes)
	}
	sfCode := ""
	for c, msg := range codes {
		if c != reconcile.CodeBadEvent {
			sfCode = c
			if msg == "" {
				t.Errorf("dead letter %s without a message", c)
			}
		}
	}
	if sfCode != "STRING_TOO_LONG" && sfCode != "INVALID_EMAIL_ADDRESS" {
		t.Errorf("Salesforce dead letter code %q (%v)", sfCode, codes)
	}
	if s := r.Stats(); s.DeadLettered != 2 || s.Written != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestTransientRetry: while Salesforce is unavailable the batch is retried
// in place; once it is back, the events are written and acked.
func TestTransientRetry(t *testing.T) {
	h := newHarness(t)
	h.srv.SetFaults(sfsim.Faults{ErrorRate: 1, Errors: []string{"SERVER_UNAVAILABLE"}})
	r := h.start(t, reconcile.Config{})
	h.publish(t, events(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), h.ids)...)
	for range 2 { // two failed attempts
		select {
		case <-h.sf.calls:
		case <-time.After(waitTimeout):
			t.Fatal("no write attempt")
		}
	}
	h.srv.SetFaults(sfsim.Faults{})
	rep := h.settle(t, 4)
	if rep.Wrote() != 4 || rep.Of(worker.DeadLettered) != 0 {
		t.Fatalf("report %+v", rep)
	}
	if s := r.Stats(); s.Retried < 1 {
		t.Errorf("stats %+v: no retry counted", s)
	}
	if n := len(h.exceptions()); n != 4 {
		t.Fatalf("%d exception records", n)
	}
}
