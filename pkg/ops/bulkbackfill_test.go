package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
)

func sfClient(t *testing.T, srv *sfsimtest.Org) *salesforce.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return srv.Client(t, func(c *salesforce.Config) {
		c.RetryBackoff, c.HTTPClient = time.Millisecond, &http.Client{Transport: tr}
	})
}

var testPoll = salesforce.BulkOptions{PollInterval: time.Millisecond, MaxPollInterval: 5 * time.Millisecond, Wait: 30 * time.Second}

// history publishes the scenario: a contact with two versions, one whose
// email another contact holds (held as Email_Conflict under strict), one
// adopting an unlinked contact, one refused by Salesforce (too long), one
// already applied.
func history(t *testing.T, f *fixture, srv *sfsimtest.Org) {
	t.Helper()
	if _, err := srv.Insert("Contact", map[string]any{"LastName": "Other", "Email": "dup@example.com", "External_Contact_ID__c": "OTHER"}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Insert("Contact", map[string]any{"LastName": "Unlinked", "Email": "adopt@example.com"}); err != nil {
		t.Fatal(err)
	}
	f.publishFields(t, "emea", "C1", 1, map[string]any{"LastName": "First", "Title": "Kept"})
	f.publishFields(t, "emea", "C1", 2, map[string]any{"LastName": "Second"})
	f.publishFields(t, "emea", "C2", 1, map[string]any{"LastName": "Dup", "Email": "dup@example.com"})
	f.publishFields(t, "emea", "C3", 1, map[string]any{"LastName": "Adopter", "Email": "adopt@example.com"})
	f.publishFields(t, "emea", "C4", 1, map[string]any{"LastName": "Bad", "FirstName": strings.Repeat("x", 41)})
	f.publishFields(t, "emea", "C5", 7, map[string]any{"LastName": "Done"})
	f.publishFields(t, "apac", "Z1", 1, map[string]any{"LastName": "Elsewhere"})
	kv, err := f.js.KeyValue(f.ctx, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(f.ctx, delta.ContactKey("C5"), []byte(`{"id":"003000000000009AAA","v":7}`)); err != nil {
		t.Fatal(err)
	}
}

func stateOf(t *testing.T, f *fixture, id string) (string, int64) {
	t.Helper()
	kv, _ := f.js.KeyValue(f.ctx, bus.BucketState)
	e, err := kv.Get(f.ctx, delta.ContactKey(id))
	if err != nil {
		return "", 0
	}
	var st struct {
		ID string `json:"id"`
		V  int64  `json:"v"`
	}
	_ = json.Unmarshal(e.Value(), &st)
	return st.ID, st.V
}

func TestBulkBackfillEndToEnd(t *testing.T) {
	f := newFixture(t)
	srv := sfsimtest.Start(t, sfsim.Config{})
	history(t, f, srv)
	c := sfClient(t, srv)
	var lines []BulkBackfillResult
	res, err := f.ops.BulkBackfill(f.ctx, BulkBackfillOptions{Segment: "emea", Ticket: "T1", SF: c,
		Resolver: conflict.NewResolver(c, conflict.Config{}, nil), Bulk: testPoll,
		Progress: func(r BulkBackfillResult) { lines = append(lines, r) }})
	if err != nil {
		t.Fatalf("BulkBackfill: %v", err)
	}
	if res.Deltas != 6 || res.Contacts != 5 || res.AlreadyApplied != 1 || res.Uploaded != 4 || len(res.Jobs) != 1 {
		t.Fatalf("result %+v", res)
	}
	if res.Applied != 2 || res.Held != 1 || res.Conflicts != 1 || res.DeadLettered != 1 || res.Stale != 0 {
		t.Fatalf("outcomes %+v", res)
	}
	if res.APICalls < 7 || res.APICalls > 20 || len(lines) == 0 || lines[len(lines)-1].Phase != "done" {
		t.Fatalf("%d API calls, %d progress lines", res.APICalls, len(lines))
	}
	byExt := map[string]map[string]any{}
	for _, r := range srv.Records("Contact") {
		if e, _ := r["External_Contact_ID__c"].(string); e != "" {
			byExt[e] = r
		}
	}
	if r := byExt["C1"]; r == nil || r["LastName"] != "Second" || r["Title"] != "Kept" || r["Sync_Version__c"] != 2.0 {
		t.Fatalf("C1 folded: %v", r)
	}
	if r := byExt["C3"]; r == nil || r["LastName"] != "Adopter" {
		t.Fatalf("C3 adopted: %v (records %v)", r, srv.Records("Contact"))
	}
	if byExt["C2"] != nil || byExt["C4"] != nil || byExt["Z1"] != nil {
		t.Fatalf("refused or foreign contacts written: %v", byExt)
	}
	if id, v := stateOf(t, f, "C1"); v != 2 || id != byExt["C1"]["Id"] {
		t.Fatalf("C1 state %s v%d", id, v)
	}
	if _, v := stateOf(t, f, "C2"); v != 0 {
		t.Fatalf("held contact has state v%d", v)
	}
	if n := f.msgs(t, bus.StreamConflicts); n != 1 {
		t.Fatalf("%d conflict events", n)
	}
	dl, err := f.stream(t, bus.StreamDLQ).GetLastMsgForSubject(f.ctx, bus.DLQSubject("emea"))
	if err != nil {
		t.Fatal(err)
	}
	if dl.Header.Get(bus.HeaderErrorCode) != "STRING_TOO_LONG" {
		t.Fatalf("dead letter headers %v", dl.Header)
	}
	// The refused value (FirstName) is not quoted back in clear.
	if msg := dl.Header.Get(bus.HeaderErrorMessage); strings.Contains(msg, strings.Repeat("x", 41)) {
		t.Fatalf("dead-letter reason quotes the refused value: %q", msg)
	}
	// The ticket is done: running it again is refused, nothing is re-sent.
	if _, err := f.ops.BulkBackfill(f.ctx, BulkBackfillOptions{Segment: "emea", Ticket: "T1", SF: c,
		Resolver: conflict.NewResolver(c, conflict.Config{}, nil), Bulk: testPoll}); err == nil {
		t.Fatal("a finished ticket ran again")
	}
}

func TestBulkBackfillResumesAfterKill(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	srv := sfsimtest.Start(t, sfsim.Config{BulkRowsPerSecond: 1, Sleep: func(ctx context.Context, d time.Duration) {
		select {
		case <-release:
		case <-ctx.Done():
		}
	}})
	history(t, f, srv)
	c := sfClient(t, srv)
	opts := BulkBackfillOptions{Segment: "emea", Ticket: "K1", SF: c, Resolver: conflict.NewResolver(c, conflict.Config{}, nil), Bulk: testPoll}
	// Killed while the job runs.
	kctx, kill := context.WithCancel(f.ctx)
	o1 := opts
	o1.Progress = func(r BulkBackfillResult) {
		if r.Phase == "waiting" && r.JobState == salesforce.JobInProgress {
			kill()
		}
	}
	if _, err := f.ops.BulkBackfill(kctx, o1); err == nil {
		t.Fatal("killed backfill reported success")
	}
	if n := len(srv.Records("Contact")); n != 2 {
		t.Fatalf("%d contacts before the job ran", n)
	}
	close(release)
	res, err := f.ops.BulkBackfill(f.ctx, opts)
	if err != nil {
		t.Fatalf("resumed: %v", err)
	}
	if !res.Reattached || len(res.Jobs) != 1 || res.Applied != 2 || res.Held != 1 || res.DeadLettered != 1 {
		t.Fatalf("resumed result %+v", res)
	}
	if n := srv.Stats().Routes["POST /jobs/ingest"]; n != 1 {
		t.Fatalf("%d jobs created: the rerun uploaded again", n)
	}
	if _, v := stateOf(t, f, "C1"); v != 2 {
		t.Fatalf("C1 state v%d", v)
	}
}

// TestBulkBackfillReadsStateInBatches: the fold reads contact state with
// batched direct gets (1,000 keys a request), not one request per contact,
// and uses what it read: contacts already applied are skipped, a deleted
// key is written again by compare-and-set on its revision.
func TestBulkBackfillReadsStateInBatches(t *testing.T) {
	f := newFixture(t)
	srv := sfsimtest.Start(t, sfsim.Config{})
	kv, err := f.js.KeyValue(f.ctx, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	const n, applied = 2500, 500
	for i := range n {
		id := fmt.Sprintf("S%04d", i)
		f.publishFields(t, "emea", id, 2, map[string]any{"LastName": "State " + id})
		switch {
		case i < applied:
			if _, err := kv.Put(f.ctx, delta.ContactKey(id), []byte(`{"id":"003000000000001AAA","v":2}`)); err != nil {
				t.Fatal(err)
			}
		case i == applied:
			if _, err := kv.Put(f.ctx, delta.ContactKey(id), []byte(`{"id":"003000000000002AAA","v":1}`)); err != nil {
				t.Fatal(err)
			}
			if err := kv.Delete(f.ctx, delta.ContactKey(id)); err != nil {
				t.Fatal(err)
			}
		}
	}
	nc, err := nats.Connect(f.e.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var batched, single atomic.Int64
	base := "$JS.API.DIRECT.GET.KV_" + bus.BucketState
	s1, err := nc.Subscribe(base, func(*nats.Msg) { batched.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	s2, err := nc.Subscribe(base+".>", func(*nats.Msg) { single.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	c := sfClient(t, srv)
	res, err := f.ops.BulkBackfill(f.ctx, BulkBackfillOptions{Segment: "emea", Ticket: "B1", SF: c,
		Resolver: conflict.NewResolver(c, conflict.Config{}, nil), Bulk: testPoll})
	if err != nil {
		t.Fatalf("BulkBackfill: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	_ = s1.Unsubscribe()
	_ = s2.Unsubscribe()
	if res.Contacts != n || res.AlreadyApplied != applied || res.Applied != n-applied || res.Uploaded != n-applied {
		t.Fatalf("result %+v", res)
	}
	// 3 batched reads for 2,500 keys; the only single-key read is the
	// backfill's own resume record.
	if b, s := batched.Load(), single.Load(); b != 3 || s > 1 {
		t.Fatalf("%d batched and %d single-key state reads for %d contacts", b, s, n)
	}
	if _, v := stateOf(t, f, fmt.Sprintf("S%04d", applied)); v != 2 {
		t.Fatalf("deleted key written back at v%d", v)
	}
	if n := len(srv.Records("Contact")); n != 2500-applied {
		t.Fatalf("%d contacts in the org", n)
	}
}

// TestBulkBackfillResumesBetweenJobs: killed after the second of several
// jobs was uploaded but not closed, the rerun keeps the first job, aborts
// the open one and uploads the rows no job holds in new jobs: every row is
// processed once by Bulk, none is pushed through Collections.
func TestBulkBackfillResumesBetweenJobs(t *testing.T) {
	f := newFixture(t)
	srv := sfsimtest.Start(t, sfsim.Config{})
	history(t, f, srv)
	c := sfClient(t, srv)
	opts := BulkBackfillOptions{Segment: "emea", Ticket: "J1", SF: c, Resolver: conflict.NewResolver(c, conflict.Config{}, nil),
		Bulk: testPoll, MaxUploadBytes: 140}
	kctx, kill := context.WithCancel(f.ctx)
	o1 := opts
	uploads := 0
	o1.Progress = func(r BulkBackfillResult) {
		if r.Phase == "uploaded" {
			if uploads++; uploads == 2 {
				kill()
			}
		}
	}
	first, err := f.ops.BulkBackfill(kctx, o1)
	if err == nil || len(first.Jobs) != 2 {
		t.Fatalf("killed run: %v, jobs %v", err, first.Jobs)
	}
	res, err := f.ops.BulkBackfill(f.ctx, opts)
	if err != nil {
		t.Fatalf("resumed: %v", err)
	}
	if !res.Reattached || res.Retried != 0 || res.Processed != 4 || res.Unmatched != 0 {
		t.Fatalf("resumed result %+v: want every row processed once by Bulk, none retried", res)
	}
	if res.Applied != 2 || res.Held != 1 || res.DeadLettered != 1 {
		t.Fatalf("outcomes %+v", res)
	}
	if st := srv.Stats().Routes; st["POST /jobs/ingest"] != int64(len(res.Jobs)) || len(res.Jobs) < 3 {
		t.Fatalf("jobs %v, routes %v", res.Jobs, st)
	}
}

// TestBulkBackfillKeepsNewerState: a live upserter saving a newer version
// while the job runs wins; the backfill's pipelined save fails its
// compare-and-set and leaves the newer state.
func TestBulkBackfillKeepsNewerState(t *testing.T) {
	f := newFixture(t)
	srv := sfsimtest.Start(t, sfsim.Config{})
	history(t, f, srv)
	kv, err := f.js.KeyValue(f.ctx, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	c := sfClient(t, srv)
	res, err := f.ops.BulkBackfill(f.ctx, BulkBackfillOptions{Segment: "emea", Ticket: "N1", SF: c,
		Resolver: conflict.NewResolver(c, conflict.Config{}, nil), Bulk: testPoll,
		Progress: func(r BulkBackfillResult) {
			if r.Phase == "settling" {
				if _, err := kv.Put(f.ctx, delta.ContactKey("C1"), []byte(`{"id":"003000000000077AAA","v":9}`)); err != nil {
					t.Error(err)
				}
			}
		}})
	if err != nil || res.Applied != 2 {
		t.Fatalf("%+v, %v", res, err)
	}
	if id, v := stateOf(t, f, "C1"); v != 9 || id != "003000000000077AAA" {
		t.Fatalf("C1 state %s v%d: the backfill overwrote a newer save", id, v)
	}
	if _, v := stateOf(t, f, "C3"); v != 1 {
		t.Fatalf("C3 state v%d", v)
	}
}
