package upsert_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/upsert"
)

// shuffledVersions returns n contacts × 3 versions, each version carrying
// Title "v<version>", in an order where a contact's versions may arrive
// v1, v3, v2.
func shuffledVersions(n int, seed uint64) []delta.Delta {
	var ds []delta.Delta
	for i := range n {
		for v := int64(1); v <= 3; v++ {
			ds = append(ds, contactDelta(fmt.Sprintf("H%05d", i), v, map[string]any{"LastName": "H", "Title": fmt.Sprintf("v%d", v)}))
		}
	}
	r := rand.New(rand.NewPCG(seed, 1))
	r.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	return ds
}

func (e *env) checkNewest(n int, log *writeLog) {
	e.t.Helper()
	cs := e.contacts()
	stale := 0
	for i := range n {
		if c := cs[fmt.Sprintf("H%05d", i)]; c == nil || c["Title"] != "v3" {
			stale++
		}
	}
	if stale > 0 {
		e.t.Errorf("%d of %d contacts not at their newest version", stale, n)
	}
	if r := log.regressions(); len(r) > 0 {
		e.t.Errorf("%d older-after-newer writes, e.g. %v", len(r), r[:min(5, len(r))])
	}
}

// Members joining and leaving while batches are in flight (the start-up
// flap, a scale-up, a graceful stop) never let two members write one
// partition: no contact ever receives an older version after a newer one.
func TestHandOverNeverWritesAnOlderVersion(t *testing.T) {
	e, log := recordedEnv(t, sfsim.Config{Faults: sfsim.Faults{LatencyMS: 20, JitterMS: 40}})
	const n = 1500
	ds := shuffledVersions(n, 7)
	var members []*upsert.Upserter
	for i := range 4 { // all at once: every member sees the others join one by one
		u, _ := e.startUpserter(fmt.Sprintf("m%d", i))
		members = append(members, u)
	}
	e.publish(ds[:len(ds)/3]...)
	_ = members[1].Stop(context.Background()) // leaves with a batch in flight
	e.startUpserter("m4")
	e.publish(ds[len(ds)/3 : 2*len(ds)/3]...)
	_ = members[2].Stop(context.Background())
	e.startUpserter("m5")
	e.publish(ds[2*len(ds)/3:]...)
	s := e.waitDone(int64(len(ds)), 3*time.Minute)
	if s.DeadLettered != 0 || s.Held != 0 {
		t.Fatalf("unexpected outcomes: %+v", s)
	}
	e.checkNewest(n, log)
}

// A batch slower than the lease TTL keeps its lease by renewing it, so no
// one else takes the partition while it writes.
func TestBatchSlowerThanLeaseTTLKeepsThePartition(t *testing.T) {
	e, log := recordedEnv(t, sfsim.Config{Faults: sfsim.Faults{LatencyMS: 1500}})
	e.cfg.LeaseTTL = time.Second
	e.cfg.AckWait = 10 * time.Second
	const n = 200
	ds := shuffledVersions(n, 3)
	e.startUpserter("a")
	e.startUpserter("b")
	e.publish(ds...)
	s := e.waitDone(int64(len(ds)), 3*time.Minute)
	if s.DeadLettered != 0 {
		t.Fatalf("unexpected outcomes: %+v", s)
	}
	e.checkNewest(n, log)
}

// Even with the fleet's own state wiped (a second deployment, a restore, an
// operator's replay), Salesforce refuses an older version by the
// Sync_Version__c validation rule, and the upserter counts it stale rather
// than dead-lettering it.
func TestOlderVersionRefusedBySalesforceWhenStateIsGone(t *testing.T) {
	e, log := recordedEnv(t, sfsim.Config{})
	a, _ := e.startUpserter("a")
	e.publish(contactDelta("R-1", 4, map[string]any{"LastName": "R", "Title": "v4"}))
	e.waitDone(1, 30*time.Second)
	_ = a.Stop(context.Background()) // a new deployment: no cache either
	e.startUpserter("b")
	ctx := context.Background()
	kv, err := e.js.KeyValue(ctx, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(ctx, delta.ContactKey("R-1")); err != nil {
		t.Fatal(err)
	}
	e.publish(contactDelta("R-1", 3, map[string]any{"LastName": "R", "Title": "v3"}))
	s := e.waitDone(2, 30*time.Second)
	if s.StaleSkipped != 1 || s.DeadLettered != 0 {
		t.Fatalf("replayed older delta: %+v, want stale_skipped 1 and no dead letter", s)
	}
	if got := e.contacts()["R-1"]["Title"]; got != "v4" {
		t.Fatalf("Title = %v after an older replay, want v4", got)
	}
	if log.refused("FIELD_CUSTOM_VALIDATION_EXCEPTION") != 1 {
		t.Fatalf("the emulator did not refuse the older version: %+v", log.writes)
	}
}

// A member that dies between its Salesforce write and its ack leaves its
// delta unacked; the next owner sees later deltas first and, with its state
// not yet saved, would write an older version over the newer one. The
// version guard in Salesforce refuses that write.
func TestCrashBetweenWriteAndAckCannotRollBack(t *testing.T) {
	e, log := recordedEnv(t, sfsim.Config{})
	e.cfg.LeaseTTL = time.Second
	_, ncA := e.startUpserter("a")
	var crashed atomic.Bool
	log.onWrite = func(w loggedWrite) {
		if w.Key == "k-1" && w.Version == 4 && w.OK && crashed.CompareAndSwap(false, true) {
			ncA.Close() // a is gone for JetStream: no state save, no ack, no renewal
		}
	}
	e.publish(contactDelta("K-1", 4, map[string]any{"LastName": "K", "Title": "v4"}))
	eventually(t, 30*time.Second, crashed.Load, func() string { return "v4 never written" })
	e.publish(contactDelta("K-1", 3, map[string]any{"LastName": "K", "Title": "v3"}))
	e.startUpserter("b")
	eventually(t, time.Minute, func() bool {
		s := e.stats.Snapshot()
		return s.StaleSkipped >= 1 && s.Done() >= 2
	}, func() string { return fmt.Sprintf("outcomes %+v", e.stats.Snapshot()) })
	if r := log.regressions(); len(r) > 0 {
		t.Fatalf("older version written after the crash: %v", r)
	}
	if got := e.contacts()["K-1"]["Title"]; got != "v4" {
		t.Fatalf("Title = %v, want v4", got)
	}
}

// Salesforce matches external IDs case-insensitively: MC_1 and mc_1 are one
// contact, owned by one partition, with one state.
func TestMixedCaseExternalIDsAreOneContact(t *testing.T) {
	e := newEnv(t, sfsim.Config{})
	e.startUpserter("a")
	e.startUpserter("b")
	e.publish(contactDelta("MC_1", 1, map[string]any{"LastName": "Case", "Title": "v1"}))
	e.waitDone(1, 30*time.Second)
	e.publish(contactDelta("mc_1", 2, map[string]any{"Title": "v2"}), contactDelta("Mc_1", 1, map[string]any{"Title": "old"}))
	s := e.waitDone(3, 30*time.Second)
	if s.Created != 1 || s.Updated != 1 || s.StaleSkipped != 1 {
		t.Fatalf("outcomes %+v, want created 1, updated 1, stale 1", s)
	}
	var found []map[string]any
	for _, c := range e.srv.Records("Contact") {
		found = append(found, c)
	}
	if len(found) != 1 || found[0]["Title"] != "v2" || found[0]["LastName"] != "Case" {
		t.Fatalf("contacts = %v, want one at v2", found)
	}
}

// The lost-exception defect: when a conflict event cannot be published the
// delta is redelivered, and its state must not have been saved, or the
// redelivery is counted stale and the steward never sees the exception.
func TestConflictEventPublishFailureLosesNoException(t *testing.T) {
	e := newEnv(t, sfsim.Config{})
	e.pol = conflict.Config{DefaultPolicy: conflict.Email}
	if _, err := e.srv.Insert("Contact", map[string]any{"LastName": "Old", "Email": "rekey@example.com", "External_Contact_ID__c": "OLD-1"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// CONFLICTS stops taking events: the publish finds no stream.
	s, err := e.js.Stream(ctx, bus.StreamConflicts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	away := cfg
	away.Subjects = []string{"nowhere.conflict.*"}
	if _, err := e.js.UpdateStream(ctx, away); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	e.logger = zap.New(core)
	e.startUpserter("a")
	e.publish(contactDelta("NEW-1", 1, map[string]any{"LastName": "New", "Email": "rekey@example.com"}))
	eventually(t, time.Minute, func() bool {
		return logs.FilterMessage("publish conflict event failed; retrying").Len() > 0
	}, func() string { return "the conflict event publish never failed" })
	if _, err := e.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	got := e.waitDone(1, time.Minute)
	if got.Rekeyed != 1 || got.StaleSkipped != 0 || got.ConflictEvents != 1 {
		t.Fatalf("outcomes %+v, want rekeyed 1 with its event, not stale", got)
	}
	oc, err := e.js.OrderedConsumer(ctx, bus.StreamConflicts, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := conflict.DecodeEvent(m.Data())
	if err != nil || ev.Kind != conflict.KindRekeyed || ev.IncomingExternalID != "NEW-1" {
		t.Fatalf("event = %+v, %v", ev, err)
	}
}

// Each member's heartbeat carries its report for syncctl status: its
// partitions, its freshness budget and its batch fill.
func TestHeartbeatCarriesTheMemberReport(t *testing.T) {
	e := newEnv(t, sfsim.Config{})
	e.startUpserter("a")
	ctx := context.Background()
	kv, err := e.js.KeyValue(ctx, bus.BucketMembers)
	if err != nil {
		t.Fatal(err)
	}
	var r upsert.MemberReport
	eventually(t, 30*time.Second, func() bool {
		en, err := kv.Get(ctx, "a")
		return err == nil && json.Unmarshal(en.Value(), &r) == nil && len(r.Partitions) == 16
	}, func() string { return fmt.Sprintf("no report with 16 partitions: %+v", r) })
	if r.FreshnessBudgetMS != e.cfg.MaxDelay.Milliseconds() || r.Stretched {
		t.Fatalf("report %+v, want the configured budget %v", r, e.cfg.MaxDelay)
	}

	// and its batch fill: the upsert calls it made, why, and their records.
	for i := range 30 {
		e.publish(contactDelta(fmt.Sprintf("FILL-%d", i), 1, map[string]any{"LastName": "F", "Email": fmt.Sprintf("f%d@example.com", i)}))
	}
	e.waitDone(30, 30*time.Second)
	calls := e.srv.Stats().Routes["PATCH /composite/sobjects/{type}/{field}"]
	eventually(t, 30*time.Second, func() bool {
		en, err := kv.Get(ctx, "a")
		return err == nil && json.Unmarshal(en.Value(), &r) == nil && r.Calls.Records == 30
	}, func() string { return fmt.Sprintf("no report of 30 records written: %+v", r.Calls) })
	var byReason int64
	for _, n := range r.Calls.ByReason {
		byReason += n
	}
	if r.Calls.Calls != calls || byReason != calls || r.BatchSize != 200 || r.Calls.Fill(r.BatchSize) != 30/float64(calls)/200 {
		t.Fatalf("report %+v (batch size %d), want %d calls as the emulator counted, by reason", r.Calls, r.BatchSize, calls)
	}
	if s := e.stats.Snapshot().Calls; s.Calls != calls || s.Records != 30 {
		t.Fatalf("stats %+v, want %d calls, 30 records", s, calls)
	}
}
