package ops

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
)

func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb strings.Builder
	err := RunCLI(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

func TestCLIHelpForEveryCommand(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"status", "--help"}, {"report", "--help"}, {"backfill", "--help"},
		{"dlq", "list", "--help"}, {"dlq", "show", "--help"}, {"dlq", "replay", "--help"}, {"dlq", "purge", "--help"},
	} {
		out, _, err := runCLI(t, args...)
		if err != nil || cli.ExitCode(err) != 0 {
			t.Errorf("%v: %v", args, err)
		}
		if !strings.Contains(out, "syncctl") || (len(args) > 1 && !strings.Contains(out, "-nats")) {
			t.Errorf("%v help:\n%s", args, out)
		}
	}
}

func TestCLIUsageErrors(t *testing.T) {
	t.Setenv("NATS_URL", "")
	for _, args := range [][]string{
		{}, {"nope"}, {"dlq"}, {"dlq", "nope"}, {"status"}, {"dlq", "show"}, {"dlq", "show", "x"},
		{"dlq", "replay", "--nats", "nats://127.0.0.1:1"}, {"backfill", "--ticket", "T"},
		{"backfill", "--segment", "emea", "--ticket", "T", "--since", "yesterday", "--nats", "nats://127.0.0.1:1"},
		{"backfill", "--segment", "emea", "--ticket", "T", "--since-seq", "3", "--from-file", "x"},
		{"status", "--bogus"}, {"status", "--wait", "0", "--nats", "nats://127.0.0.1:1"},
	} {
		_, _, err := runCLI(t, args...)
		if cli.ExitCode(err) != 2 {
			t.Errorf("%v: err %v, exit %d; want 2", args, err, cli.ExitCode(err))
		}
	}
}

func TestCLIEndToEnd(t *testing.T) {
	f := newFixture(t)
	t.Setenv("NATS_URL", f.e.ClientURL())
	t.Setenv("SF_LOGIN_URL", "")
	seq := f.deadLetter(t, "emea", "MC_1", 5, "INVALID_EMAIL_ADDRESS", "Email: invalid email address: jane@")
	f.deadLetter(t, "apac", "AP_1", 5, "STRING_TOO_LONG", "LastName: data value too large")
	s := strconv.FormatUint(seq, 10)

	out, _, err := runCLI(t, "dlq", "list", "--segment", "emea")
	if err != nil || !strings.Contains(out, "MC_1") || !strings.Contains(out, "INVALID_EMAIL_ADDRESS") || strings.Contains(out, "AP_1") ||
		!strings.Contains(out, "1 dead letters") {
		t.Fatalf("dlq list: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "dlq", "show", s)
	if err != nil || !strings.Contains(out, `"external_id": "MC_1"`) || !strings.Contains(out, "Cs-Error-Message:") {
		t.Fatalf("dlq show: %v\n%s", err, out)
	}
	// Issue 10: flags after SEQ ("dlq show 1 --json" was a usage error).
	out, _, err = runCLI(t, "dlq", "show", s, "--json")
	var shown map[string]any
	if err != nil || json.Unmarshal([]byte(out), &shown) != nil || shown["payload"] == nil {
		t.Fatalf("dlq show SEQ --json: %v\n%s", err, out)
	}
	// Issue 10: "dlq purge --dry-run --older-than 3d" did not exist / parse.
	out, _, err = runCLI(t, "dlq", "purge", "--dry-run", "--older-than", "3d", "--yes")
	if err != nil || !strings.Contains(out, "0 dead letters would be deleted") || f.msgs(t, bus.StreamDLQ) != 2 {
		t.Fatalf("purge --dry-run --older-than 3d: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "dlq", "purge", "--dry-run", "--yes")
	if err != nil || !strings.Contains(out, "2 dead letters would be deleted") || f.msgs(t, bus.StreamDLQ) != 2 {
		t.Fatalf("purge --dry-run --yes deleted: %v\n%s", err, out)
	}
	// Issue 10: a bad segment printed an empty summary before the error.
	out, errOut, err := runCLI(t, "backfill", "--segment", "EMEA.>", "--ticket", "T1")
	if cli.ExitCode(err) != 2 || out != "" || !strings.Contains(err.Error(), "--segment") {
		t.Fatalf("backfill bad segment: %v\nstdout %q\nstderr %q", err, out, errOut)
	}
	// Issue 10: "backfill --segment nosuch" succeeded silently.
	if _, _, err = runCLI(t, "backfill", "--segment", "nosuch", "--ticket", "T1"); cli.ExitCode(err) != 1 || !strings.Contains(err.Error(), "it holds apac, emea") {
		t.Fatalf("backfill --segment nosuch: %v", err)
	}
	if _, _, err = runCLI(t, "backfill", "--segment", "emea", "--ticket", "T1", "--from-file", "x.csv"); cli.ExitCode(err) != 2 || !strings.Contains(err.Error(), "producer publish") {
		t.Fatalf("backfill --from-file x.csv: %v", err)
	}
	if _, _, err = runCLI(t, "dlq", "show", "999"); cli.ExitCode(err) != 1 {
		t.Fatalf("dlq show 999: %v", err)
	}
	out, _, err = runCLI(t, "dlq", "purge", "--code", "STRING_TOO_LONG")
	if err != nil || !strings.Contains(out, "nothing deleted") || f.msgs(t, bus.StreamDLQ) != 2 {
		t.Fatalf("purge without --yes: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "dlq", "replay", "--seq", s, "--ticket", "INC-1", "--json", "--outcome-wait", "0") // no upserter here
	var res ReplayResult
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Replayed != 1 {
		t.Fatalf("dlq replay: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "dlq", "purge", "--code", "STRING_TOO_LONG", "--yes")
	if err != nil || !strings.Contains(out, "deleted 1") || f.msgs(t, bus.StreamDLQ) != 0 {
		t.Fatalf("purge --yes: %v\n%s", err, out)
	}

	file := filepath.Join(t.TempDir(), "emea.ndjson")
	if err := os.WriteFile(file, []byte(`{"schema":"contact.delta/v1","external_id":"F1","segment":"emea","version":1,"fields":{"LastName":"Doe"}}
{"schema":"contact.delta/v1","external_id":"F2","segment":"apac","version":1,"fields":{"LastName":"Doe"}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err = runCLI(t, "backfill", "--segment", "emea", "--ticket", "SRC-1", "--from-file", file)
	if cli.ExitCode(err) != 1 || !strings.Contains(errOut, "emea.ndjson: line 2: segment") || !strings.Contains(out, "published 1") {
		t.Fatalf("backfill --from-file: %v\nstdout %s\nstderr %s", err, out, errOut)
	}
	out, _, err = runCLI(t, "backfill", "--segment", "emea", "--ticket", "BF-1", "--rate", "500")
	if err != nil || !strings.Contains(out, "read 3") || !strings.Contains(out, "published 3") {
		t.Fatalf("backfill: %v\n%s", err, out)
	}

	out, _, err = runCLI(t, "status", "--json")
	var st Status
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || len(st.Streams) != 3 {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "status")
	if err != nil || !strings.Contains(out, "Streams") || !strings.Contains(out, "(not created)") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "report", "--json")
	var rep Report
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || rep.DeltasBySegment["emea"] != 6 || rep.Salesforce != nil {
		t.Fatalf("report --json: %v\n%s", err, out)
	}
}

// Issue 10: when the org half of report failed, nothing was printed, not
// even the NATS half.
func TestCLIReportShowsNATSHalfWhenSalesforceFails(t *testing.T) {
	f := newFixture(t)
	f.publishDelta(t, "emea", "MC_1", 1)
	srv := sfsimtest.Start(t, sfsim.Config{DailyLimit: 1})
	t.Setenv("NATS_URL", f.e.ClientURL())
	srv.Setenv(t)
	for range 2 { // spend the allocation
		_, _, _ = runCLI(t, "report")
	}
	out, _, err := runCLI(t, "report", "--json")
	var rep Report
	if cli.ExitCode(err) != 1 || json.Unmarshal([]byte(out), &rep) != nil || rep.DeltasBySegment["emea"] != 1 || rep.SalesforceError == "" {
		t.Fatalf("report with a failing org: %v\n%s", err, out)
	}
}

// Issue 10: a missing client ID was "Config.ClientID is required", with a
// doubled "salesforce: salesforce:" prefix.
func TestCLIReportNamesMissingSetting(t *testing.T) {
	t.Setenv("NATS_URL", "nats://127.0.0.1:1")
	t.Setenv("SF_LOGIN_URL", "http://127.0.0.1:1")
	t.Setenv("SF_CLIENT_ID", "")
	_, _, err := runCLI(t, "report")
	if cli.ExitCode(err) != 2 || !strings.Contains(err.Error(), "SF_CLIENT_ID") || strings.Contains(err.Error(), "salesforce: salesforce:") {
		t.Fatalf("report without SF_CLIENT_ID: %v", err)
	}
}

func TestCLIDeadLettersMaskPII(t *testing.T) {
	f := newFixture(t)
	t.Setenv("NATS_URL", f.e.ClientURL())
	// Issue 10: emails and names in clear in dlq list/show.
	pii := f.deadLetter(t, "emea", "MC_9", 5, "INVALID_EMAIL_ADDRESS", "Email: invalid email address: john.smith@@corp.example")
	for _, args := range [][]string{{"dlq", "list"}, {"dlq", "list", "--json"}, {"dlq", "show", strconv.FormatUint(pii, 10)},
		{"dlq", "show", "--json", strconv.FormatUint(pii, 10)}} {
		out, _, err := runCLI(t, args...)
		if err != nil || strings.Contains(out, "john.smith") || strings.Contains(out, "Doe MC_9") || strings.Contains(out, "MC_9@") || !strings.Contains(out, "MC_9") {
			t.Errorf("%v: PII in clear or missing dead letter: %v\n%s", args, err, out)
		}
	}
	if out, _, err := runCLI(t, "dlq", "show", "--show-pii", strconv.FormatUint(pii, 10)); err != nil || !strings.Contains(out, "john.smith@@corp.example") {
		t.Errorf("--show-pii: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, "dlq", "purge", "--seq-is-not-a-flag"); cli.ExitCode(err) != 2 {
		t.Errorf("bad flag: %v", err)
	}
}
