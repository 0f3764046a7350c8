package ops

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/fleet"
	"github.com/contactsync/contactsync/pkg/upsert"
)

// seedPipeline publishes deltas, dead letters and conflict events, creates
// the partition and reconciler consumers as the workers do, and registers
// two fleet members.
func seedPipeline(t *testing.T, f *fixture) {
	t.Helper()
	for i, id := range []string{"E1", "E2", "E3", "E4"} {
		f.publishDelta(t, "emea", id, int64(i+1))
	}
	f.publishDelta(t, "apac", "A1", 1)
	f.deadLetter(t, "emea", "E9", 1, "INVALID_EMAIL_ADDRESS", "bad") // also a delta: emea 5
	f.deadLetter(t, "apac", "A9", 1, "INVALID_EMAIL_ADDRESS", "bad") // apac 2
	f.deadLetter(t, "apac", "A8", 1, "STRING_TOO_LONG", "long")      // apac 3

	contacts := f.stream(t, bus.StreamContacts)
	for p := range 16 {
		if _, err := contacts.CreateOrUpdateConsumer(f.ctx, jetstream.ConsumerConfig{Durable: upsert.ConsumerName(p),
			FilterSubject: bus.DeltaFilter(p), AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	// One partition's owner holds its lease and has fetched a message it
	// has not acked yet.
	stateKV, err := f.js.KeyValue(f.ctx, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	lease, err := fleet.Acquire(f.ctx, stateKV, fleet.LeaseKey(pinnedPartition(t, f)), "member-1", time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lease.Release)
	cons, err := contacts.Consumer(f.ctx, upsert.ConsumerName(pinnedPartition(t, f)))
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range batch.Messages() {
		n++
	}
	if n != 1 {
		t.Fatalf("fetched %d (%v)", n, batch.Error())
	}

	for _, ev := range []conflict.Event{
		{Kind: conflict.KindEmailConflict, Segment: "emea", IncomingExternalID: "E1"},
		{Kind: conflict.KindEmailConflict, Segment: "emea", IncomingExternalID: "E2"},
		{Kind: conflict.KindRekeyed, Segment: "apac", IncomingExternalID: "A1"},
	} {
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.js.Publish(f.ctx, bus.ConflictSubject(ev.Segment), data); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.js.Publish(f.ctx, bus.ConflictSubject("emea"), []byte(`{"kind":"Nope"}`)); err != nil {
		t.Fatal(err)
	}
	conflicts := f.stream(t, bus.StreamConflicts)
	if _, err := conflicts.CreateOrUpdateConsumer(f.ctx, jetstream.ConsumerConfig{Durable: ReconcilerConsumer,
		AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	kv, err := f.js.KeyValue(f.ctx, bus.BucketMembers)
	if err != nil {
		t.Fatal(err)
	}
	// upserter-b heartbeats a bare timestamp (an older upserter); upserter-a
	// reports its freshness budget and the org's API forecast.
	if _, err := kv.PutString(f.ctx, "upserter-b", time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(f.ctx, "upserter-a", `{"at":"2026-12-02T05:00:00Z","partitions":[0,2],"freshness_budget_ms":9000,"stretched":true,`+
		`"api_used":40000,"api_max":100000,"projected_daily_share":1.8,"api_exhausted_in_s":12000,`+
		`"calls":{"by_reason":{"full":98,"drained":2},"calls":100,"records":19700},"batch_size":200}`); err != nil {
		t.Fatal(err)
	}
}

// pinnedPartition is the partition of E1's deltas.
func pinnedPartition(t *testing.T, f *fixture) int {
	t.Helper()
	var p int
	for i := range 16 {
		if strings.HasPrefix(storedSubject("emea", "E1"), "contacts.delta.emea."+strconv.Itoa(i)+".") {
			p = i
		}
	}
	return p
}

func TestStatusMatchesWhatWasPublished(t *testing.T) {
	f := newFixture(t)
	seedPipeline(t, f)
	st, err := f.ops.Status(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	msgs := map[string]uint64{}
	for _, s := range st.Streams {
		msgs[s.Name] = s.Messages
		if s.Missing || s.Bytes == 0 || s.FirstTime.IsZero() || s.LastTime.Before(s.FirstTime) {
			t.Errorf("stream %+v", s)
		}
	}
	if want := map[string]uint64{"CONTACTS": 8, "CONFLICTS": 4, "DLQ": 3}; !maps.Equal(msgs, want) {
		t.Fatalf("stream messages = %v, want %v", msgs, want)
	}
	if len(st.Partitions) != 16 || st.PartitionLag != 8 {
		t.Fatalf("partitions %d, lag %d; want 16, 8", len(st.Partitions), st.PartitionLag)
	}
	pinned := st.Partitions[pinnedPartition(t, f)]
	if pinned.AckPending != 1 || pinned.Owner != "member-1" || pinned.OwnerRenewed.IsZero() || pinned.Lag != pinned.Pending+1 {
		t.Fatalf("owned partition = %+v", pinned)
	}
	for _, p := range st.Partitions {
		if p.Name != pinned.Name && (p.Owner != "" || p.AckPending != 0) {
			t.Errorf("partition %+v: not fetched, yet owned or ack pending", p)
		}
	}
	if st.Reconciler == nil || st.Reconciler.Lag != 4 || st.Reconciler.Missing {
		t.Fatalf("reconciler = %+v", st.Reconciler)
	}
	if want := map[string]uint64{"emea": 1, "apac": 2}; !maps.Equal(st.DLQBySegment, want) {
		t.Errorf("DLQ by segment = %v, want %v", st.DLQBySegment, want)
	}
	if want := map[string]uint64{"INVALID_EMAIL_ADDRESS": 2, "STRING_TOO_LONG": 1}; !maps.Equal(st.DLQByCode, want) {
		t.Errorf("DLQ by code = %v, want %v", st.DLQByCode, want)
	}
	if !slices.Equal(st.Members, []string{"upserter-a", "upserter-b"}) {
		t.Errorf("members = %v", st.Members)
	}
	if r, ok := st.MemberReports["upserter-a"]; !ok || r.FreshnessBudgetMS != 9000 || !r.Stretched || len(st.MemberReports) != 1 {
		t.Errorf("member reports = %+v", st.MemberReports)
	}
	if len(st.Other) != 0 {
		t.Errorf("other consumers = %+v (scan consumers must not show or linger)", st.Other)
	}
	var out strings.Builder
	if err := WriteStatus(&out, st); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CONTACTS", "upsert-p00", "CONFLICTS/reconciler", "INVALID_EMAIL_ADDRESS", "upserter-a", "Partitions (lag 8)",
		"freshness budget 9s (stretched: API pressure)", "projected 180% of the allocation per day", "runs out in 3h20m0s",
		"batch fill 98% (100 upsert calls, 197.0 records each; full 98, drained 2)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestStatusOnEmptyPipeline(t *testing.T) {
	f := newFixture(t)
	st, err := f.ops.Status(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.PartitionLag != 0 || len(st.Partitions) != 16 || !st.Partitions[0].Missing || st.Reconciler == nil || !st.Reconciler.Missing ||
		len(st.DLQByCode) != 0 || len(st.Members) != 0 {
		t.Fatalf("empty status = %+v", st)
	}
}

func TestReportCountsPipeline(t *testing.T) {
	f := newFixture(t)
	seedPipeline(t, f)
	rep, err := f.ops.Report(f.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]uint64{"emea": 5, "apac": 3}; !maps.Equal(rep.DeltasBySegment, want) {
		t.Errorf("deltas by segment = %v, want %v", rep.DeltasBySegment, want)
	}
	if want := map[string]uint64{"INVALID_EMAIL_ADDRESS": 2, "STRING_TOO_LONG": 1}; !maps.Equal(rep.DLQByCode, want) {
		t.Errorf("DLQ by code = %v", rep.DLQByCode)
	}
	if want := map[string]uint64{"Email_Conflict": 2, "Rekeyed": 1}; !maps.Equal(rep.ConflictsByKind, want) || rep.ConflictsUndecodable != 1 {
		t.Errorf("conflicts by kind = %v, undecodable %d", rep.ConflictsByKind, rep.ConflictsUndecodable)
	}
	if rep.Salesforce != nil {
		t.Errorf("salesforce part without a client: %+v", rep.Salesforce)
	}
	var out strings.Builder
	if err := WriteReport(&out, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Email_Conflict", "not queried"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
