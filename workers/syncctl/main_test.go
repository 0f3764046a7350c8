package main

import (
	"context"
	"strings"
	"testing"
)

func TestRunHelpAndUsage(t *testing.T) {
	var out, errb strings.Builder
	if err := run(context.Background(), []string{"--help"}, &out, &errb); exitCode(err, &errb) != 0 || !strings.Contains(out.String(), "dlq replay") {
		t.Fatalf("--help: %v\n%s", err, out.String())
	}
	errb.Reset()
	err := run(context.Background(), []string{"frobnicate"}, &out, &errb)
	if exitCode(err, &errb) != 2 || !strings.Contains(errb.String(), `syncctl: usage error: unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %v\n%s", err, errb.String())
	}
}
