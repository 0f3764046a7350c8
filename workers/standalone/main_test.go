package main

import (
	"bytes"
	"encoding/json"
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
	if sum["policy"] != "email" || n("rekeyed") == 0 {
		t.Errorf("SYNC_POLICY=email should re-key the colliding contacts: %v", sum)
	}
}

func TestStandaloneBadFlagAndHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--help"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "--contacts") {
		t.Errorf("--help: exit %d, output %q", code, errb.String())
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

func tail(s string) string {
	if len(s) > 3000 {
		return s[len(s)-3000:]
	}
	return s
}
