package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStandaloneJSONSummaryAddsUp(t *testing.T) {
	t.Setenv("SYNC_POLICY", "email")
	t.Setenv("SYNC_HEARTBEAT", "200ms")
	var out, errb bytes.Buffer
	code := run([]string{"--contacts", "600", "--upserters", "2", "--json", "--seed", "3"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr (tail): %s", code, out.String(), tail(errb.String()))
	}
	var sum map[string]any
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out.String())
	}
	for _, k := range []string{"read", "rejected", "published", "created", "updated", "adopted", "rekeyed",
		"stale_skipped", "held", "dead_lettered", "exceptions", "api_calls", "duration_ms"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
	n := func(k string) int64 { return int64(sum[k].(float64)) }
	if n("rejected")+n("published") != n("read") {
		t.Errorf("rejected + published != read: %v", sum)
	}
	if n("created")+n("updated")+n("adopted")+n("rekeyed")+n("stale_skipped")+n("held")+n("dead_lettered") != n("published") {
		t.Errorf("outcomes do not add up to published: %v", sum)
	}
	// Issue 10: plain progress lines were mixed into the JSON log stream.
	for _, line := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		if line != "" && !json.Valid([]byte(line)) {
			t.Errorf("stderr line is not JSON: %q", line)
		}
	}
	if !strings.Contains(errb.String(), `"logger":"progress"`) {
		t.Errorf("no progress entries on stderr:\n%s", tail(errb.String()))
	}
	if sum["policy"] != "email" || n("rekeyed") == 0 {
		t.Errorf("SYNC_POLICY=email should re-key the colliding contacts: %v", sum)
	}
	// Issue 10: the store of a default run was deleted, so the summary's
	// hint could not be followed. It is kept, and the command is printed.
	dir, _ := sum["data_dir"].(string)
	if dir == "" {
		t.Fatalf("no data_dir in the summary: %v", sum)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if st, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil || !st.IsDir() {
		t.Errorf("data_dir %s holds no JetStream store: %v", dir, err)
	}
	if !strings.Contains(sum["inspect"].(string), "go run ./workers/syncctl --data "+dir+" dlq list") {
		t.Errorf("inspect = %q", sum["inspect"])
	}
	byKind, _ := sum["exceptions_by_kind"].(map[string]any)
	var kinds float64
	for _, v := range byKind {
		kinds += v.(float64)
	}
	if len(byKind) == 0 || kinds == 0 {
		t.Errorf("exceptions_by_kind %v: want the records by kind", sum["exceptions_by_kind"])
	}
	routes, _ := sum["api_calls_by_route"].(map[string]any)
	if len(routes) == 0 {
		t.Errorf("api_calls_by_route %v: want the emulator's count by route", sum["api_calls_by_route"])
	}
	for _, k := range []string{"retried_batches", "reconciler_retries"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
}

// Without --json and without a terminal: the table, the kinds and routes,
// the command to inspect the kept store on stdout; stderr stays JSON.
func TestStandaloneTableTeaches(t *testing.T) {
	t.Setenv("SYNC_HEARTBEAT", "200ms")
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"--contacts", "400", "--upserters", "2", "--data", dir}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), tail(errb.String()))
	}
	for _, want := range []string{"exceptions", "Email_Conflict", "retried_batches", "api_calls", "POST /services/oauth2/token",
		"shutdown: 2 of 2 upserters", "inspect the run's data: go run ./workers/syncctl --data " + dir + " dlq list"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		if line != "" && !json.Valid([]byte(line)) {
			t.Errorf("stderr line is not JSON: %q", line)
		}
	}
}

func TestStandaloneBadFlagAndHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "--contacts") || !strings.Contains(out.String(), "SFSIM_DAILY_LIMIT") {
		t.Errorf("--help: exit %d, stdout %q", code, out.String())
	}
	errb.Reset()
	if code := run([]string{"--upserters", "many"}, &out, &errb); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
	t.Setenv("SYNC_POLICY", "loudest-wins")
	errb.Reset()
	if code := run(nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "SYNC_POLICY") {
		t.Errorf("bad SYNC_POLICY: exit %d, stderr %q; want 2 naming the variable", code, errb.String())
	}
}

// Issue 10: bad flags were accepted silently, an unwritable --data was
// reported as "nats-server not ready after 10s".
func TestStandaloneBadFlags(t *testing.T) {
	// A regular file where a directory is needed: unwritable even for root.
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.WriteFile(ro, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--contacts", "-5"}, "--contacts -5: want > 0"},
		{[]string{"--contacts", "0"}, "--contacts 0: want > 0"},
		{[]string{"--upserters", "0"}, "--upserters 0: want 1..64"},
		{[]string{"stray.ndjson"}, "unexpected arguments"},
		{[]string{"--input", "/nonexistent/x.ndjson"}, "--input"},
		{[]string{"--data", filepath.Join(ro, "sub")}, "--data " + filepath.Join(ro, "sub")},
		{[]string{"--timeout", "soon"}, "--timeout"},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), tc.want) || out.Len() > 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
}

func tail(s string) string {
	if len(s) > 3000 {
		return s[len(s)-3000:]
	}
	return s
}

// Issue 10: the README's SFSIM_DAILY_LIMIT=20 example took 112 s for 8 s
// of work and ended in a stack trace. It must end with the daily limit
// named, exit 3, and every member stopped (under one deadline).
func TestStandaloneDailyLimitExits3(t *testing.T) {
	t.Setenv("SFSIM_DAILY_LIMIT", "20")
	t.Setenv("SF_LIMIT_CHECK_INTERVAL", "200ms")
	t.Setenv("SYNC_HEARTBEAT", "200ms")
	var out, errb bytes.Buffer
	code := run([]string{"--contacts", "3000", "--shutdown-timeout", "2s", "--data", t.TempDir()}, &out, &errb)
	if code != 3 {
		t.Fatalf("exit %d, want 3\nstdout: %s\nstderr (tail): %s", code, out.String(), tail(errb.String()))
	}
	if !strings.Contains(out.String(), "writes paused: daily API limit reached") ||
		!strings.Contains(out.String(), "shutdown: 4 of 4 upserters and the reconciler stopped") {
		t.Errorf("summary:\n%s", out.String())
	}
	if !strings.Contains(errb.String(), "standalone: incomplete: daily API limit reached") {
		t.Errorf("stderr does not end with the reason:\n%s", tail(errb.String()))
	}
	for _, bad := range []string{"goroutine ", "panic:", "stacktrace"} {
		if strings.Contains(errb.String(), bad) {
			t.Errorf("stderr holds %q:\n%s", bad, tail(errb.String()))
		}
	}
}
