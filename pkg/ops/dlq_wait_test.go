package ops

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/bus/bustest"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/reconcile"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
	"github.com/contactsync/contactsync/pkg/upsert"
)

// startUpserter runs one real fleet member against the fixture's JetStream
// and the emulator.
func startUpserter(t *testing.T, f *fixture) *sfsimtest.Org {
	t.Helper()
	srv := sfsimtest.Start(t, sfsim.Config{})
	sf := srv.Client(t)
	nc, _ := bustest.Connect(t, f.e)
	u, err := upsert.New(upsert.Config{Member: "replay-test", Heartbeat: 200 * time.Millisecond, LeaseTTL: 2 * time.Second,
		AckWait: 5 * time.Second, MaxDelay: 100 * time.Millisecond, ShutdownTimeout: 2 * time.Second},
		upsert.Deps{NATS: nc, Salesforce: sf, Resolver: conflict.NewResolver(sf, conflict.Config{}, zap.NewNop()),
			Gate: upsert.NewGate(sf, 0.9, time.Minute, zap.NewNop())})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = u.Stop(ctx)
	})
	return srv
}

// deadLetterOnly stores a dead letter of a delta CONTACTS never held (so no
// upserter has applied it), as if it had failed for code.
func (f *fixture) deadLetterOnly(t *testing.T, d delta.Delta, code, msg string) {
	t.Helper()
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	h := nats.Header{}
	h.Set(delta.HeaderExternalID, d.ExternalID)
	if err := bus.PublishDeadLetter(f.ctx, f.js, bus.DeadLetter{Subject: d.Subject(), Data: data, Header: h,
		ErrorCode: code, Message: msg, Deliveries: 1}); err != nil {
		t.Fatal(err)
	}
}

// Issue 10: a replay says which replayed deltas failed again (waiting for
// the fleet's verdict), and refuses to replay under the same ticket what
// failed again for the same cause, but not what failed for a new one.
func TestReplayWaitsForOutcomes(t *testing.T) {
	f := newFixture(t)
	startUpserter(t, f)
	// One whose cause is gone (a lock timeout), one that fails again for
	// good (an email Salesforce refuses).
	f.deadLetterOnly(t, delta.Delta{Schema: delta.SchemaV1, ExternalID: "MC_OK", Segment: "emea", Version: 3,
		Fields: map[string]any{"LastName": "Fine"}}, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
	f.deadLetterOnly(t, delta.Delta{Schema: delta.SchemaV1, ExternalID: "MC_BAD", Segment: "emea", Version: 4,
		Fields: map[string]any{"LastName": "Bad", "Email": "bad@@example"}}, "INVALID_EMAIL_ADDRESS", "Email: invalid email address: b***@@example")

	out, _, err := runCLIWith(t, f, "dlq", "replay", "--ticket", "INC-9", "--outcome-wait", "1m", "--json")
	var res ReplayResult
	if jerr := json.Unmarshal([]byte(out), &res); jerr != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", jerr, out)
	}
	if cli.ExitCode(err) != 1 || !strings.Contains(err.Error(), "1 replayed deltas failed again") {
		t.Errorf("exit %d (%v): want 1, naming the failure", cli.ExitCode(err), err)
	}
	after := map[string]ReplayItem{}
	for _, it := range res.Items {
		after[it.ExternalID] = it
	}
	if it := after["MC_OK"]; it.After != "applied" {
		t.Errorf("MC_OK after the replay: %+v, want applied", it)
	}
	bad := after["MC_BAD"]
	if bad.After != "failed_again" || bad.NewCode != "INVALID_EMAIL_ADDRESS" || bad.NewSeq == 0 {
		t.Fatalf("MC_BAD after the replay: %+v, want failed_again with its new dead letter", bad)
	}
	if res.Applied != 1 || res.FailedAfter != 1 || res.NoOutcome != 0 {
		t.Errorf("counts %+v", res)
	}
	if strings.Contains(out, "bad@@example") {
		t.Errorf("the email is shown in clear:\n%s", out)
	}

	// Same ticket, same cause: refused and left in the DLQ.
	res, err = f.ops.Replay(f.ctx, ReplayOptions{Ticket: "INC-9"})
	if err != nil || res.Refused != 1 || res.Replayed != 0 || f.msgs(t, bus.StreamDLQ) != 1 {
		t.Fatalf("same ticket, same cause: %+v, %v", res, err)
	}
	// The same delta failing under this ticket for another cause (say a
	// validation rule added since) is replayed: the cause changed.
	dl, err := f.ops.DeadLetter(f.ctx, bad.NewSeq)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.PublishDeadLetter(f.ctx, f.js, bus.DeadLetter{Subject: dl.OrigSubject, Data: dl.Data, Header: dl.Header,
		ErrorCode: "FIELD_CUSTOM_VALIDATION_EXCEPTION", Message: "Title is required", Deliveries: 1}); err != nil {
		t.Fatal(err)
	}
	if err := f.stream(t, bus.StreamDLQ).DeleteMsg(f.ctx, bad.NewSeq); err != nil {
		t.Fatal(err)
	}
	res, err = f.ops.Replay(f.ctx, ReplayOptions{Ticket: "INC-9", DryRun: true})
	if err != nil || res.Refused != 0 || len(res.Items) != 1 || res.Items[0].Outcome != "would_replay" ||
		!strings.Contains(res.Items[0].Reason, "new cause (was INVALID_EMAIL_ADDRESS)") {
		t.Fatalf("same ticket, new cause: %+v, %v", res, err)
	}
}

// A conflict event the reconciler gave up on (its exception record was
// refused, say for a field the org lacked) could not be replayed: replay
// took only delta subjects, and the dead letter even named CONTACTS as its
// stream. It goes back to CONFLICTS now, the running reconciler writes its
// exception record, and the wait says so; one that fails again is named.
func TestReplayConflictEventToTheReconciler(t *testing.T) {
	f := newFixture(t)
	org := sfsimtest.Start(t, sfsim.Config{})
	r, err := reconcile.New(f.js, org.Client(t), reconcile.Config{RetryInitial: 10 * time.Millisecond, ApplyInterval: -1}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop(context.Background()) })

	seen := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	good := conflict.Event{Kind: conflict.KindEmailConflict, Policy: conflict.Strict, Segment: "emea",
		IncomingExternalID: "MC_7", Email: "jane@example.com", ExistingIDs: []string{"003000000000001AAA"},
		ExistingExternalIDs: []string{"MC_1"}, SourceVersion: 7, SeenAt: seen}
	bad := good
	bad.IncomingExternalID, bad.Email = "MC_8", strings.Repeat("a", 120)+"@example.com" // refused for good
	for i, ev := range []conflict.Event{good, bad} {
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := bus.PublishDeadLetter(f.ctx, f.js, bus.DeadLetter{Subject: bus.ConflictSubject("emea"), Data: data,
			Stream: bus.StreamConflicts, StreamSeq: uint64(100 + i), ErrorCode: "INVALID_FIELD",
			Message: "No such column 'Exception_Key__c'", Deliveries: 1}); err != nil {
			t.Fatal(err)
		}
	}

	out, _, err := runCLIWith(t, f, "dlq", "replay", "--ticket", "INC-12", "--outcome-wait", "1m", "--json")
	var res ReplayResult
	if jerr := json.Unmarshal([]byte(out), &res); jerr != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", jerr, out)
	}
	if res.Replayed != 2 || res.Skipped != 0 {
		t.Fatalf("replay: %+v (err %v), want both conflict events replayed", res, err)
	}
	byVersion := map[int]ReplayItem{}
	for _, it := range res.Items {
		if it.Stream != bus.StreamConflicts || it.Subject != bus.ConflictSubject("emea") {
			t.Errorf("item %+v: want it republished to %s on CONFLICTS", it, bus.ConflictSubject("emea"))
		}
		byVersion[len(byVersion)] = it
	}
	if a, b := byVersion[0].After, byVersion[1].After; a != "applied" || b != "failed_again" {
		t.Fatalf("after the replay: %q and %q, want applied and failed_again", a, b)
	}
	if cli.ExitCode(err) != 1 {
		t.Errorf("exit %d (%v): want 1 (one failed again)", cli.ExitCode(err), err)
	}
	recs := org.Records("Contact_Sync_Exception__c")
	if len(recs) != 1 || recs[0]["Exception_Key__c"] != good.Key() {
		t.Fatalf("exception records after the replay: %d, want the good event's", len(recs))
	}
}
