package main

import (
	"context"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/ops"
)

func TestRunHelpAndUsage(t *testing.T) {
	p := ops.Program()
	var out, errb strings.Builder
	if code := p.Exit(p.Run(context.Background(), []string{"--help"}, &out, &errb), &errb); code != 0 || !strings.Contains(out.String(), "dlq replay") {
		t.Fatalf("--help: exit %d\n%s", code, out.String())
	}
	out.Reset()
	errb.Reset()
	code := p.Exit(p.Run(context.Background(), []string{"frobnicate"}, &out, &errb), &errb)
	if code != 2 || !strings.Contains(errb.String(), `syncctl: unknown command "frobnicate"`) || out.Len() > 0 {
		t.Fatalf("unknown command: exit %d\nstdout %q\nstderr %q", code, out.String(), errb.String())
	}
}
