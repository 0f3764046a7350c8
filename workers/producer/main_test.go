package main

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/contactsync/contactsync/pkg/producer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	p := producer.Program()
	exec := func(args ...string) (int, string, string) {
		var out, errb strings.Builder
		code := p.Exit(p.Run(context.Background(), args, &out, &errb), &errb)
		return code, out.String(), errb.String()
	}
	if code, out, _ := exec("--help"); code != 0 || !strings.Contains(out, "producer publish") || !strings.Contains(out, "INGEST_ADDR") {
		t.Fatalf("--help: exit %d\n%s", code, out)
	}
	t.Setenv("INGEST_TOKEN", "")
	if code, out, _ := exec("serve", "--help"); code != 0 || !strings.Contains(out, "/healthz") {
		t.Fatalf("serve --help: exit %d\n%s", code, out)
	}
	t.Setenv("NATS_URL", "")
	if code, out, errb := exec("publish", "x.ndjson"); code != 2 || out != "" || !strings.Contains(errb, "NATS_URL") {
		t.Fatalf("publish without NATS_URL: exit %d\n%s", code, errb)
	}
}
