package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/ops"
	"github.com/contactsync/contactsync/pkg/producer"
)

// Issue 10: emails and names reached logs, dead letters and `dlq list` in
// clear ("Email: invalid email address: john.smith@@corp.example", a 200 KB
// LastName logged whole). This runs the standalone job on input full of
// personal data that goes wrong in every way it can (a malformed email, a
// LastName far over its length, a line rejected at ingest, a duplicate-rule
// conflict) and then reads everything an operator sees by default: every
// stderr line of the run (at info), its stdout, every DLQ header, and the
// output of syncctl dlq list, dlq show, report, status and trace and of
// producer validate, in text and --json. No email or name of the input may
// appear in clear. (The dead letters' data is the delta itself, kept whole
// so a replay can send it again; `dlq show` masks it unless --show-pii.)
func TestStandaloneKeepsPersonalDataOutOfLogsDeadLettersAndCLI(t *testing.T) {
	t.Setenv("SYNC_HEARTBEAT", "200ms")
	t.Setenv("LOG_LEVEL", "info")
	dir := t.TempDir()
	data := filepath.Join(dir, "run")
	longName := "Quillfeatherington" + strings.Repeat("x", 200*1024)
	pii := []string{
		"john.smith@@corp.example", "john.smith@", "Jonathanael", "Smithersonn", // malformed email
		"Quillfeatherington",                                             // 200 KB LastName
		"rejected.person@corp.example", "rejected.person@", "Rejectavia", // rejected at ingest (bad segment)
		"maria.shared@corp.example", "maria.shared@", "Mariabellina", "Quintanillas", "Ottoline", "Featherstonaugh", // conflict
		"plain.good@corp.example", "Goodwinsley", // written fine
	}
	lines := []map[string]any{
		{"external_id": "PII_BADMAIL", "segment": "emea", "version": 1,
			"fields": map[string]any{"FirstName": "Jonathanael", "LastName": "Smithersonn", "Email": "john.smith@@corp.example"}},
		{"external_id": "PII_LONG", "segment": "emea", "version": 1,
			"fields": map[string]any{"LastName": longName, "Email": "long.name@corp.example"}},
		{"external_id": "PII_REJECT", "segment": "EMEA!", "version": 1,
			"fields": map[string]any{"LastName": "Rejectavia", "Email": "rejected.person@corp.example"}},
		{"external_id": "PII_SHARED_1", "segment": "emea", "version": 1,
			"fields": map[string]any{"FirstName": "Mariabellina", "LastName": "Quintanillas", "Email": "maria.shared@corp.example"}},
		{"external_id": "PII_SHARED_2", "segment": "emea", "version": 2,
			"fields": map[string]any{"FirstName": "Ottoline", "LastName": "Featherstonaugh", "Email": "maria.shared@corp.example"}},
		{"external_id": "PII_GOOD", "segment": "emea", "version": 1,
			"fields": map[string]any{"LastName": "Goodwinsley", "Email": "plain.good@corp.example"}},
	}
	var in bytes.Buffer
	for _, l := range lines {
		l["schema"] = "contact.delta/v1"
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		in.Write(b)
		in.WriteByte('\n')
	}
	input := filepath.Join(dir, "pii.ndjson")
	if err := os.WriteFile(input, in.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	var leaks []string
	check := func(where, text string) {
		for _, p := range pii {
			if strings.Contains(text, p) {
				leaks = append(leaks, fmt.Sprintf("%s shows %q", where, p))
			}
		}
	}
	// Every line, each under its own name, so the report says where.
	checkLines := func(where, text string) {
		for i, l := range strings.Split(text, "\n") {
			if len(l) > 300 {
				l = l[:300] + "…"
			}
			for _, p := range pii {
				if strings.Contains(l, p) {
					leaks = append(leaks, fmt.Sprintf("%s line %d shows %q: %s", where, i+1, p, l))
				}
			}
		}
	}

	var out, errb bytes.Buffer
	code := run([]string{"--input", input, "--data", data, "--upserters", "2"}, &out, &errb)
	if code != 1 && code != 0 { // 1: rejected records
		t.Fatalf("standalone exit %d\nstdout: %s\nstderr: %s", code, out.String(), tail(errb.String()))
	}
	checkLines("standalone stderr", errb.String())
	checkLines("standalone stdout", out.String())
	if !strings.Contains(out.String(), "dead_lettered") {
		t.Fatalf("no summary on stdout:\n%s", out.String())
	}

	// The dead letters' headers, read from the kept store.
	seqs := dlqHeaders(t, data, func(seq uint64, h nats.Header) {
		for k, vs := range h {
			for _, v := range vs {
				check(fmt.Sprintf("DLQ seq %d header %s", seq, k), v)
			}
		}
	})
	if len(seqs) < 2 {
		t.Fatalf("want the malformed email and the long name dead-lettered, DLQ holds %d", len(seqs))
	}

	syncctl := func(args ...string) {
		var o, e bytes.Buffer
		err := ops.RunCLI(context.Background(), append(args, "--data", data), &o, &e)
		name := "syncctl " + strings.Join(args, " ")
		if err != nil {
			t.Errorf("%s: %v\n%s", name, err, e.String())
		}
		checkLines(name+" stdout", o.String())
		checkLines(name+" stderr", e.String())
	}
	for _, asJSON := range [][]string{nil, {"--json"}} {
		syncctl(append([]string{"dlq", "list"}, asJSON...)...)
		for _, s := range seqs {
			syncctl(append([]string{"dlq", "show", fmt.Sprint(s)}, asJSON...)...)
		}
		syncctl(append([]string{"report"}, asJSON...)...)
		syncctl(append([]string{"status"}, asJSON...)...)
		for _, id := range []string{"PII_BADMAIL", "PII_LONG", "PII_SHARED_1", "PII_SHARED_2", "PII_GOOD"} {
			syncctl(append([]string{"trace", "--external-id", id}, asJSON...)...)
		}
	}
	// The producer's verdicts on the same file (the rejected line, the
	// 200 KB name), in text and JSON.
	for _, args := range [][]string{{"validate", input}, {"validate", "--json", input}} {
		var o, e bytes.Buffer
		err := producer.RunCLI(context.Background(), args, &o, &e)
		if producer.ExitCode(err) != 1 || !strings.Contains(e.String()+o.String(), "segment") {
			t.Errorf("producer %v: exit %d, want 1 naming the rejected segment\n%s%s", args, producer.ExitCode(err), o.String(), e.String())
		}
		checkLines(fmt.Sprintf("producer %v stdout", args), o.String())
		checkLines(fmt.Sprintf("producer %v stderr", args), e.String())
	}

	// The control: the data is really there, and --show-pii reveals it,
	// so the masked output above masked something.
	var o, e bytes.Buffer
	if err := ops.RunCLI(context.Background(), []string{"dlq", "show", fmt.Sprint(seqs[0]), "--show-pii", "--data", data}, &o, &e); err != nil ||
		!strings.Contains(o.String(), "john.smith@@corp.example") {
		t.Errorf("dlq show %d --show-pii does not show the malformed email (%v):\n%s%s", seqs[0], err, o.String(), e.String())
	}
	for _, l := range leaks {
		t.Error(l)
	}
}

// dlqHeaders calls f with the headers of every dead letter in the store
// under dataDir (a finished run's --data) and returns their sequences.
func dlqHeaders(t *testing.T, dataDir string, f func(uint64, nats.Header)) []uint64 {
	t.Helper()
	e, err := bus.StartEmbedded(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	nc, err := nats.Connect(e.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		seqs = append(seqs, seq)
		f(seq, m.Header)
	}
	return seqs
}
