package main

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	var out, errOut strings.Builder
	if err := run(context.Background(), []string{"--help"}, &out, &errOut); err != nil || !strings.Contains(out.String(), "producer publish") {
		t.Fatalf("--help: %v\n%s", err, out.String())
	}
	err := run(context.Background(), []string{"poll"}, &out, &errOut)
	if code := exitCode(err, &errOut); code != 2 || !strings.Contains(errOut.String(), "not implemented yet: PostgreSQL polling lands in a later issue") {
		t.Fatalf("poll: exit %d, stderr %q", code, errOut.String())
	}
	t.Setenv("NATS_URL", "")
	if code := exitCode(run(context.Background(), []string{"publish", "x.ndjson"}, &out, &errOut), &errOut); code != 2 {
		t.Fatalf("publish without NATS_URL: exit %d", code)
	}
}
