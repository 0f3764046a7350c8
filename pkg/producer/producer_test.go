package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type env struct {
	srv *bus.Embedded
	nc  *nats.Conn
	js  jetstream.JetStream
}

// start runs an embedded JetStream server with the topology in place.
func start(t *testing.T) env {
	t.Helper()
	srv, err := bus.StartEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := NewJetStream(nc, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Ensure(ctxT(t), js, bus.Topology{Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	return env{srv, nc, js}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func streamMsgs(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	s, err := js.Stream(ctxT(t), bus.StreamContacts)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func line(id, seg string, version int64, fields string) string {
	return fmt.Sprintf(`{"schema":"contact.delta/v1","external_id":%q,"segment":%q,"version":%d,"fields":%s}`, id, seg, version, fields)
}

// ndjsonInput has 6 good deltas and 5 bad lines (numbers 3, 5, 7, 9, 11).
var ndjsonInput = strings.Join([]string{
	line("MC_1", "emea", 1, `{"LastName":"Doe","Email":"jane@example.com"}`),
	line("MC/2 é", "emea", 1, `{"LastName":"Ström"}`),
	`{"schema":"contact.delta/v1","external_id":"MC_3"`, // 3: malformed
	line("MC_4", "apac", 5, `{"LastName":"O'Brien \"Ob\""}`),
	line("", "emea", 1, `{"LastName":"x"}`), // 5: missing external ID
	"",
	line("MC_6", "EMEA West", 1, `{"LastName":"x"}`), // 7: bad segment
	line("MC_1", "emea", 2, `{"Title":"CTO"}`),
	`{"schema":"contact.delta/v1","external_id":"MC_9","segment":"emea","version":1,"fields":{"LastName":"x"},"colour":"red"}`, // 9: unknown key
	line("*>.", "emea", 1, `{"LastName":"x"}`),
	line("MC_11", "emea", 1, `["LastName"]`), // 11: fields not an object
	line("Жанна", "emea", 3, `{"FirstName":"Жанна","LastName":"Иванова"}`),
}, "\r\n") + "\n"

func TestNDJSONSource(t *testing.T) {
	src := NDJSON(strings.NewReader("\uFEFF" + ndjsonInput))
	var good []int
	bad := map[int]string{}
	for {
		r, ok := src.Next()
		if !ok {
			break
		}
		if r.Err != nil {
			var fe *delta.FieldError
			if !errors.As(r.Err, &fe) {
				t.Fatalf("line %d: error %v is not a FieldError", r.N, r.Err)
			}
			bad[r.N] = fe.Field
		} else {
			good = append(good, r.N)
		}
	}
	if err := src.Err(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(good) != "[1 2 4 8 10 12]" {
		t.Errorf("good lines %v", good)
	}
	want := map[int]string{3: "", 5: "external_id", 7: "segment", 9: "colour", 11: "fields"}
	if fmt.Sprint(bad) != fmt.Sprint(want) {
		t.Errorf("bad lines %v, want %v", bad, want)
	}
}

func TestNDJSONLongLineDoesNotStop(t *testing.T) {
	long := line("MC_L", "emea", 1, `{"LastName":"`+strings.Repeat("x", MaxLineBytes)+`"}`)
	src := NDJSON(strings.NewReader(long + "\n" + line("MC_2", "emea", 1, `{"LastName":"y"}`)))
	r1, _ := src.Next()
	r2, ok := src.Next()
	if r1.Err == nil || !strings.Contains(r1.Err.Error(), "longer than") || r1.N != 1 {
		t.Fatalf("long line: %+v", r1)
	}
	if !ok || r2.Err != nil || r2.N != 2 || r2.Delta.ExternalID != "MC_2" {
		t.Fatalf("line after long line: %+v %v", r2, ok)
	}
	if _, ok := src.Next(); ok {
		t.Fatal("extra record")
	}
}

func TestImportNDJSONAccountsForEveryLine(t *testing.T) {
	e := start(t)
	ctx := ctxT(t)
	var rejected []int
	var progress []Summary
	pub := NewPublisher(e.js, WithMaxPending(3))
	sum, err := Import(ctx, NDJSON(strings.NewReader(ndjsonInput)), pub, ImportConfig{
		Source:   "test",
		OnReject: func(r Record) { rejected = append(rejected, r.N) },
		Progress: func(s Summary) { progress = append(progress, s) }, ProgressEvery: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum != (Summary{Read: 11, Rejected: 5, Published: 6}) || !sum.Balanced() {
		t.Fatalf("summary %+v", sum)
	}
	if fmt.Sprint(rejected) != "[3 5 7 9 11]" {
		t.Errorf("rejected lines %v", rejected)
	}
	if len(progress) != 3 || progress[0].Read != 4 || progress[1].Read != 8 || progress[2].Read != 11 {
		t.Errorf("progress %+v", progress)
	}
	if n := streamMsgs(t, e.js); n != 6 {
		t.Fatalf("CONTACTS holds %d, want 6", n)
	}
	// The stored message carries the raw ID, the dedup ID and the delta.
	s, _ := e.js.Stream(ctx, bus.StreamContacts)
	m, err := s.GetLastMsgForSubject(ctx, "contacts.delta.emea.*."+delta.ContactKey("MC/2 é"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get(delta.HeaderExternalID) != "MC/2 é" || m.Header.Get("Nats-Msg-Id") != "MC/2 é:1" {
		t.Errorf("headers %v", m.Header)
	}
	d, err := delta.Decode(m.Data)
	if err != nil || d.Source != "test" || d.EmittedAt.IsZero() {
		t.Errorf("stored delta %+v %v", d, err)
	}
	// Importing the same input again stores nothing new.
	sum, err = Import(ctx, NDJSON(strings.NewReader(ndjsonInput)), NewPublisher(e.js), ImportConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if sum != (Summary{Read: 11, Rejected: 5, Duplicates: 6}) {
		t.Fatalf("re-import summary %+v", sum)
	}
	if n := streamMsgs(t, e.js); n != 6 {
		t.Fatalf("after re-import CONTACTS holds %d, want 6", n)
	}
}

func TestPublisherBoundsInFlight(t *testing.T) {
	e := start(t)
	ctx := ctxT(t)
	pub := NewPublisher(e.js, WithMaxPending(2))
	for i := range 50 {
		d := delta.Delta{Schema: delta.SchemaV1, ExternalID: fmt.Sprintf("B_%d", i), Segment: "s", Version: 1, Fields: map[string]any{"LastName": "x"}}
		if err := pub.Publish(ctx, i+1, d); err != nil {
			t.Fatal(err)
		}
		if p := pub.Pending(); p > 2 {
			t.Fatalf("%d acks pending, limit 2", p)
		}
	}
	c, err := pub.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c != (Counts{Published: 50}) || pub.Pending() != 0 {
		t.Fatalf("counts %+v pending %d", c, pub.Pending())
	}
	// An invalid delta is refused before sending.
	var fe *delta.FieldError
	if err := pub.Publish(ctx, 51, delta.Delta{Schema: delta.SchemaV1}); !errors.As(err, &fe) {
		t.Fatalf("Publish(invalid) = %v", err)
	}
}

func TestPublisherCountsFailures(t *testing.T) {
	e := start(t)
	ctx := ctxT(t)
	// Without the CONTACTS stream nothing can be stored: every publish fails
	// and is reported, and Flush still returns.
	if err := e.js.DeleteStream(ctx, bus.StreamContacts); err != nil {
		t.Fatal(err)
	}
	var failed []Failure
	pub := NewPublisher(e.js, WithRetries(1), WithFailureHandler(func(f Failure) { failed = append(failed, f) }))
	for i := range 3 {
		d := delta.Delta{Schema: delta.SchemaV1, ExternalID: fmt.Sprintf("F_%d", i), Segment: "s", Version: 1, Fields: map[string]any{"LastName": "x"}}
		if err := pub.Publish(ctx, i+1, d); err != nil {
			t.Fatal(err)
		}
	}
	c, err := pub.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Failed != 3 || c.Published != 0 || len(failed) != 3 || failed[0].Record != 1 || failed[0].ExternalID != "F_0" {
		t.Fatalf("counts %+v failures %+v", c, failed)
	}
}

func TestPublishCLI(t *testing.T) {
	e := start(t)
	dir := t.TempDir()
	nd := filepath.Join(dir, "deltas.ndjson")
	csvFile := filepath.Join(dir, "contacts.csv")
	if err := os.WriteFile(nd, []byte(ndjsonInput), 0o600); err != nil {
		t.Fatal(err)
	}
	csvData := "external_id,segment,updated_at,first_name,last_name,email,extra\n" +
		"C_1,emea,2026-11-26T10:00:00Z,Jane,Doe,jane@example.com,x\n" +
		"C_2,emea,not-a-time,John,Roe,john@example.com,x\n" + // line 3: bad updated_at
		"C_3,apac,2026-11-26T10:00:00.5Z,Ann,\"O'Neil, \"\"Jr\"\"\",,x\n"
	if err := os.WriteFile(csvFile, []byte(csvData), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NATS_URL", e.srv.ClientURL())
	t.Setenv("NATS_PARTITIONS", "4")
	var stdout, stderr strings.Builder
	err := RunCLI(ctxT(t), []string{"publish", "--json", "--progress-every", "5", nd, csvFile}, &stdout, &stderr)
	if !errors.Is(err, ErrRejected) || ExitCode(err) != 1 {
		t.Fatalf("RunCLI = %v (exit %d), want ErrRejected", err, ExitCode(err))
	}
	if !strings.Contains(stdout.String(), `"read":14,"rejected":6,"published":8,"duplicates":0,"failed":0`) {
		t.Errorf("summary: %s", stdout.String())
	}
	for _, want := range []string{"deltas.ndjson:3: rejected: malformed JSON", "deltas.ndjson:7: rejected: segment:",
		"contacts.csv:3: rejected: updated_at:", "ignoring unmapped columns: extra", "deltas.ndjson: progress: read 5 "} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	// Issue 10: each file's own counts, not "published 0" per file.
	var got struct {
		Files []fileSummary `json:"files"`
	}
	if err := json.Unmarshal([]byte(stdout.String()), &got); err != nil || len(got.Files) != 2 ||
		got.Files[0].Published == 0 || got.Files[1].Published == 0 || got.Files[0].Published+got.Files[1].Published != 8 {
		t.Errorf("per-file summary: %v %s", err, stdout.String())
	}
	if n := streamMsgs(t, e.js); n != 8 {
		t.Fatalf("CONTACTS holds %d, want 8", n)
	}
	// Again, allowing rejects: all duplicates, exit 0.
	stdout.Reset()
	err = RunCLI(ctxT(t), []string{"publish", "--allow-rejects", nd, csvFile}, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "read 14  rejected 6  published 0  duplicates 8  failed 0") {
		t.Errorf("summary: %s", stdout.String())
	}
}

func TestCLIUsage(t *testing.T) {
	var stdout, stderr strings.Builder
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--help"}, 0},
		{nil, 2},
		{[]string{"frobnicate"}, 2},
		{[]string{"poll"}, 2},
		{[]string{"publish"}, 2},
	} {
		t.Setenv("NATS_URL", "nats://127.0.0.1:1")
		if got := ExitCode(RunCLI(context.Background(), tc.args, &stdout, &stderr)); got != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.args, got, tc.code)
		}
	}
	if !strings.Contains(stdout.String(), "POST /v1/deltas") {
		t.Errorf("help output:\n%s", stdout.String())
	}
	t.Setenv("NATS_URL", "")
	if err := RunCLI(context.Background(), []string{"publish", "x.ndjson"}, &stdout, &stderr); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "NATS_URL") {
		t.Errorf("without NATS_URL: %v", err)
	}
	t.Setenv("INGEST_TOKEN", "")
	if err := RunCLI(context.Background(), []string{"serve"}, &stdout, &stderr); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "INGEST_TOKEN") {
		t.Errorf("serve without INGEST_TOKEN: %v", err)
	}
}
