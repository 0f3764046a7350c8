package service

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

type cfg struct {
	Port int    `envconfig:"SVC_TEST_PORT" default:"7" desc:"a port"`
	Name string `envconfig:"SVC_TEST_NAME" required:"true" desc:"a name"`
}

func TestExec(t *testing.T) {
	var out bytes.Buffer
	if code := Exec("svc", "svc does things\n", []string{"--help"}, &out, func(context.Context, cfg) error { return nil }); code != 0 ||
		!strings.Contains(out.String(), "svc does things") || !strings.Contains(out.String(), "SVC_TEST_PORT") {
		t.Fatalf("--help: code %d, output %q", code, out.String())
	}
	out.Reset()
	if code := Exec("svc", "", nil, &out, func(context.Context, cfg) error { return nil }); code != 2 || !strings.Contains(out.String(), "SVC_TEST_NAME") {
		t.Fatalf("missing required variable: code %d, output %q", code, out.String())
	}
	t.Setenv("SVC_TEST_NAME", "x")
	t.Setenv("SVC_TEST_PORT", "seven")
	out.Reset()
	if code := Exec("svc", "", nil, &out, func(context.Context, cfg) error { return nil }); code != 2 || !strings.Contains(out.String(), "SVC_TEST_PORT") {
		t.Fatalf("bad variable: code %d, output %q", code, out.String())
	}
	t.Setenv("SVC_TEST_PORT", "9")
	var got cfg
	if code := Exec("svc", "", nil, &out, func(_ context.Context, c cfg) error { got = c; return nil }); code != 0 || got.Port != 9 || got.Name != "x" {
		t.Fatalf("run: code %d, cfg %+v", code, got)
	}
	out.Reset()
	if code := Exec("svc", "", nil, &out, func(context.Context, cfg) error { return errors.New("boom") }); code != 1 || !strings.Contains(out.String(), "svc: boom") {
		t.Fatalf("run error: code %d, output %q", code, out.String())
	}
	if code := Exec("svc", "", []string{"extra"}, &out, func(context.Context, cfg) error { return nil }); code != 2 {
		t.Fatalf("stray argument: code %d", code)
	}
}

// Issue 10: help went to stderr for the services; errors name the variable.
func TestExecToHelpOnStdout(t *testing.T) {
	var out, errb bytes.Buffer
	if code := ExecTo("svc", "svc does things\n", []string{"--help"}, &out, &errb, func(context.Context, cfg) error { return nil }); code != 0 ||
		!strings.Contains(out.String(), "SVC_TEST_PORT") || errb.Len() > 0 {
		t.Fatalf("--help: code %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	t.Setenv("SVC_TEST_NAME", "x")
	t.Setenv("SVC_TEST_PORT", "seven")
	out.Reset()
	if code := ExecTo("svc", "", nil, &out, &errb, func(context.Context, cfg) error { return nil }); code != 2 ||
		!strings.Contains(errb.String(), `svc: SVC_TEST_PORT="seven": want an integer`) || out.Len() > 0 {
		t.Fatalf("bad variable: code %d, stderr %q", code, errb.String())
	}
}
