package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
	"github.com/contactsync/contactsync/pkg/upsert"
)

// traceRun runs the whole pipeline (producer, upserter, reconciler) on one
// input line against the fixture's JetStream and the emulator, so every
// delta of the traced contact goes through the real path, one run at a time
// (deltas of one contact in one batch would be folded into the newest).
func traceRun(t *testing.T, f *fixture, srv *sfsimtest.Org, line string) pipeline.Summary {
	t.Helper()
	in := filepath.Join(t.TempDir(), "in.ndjson")
	if err := os.WriteFile(in, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := pipeline.Run(context.Background(), pipeline.Config{
		NATSURL: f.e.ClientURL(), Upserters: 1, Input: in, Topology: bus.Topology{Storage: jetstream.MemoryStorage},
		SF: srv.Config,
		Upsert: upsert.Config{Heartbeat: 200 * time.Millisecond, LeaseTTL: 2 * time.Second, AckWait: 5 * time.Second,
			MaxDelay: 100 * time.Millisecond, LimitCheckInterval: 200 * time.Millisecond, ShutdownTimeout: 5 * time.Second},
		Timeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Gaps) > 0 || sum.Published != 1 {
		t.Fatalf("run of %s: %+v", line, sum)
	}
	return sum
}

func TestTraceFollowsOneContact(t *testing.T) {
	f := newFixture(t)
	srv := sfsimtest.Start(t, sfsim.Config{})
	if _, err := srv.Insert("Contact", map[string]any{"LastName": "Other", "Email": "shared.person@example.com", "External_Contact_ID__c": "MC_OTHER"}); err != nil {
		t.Fatal(err)
	}

	// v1 collides by email with MC_OTHER (strict: held, a conflict event
	// and an exception record); v2 creates it; v3 updates it; v4 carries
	// an email Salesforce refuses (a dead letter).
	const head = `{"schema":"contact.delta/v1","external_id":"MC_Trace","segment":"emea",`
	if s := traceRun(t, f, srv, head+`"version":1,"fields":{"LastName":"Tracewell","Email":"shared.person@example.com"}}`); s.Held != 1 {
		t.Fatalf("v1 should be held by the strict policy: %+v", s)
	}
	if s := traceRun(t, f, srv, head+`"version":2,"fields":{"LastName":"Tracewell","Email":"trace.me@example.com"}}`); s.Created != 1 {
		t.Fatalf("v2 should create: %+v", s)
	}
	if s := traceRun(t, f, srv, head+`"version":3,"fields":{"LastName":"Tracewell-Smith","Email":"trace.me@example.com"}}`); s.Updated != 1 {
		t.Fatalf("v3 should update: %+v", s)
	}
	if s := traceRun(t, f, srv, head+`"version":4,"fields":{"LastName":"Tracewell-Smith","Email":"trace.me@@example"}}`); s.DeadLettered != 1 {
		t.Fatalf("v4 should dead-letter: %+v", s)
	}
	// Someone else's dead letter and delta (after the runs: no upserter takes it), which the trace must leave out.
	f.deadLetter(t, "emea", "MC_NOISE", 1, "INVALID_EMAIL_ADDRESS", "bad email")
	var sfID string
	for _, r := range srv.Records("Contact") {
		if r["External_Contact_ID__c"] == "MC_Trace" {
			sfID, _ = r["Id"].(string)
		}
	}
	if sfID == "" {
		t.Fatal("MC_Trace is not in the emulator")
	}

	sf := srv.Client(t)
	var progress []string
	// Another spelling: external IDs match case-insensitively.
	tr, err := f.ops.Trace(f.ctx, sf, TraceConfig{ExternalID: "mc_trace", Progress: func(stream string, read, total uint64) {
		if read == total {
			progress = append(progress, stream)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Deltas) != 4 {
		t.Fatalf("deltas %+v: want v1..v4", tr.Deltas)
	}
	want := []string{"conflict Email_Conflict", "below_applied", "applied", "dead_lettered INVALID_EMAIL_ADDRESS"}
	for i, d := range tr.Deltas {
		if d.Version != int64(i+1) || d.Outcome != want[i] || d.Segment != "emea" || d.Partition != tr.Partition {
			t.Errorf("delta %d: v%d %q segment %s partition %d; want v%d %q in emea, partition %d", i, d.Version, d.Outcome, d.Segment, d.Partition, i+1, want[i], tr.Partition)
		}
	}
	if tr.State == nil || tr.State.SalesforceID != sfID || tr.State.Version != 3 || tr.State.Deleted {
		t.Errorf("state %+v: want %s at version 3", tr.State, sfID)
	}
	if len(tr.DeadLetters) != 1 || tr.DeadLetters[0].ErrorCode != "INVALID_EMAIL_ADDRESS" || tr.DeadLetters[0].OrigSeq != tr.Deltas[3].Seq {
		t.Errorf("dead letters %+v: want v4's INVALID_EMAIL_ADDRESS", tr.DeadLetters)
	}
	if tr.Scanned["DLQ"] != 2 {
		t.Errorf("DLQ scanned %d messages, want both (the noise too)", tr.Scanned["DLQ"])
	}
	if len(tr.Conflicts) != 1 || tr.Conflicts[0].Role != "incoming" || tr.Conflicts[0].Event.SourceVersion != 1 {
		t.Errorf("conflicts %+v: want v1 as the incoming contact", tr.Conflicts)
	}
	if strings.Join(progress, ",") != "DLQ,CONFLICTS" {
		t.Errorf("progress ended for %v, want the DLQ and CONFLICTS scans", progress)
	}
	if tr.Salesforce == nil || len(tr.Salesforce.Contacts) != 1 || tr.Salesforce.Contacts[0]["Id"] != sfID {
		t.Fatalf("org side %+v (error %q)", tr.Salesforce, tr.SalesforceError)
	}
	if got := tr.Salesforce.Contacts[0]["LastName"]; got != "T***" {
		t.Errorf("LastName %v: want masked", got)
	}
	if len(tr.Salesforce.Exceptions) != 1 || tr.Salesforce.Exceptions[0]["Kind__c"] != "Email_Conflict" {
		t.Errorf("exceptions %+v: want the Email_Conflict record", tr.Salesforce.Exceptions)
	}
	sources := map[string]int{}
	for i, e := range tr.Timeline {
		sources[e.Source]++
		if i > 0 && e.Time.Before(tr.Timeline[i-1].Time) {
			t.Errorf("timeline out of order at %d: %+v", i, tr.Timeline)
		}
	}
	for src, n := range map[string]int{"CONTACTS": 4, "DLQ": 1, "CONFLICTS": 1, "contact_state": 1, "Contact": 1, "Contact_Sync_Exception__c": 1} {
		if sources[src] != n {
			t.Errorf("timeline has %d %s entries, want %d: %+v", sources[src], src, n, tr.Timeline)
		}
	}

	// The command: JSON on stdout, masked by default, clear with --show-pii.
	srv.Setenv(t)
	pii := []string{"Tracewell", "trace.me@", "shared.person@"}
	for _, args := range [][]string{{"trace", "--external-id", "MC_Trace", "--json"}, {"trace", "--external-id", "MC_Trace"}} {
		var out, errOut bytes.Buffer
		err := RunCLI(context.Background(), append(args, "--nats", f.e.ClientURL()), &out, &errOut)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut.String())
		}
		for _, p := range pii {
			if strings.Contains(out.String(), p) || strings.Contains(errOut.String(), p) {
				t.Errorf("%v shows %q in clear:\n%s\n%s", args, p, out.String(), errOut.String())
			}
		}
		if !strings.Contains(errOut.String(), "filtered scan") {
			t.Errorf("%v: no scan progress on stderr: %q", args, errOut.String())
		}
		if args[len(args)-1] == "--json" {
			var got Trace
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("stdout is not one JSON document: %v\n%s", err, out.String())
			}
			if len(got.Deltas) != 4 || got.State == nil || len(got.Timeline) != len(tr.Timeline) {
				t.Errorf("JSON trace %+v", got)
			}
		} else if !strings.Contains(out.String(), "dead letter INVALID_EMAIL_ADDRESS") || !strings.Contains(out.String(), "last applied version 3") {
			t.Errorf("table:\n%s", out.String())
		}
	}
	var out, errOut bytes.Buffer
	if err := RunCLI(context.Background(), []string{"trace", "--show-pii", "--external-id", "MC_Trace", "--nats", f.e.ClientURL()}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Tracewell-Smith") {
		t.Errorf("--show-pii does not show the name:\n%s", out.String())
	}

	// A contact never seen: a clear message, exit 1.
	out.Reset()
	errOut.Reset()
	err = RunCLI(context.Background(), []string{"trace", "--external-id", "MC_NOBODY", "--nats", f.e.ClientURL()}, &out, &errOut)
	if !errors.Is(err, ErrNeverSeen) || cli.ExitCode(err) != 1 || !strings.Contains(err.Error(), `"MC_NOBODY"`) {
		t.Errorf("never seen: %v (exit %d)", err, cli.ExitCode(err))
	}
	if err := RunCLI(context.Background(), []string{"trace", "--nats", f.e.ClientURL()}, &out, &errOut); cli.ExitCode(err) != 2 {
		t.Errorf("no --external-id: %v, want a usage error", err)
	}
}
