package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

type got struct {
	in    *Invocation
	limit int
	since time.Duration
}

func testProgram(g *got) *Program {
	run := func(fs *flag.FlagSet) Action {
		fs.IntVar(&g.limit, "limit", 0, "at most N")
		DurationVar(fs, &g.since, "older-than", 0, "age")
		return func(_ context.Context, in *Invocation) error { g.in = in; return nil }
	}
	return &Program{Name: "tool", Summary: "tool does things.", Commands: []*Command{
		{Name: "status", Summary: "show it", Setup: run},
		{Name: "dlq list", Summary: "list them", Setup: run},
		{Name: "dlq show", Args: "SEQ", Summary: "show one", Setup: run},
		{Name: "dlq purge", Summary: "delete them", Writes: true, Setup: run},
		{Name: "fail", Summary: "fails", Setup: func(*flag.FlagSet) Action {
			return func(context.Context, *Invocation) error { return errors.New("boom") }
		}},
	}}
}

func TestRunDispatchAndFlagsAnywhere(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		cmd       string
		pos       []string
		json, dry bool
		limit     int
		since     time.Duration
	}{
		{args: []string{"dlq", "show", "1", "--json"}, cmd: "tool dlq show", pos: []string{"1"}, json: true},
		{args: []string{"dlq", "show", "--json", "1"}, cmd: "tool dlq show", pos: []string{"1"}, json: true},
		{args: []string{"--json", "dlq", "show", "1"}, cmd: "tool dlq show", pos: []string{"1"}, json: true},
		{args: []string{"dlq", "purge", "--dry-run", "--older-than", "3d"}, cmd: "tool dlq purge", dry: true, since: 72 * time.Hour},
		{args: []string{"dlq", "list", "--limit=5", "--", "--json"}, cmd: "tool dlq list", pos: []string{"--json"}, limit: 5},
		{args: []string{"status"}, cmd: "tool status"},
	} {
		var g got
		err := testProgram(&g).Run(context.Background(), tc.args, &bytes.Buffer{}, &bytes.Buffer{})
		if err != nil || g.in == nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if g.in.Command != tc.cmd || strings.Join(g.in.Args, ",") != strings.Join(tc.pos, ",") || g.in.JSON != tc.json ||
			g.in.DryRun != tc.dry || g.limit != tc.limit || g.since != tc.since {
			t.Errorf("%v: got %+v limit %d since %v", tc.args, *g.in, g.limit, g.since)
		}
	}
}

func TestRunExitCodesAndHelp(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		code    int
		stdout  string // substring of stdout
		message string // substring of the printed error
	}{
		{args: []string{"--help"}, code: 0, stdout: "tool dlq show SEQ"},
		{args: []string{"help"}, code: 0, stdout: "Commands:"},
		{args: []string{"help", "dlq", "show"}, code: 0, stdout: "Usage: tool dlq show [flags] SEQ"},
		{args: []string{"dlq", "show", "--help"}, code: 0, stdout: "--json"},
		{args: []string{"dlq", "purge", "-h"}, code: 0, stdout: "--dry-run"},
		{args: []string{"dlq", "--help"}, code: 0, stdout: "Commands:"},
		{args: nil, code: 2, message: "a command is required"},
		{args: []string{"nope"}, code: 2, message: `unknown command "nope"`},
		{args: []string{"dlq"}, code: 2, message: "dlq needs a command: list, purge, show"},
		{args: []string{"dlq", "nope"}, code: 2, message: `unknown command "nope" after "dlq"`},
		{args: []string{"status", "--bogus"}, code: 2, message: "flag provided but not defined: --bogus"},
		{args: []string{"status", "--limit", "x"}, code: 2, message: "--limit"},
		{args: []string{"dlq", "list", "--dry-run"}, code: 2, message: "--dry-run"},
		{args: []string{"dlq", "purge", "--older-than", "yesterday"}, code: 2, message: "want a duration such as 90m, 36h or 3d"},
		{args: []string{"fail"}, code: 1, message: "tool: boom"},
	} {
		var g got
		var out, errb bytes.Buffer
		p := testProgram(&g)
		code := p.Exit(p.Run(context.Background(), tc.args, &out, &errb), &errb)
		if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errb.String(), tc.message) {
			t.Errorf("%v: exit %d (want %d)\nstdout: %s\nstderr: %s", tc.args, code, tc.code, out.String(), errb.String())
		}
		if tc.code != 0 && out.Len() > 0 {
			t.Errorf("%v: a failure wrote to stdout: %q", tc.args, out.String())
		}
		if tc.code == 2 && !strings.Contains(errb.String(), "Run 'tool --help'") {
			t.Errorf("%v: no pointer to --help: %q", tc.args, errb.String())
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"3d": 72 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute, "1d12h": 36 * time.Hour,
		"0.5d": 12 * time.Hour, "500ms": 500 * time.Millisecond, "0": 0,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "3", "-1h", "3dd", "d"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q): no error", in)
		}
	}
	for d, want := range map[time.Duration]string{72 * time.Hour: "3d", 90 * time.Minute: "1h30m", 0: "0s", 36 * time.Hour: "1d12h"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestLoadEnvNamesTheVariable(t *testing.T) {
	var cfg struct {
		N    int      `envconfig:"CLI_TEST_N"`
		D    Duration `envconfig:"CLI_TEST_D"`
		Must string   `envconfig:"CLI_TEST_MUST" required:"true"`
	}
	t.Setenv("CLI_TEST_MUST", "")
	os.Unsetenv("CLI_TEST_MUST")
	if err := LoadEnv(&cfg); ExitCode(err) != 2 || err.Error() != "CLI_TEST_MUST is required" {
		t.Fatalf("missing: %v", err)
	}
	t.Setenv("CLI_TEST_MUST", "x")
	t.Setenv("CLI_TEST_N", "seven")
	if err := LoadEnv(&cfg); ExitCode(err) != 2 || err.Error() != `CLI_TEST_N="seven": want an integer` {
		t.Fatalf("bad int: %v", err)
	}
	t.Setenv("CLI_TEST_N", "7")
	t.Setenv("CLI_TEST_D", "3d")
	if err := LoadEnv(&cfg); err != nil || cfg.N != 7 || time.Duration(cfg.D) != 72*time.Hour {
		t.Fatalf("good: %v %+v", err, cfg)
	}
}

func TestExitCode(t *testing.T) {
	for err, want := range map[error]int{
		nil: 0, errHelp: 0, errors.New("x"): 1, Usagef("--x"): 2, AsUsage(errors.New("y")): 2,
		ErrIncomplete: 3, ErrRejected: 1,
	} {
		if got := ExitCode(err); got != want {
			t.Errorf("ExitCode(%v) = %d, want %d", err, got, want)
		}
	}
}
