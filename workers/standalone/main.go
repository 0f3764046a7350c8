// Command standalone runs the whole contactsync pipeline in one process:
// embedded JetStream, the embedded Salesforce emulator (unless SF_LOGIN_URL
// is set), the producer, a fleet of upserters and the reconciler. It prints a
// summary that accounts for every delta and exits 0 only when they all add up.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/synth"
	"github.com/contactsync/contactsync/pkg/telemetry"
	"github.com/contactsync/contactsync/pkg/upsert"
)

type env struct {
	NATSURL  string `envconfig:"NATS_URL" desc:"external NATS server(s); empty = embedded JetStream"`
	LogLevel string `envconfig:"LOG_LEVEL" default:"warn" desc:"debug, info, warn or error (logs go to stderr)"`
	salesforce.Env
	upsert.Config
	Sim
}

// Sim tunes the embedded emulator (ignored when SF_LOGIN_URL is set), so the
// demo can show latency, faults, Block rules and a spent daily allocation.
type Sim struct {
	DuplicateAction    string   `envconfig:"SFSIM_DUPLICATE_ACTION" default:"allow-alert" desc:"embedded emulator: duplicate rule action allow-alert, block or off"`
	DailyLimit         int      `envconfig:"SFSIM_DAILY_LIMIT" desc:"embedded emulator: daily API allocation (default 100000)"`
	LatencyMS          int      `envconfig:"SFSIM_LATENCY_MS" desc:"embedded emulator: latency added to every call, ms"`
	JitterMS           int      `envconfig:"SFSIM_JITTER_MS" desc:"embedded emulator: plus 0..N ms"`
	LatencyPerRecordMS int      `envconfig:"SFSIM_LATENCY_PER_RECORD_MS" desc:"embedded emulator: plus N ms (0..3000) per record written"`
	ErrorRate          float64  `envconfig:"SFSIM_ERROR_RATE" desc:"embedded emulator: 0..1 chance of an injected fault"`
	Errors             []string `envconfig:"SFSIM_ERRORS" desc:"embedded emulator: faults drawn from UNABLE_TO_LOCK_ROW, SERVER_UNAVAILABLE, HTML_502"`
}

func (s Sim) config() sfsim.Config {
	return sfsim.Config{DuplicateAction: s.DuplicateAction, DailyLimit: s.DailyLimit,
		Faults: sfsim.Faults{LatencyMS: s.LatencyMS, JitterMS: s.JitterMS, LatencyPerRecordMS: s.LatencyPerRecordMS,
			ErrorRate: s.ErrorRate, Errors: s.Errors}}
}

const usage = `standalone: the whole contactsync pipeline in one process.

With no input it generates --contacts contacts (several out-of-order updates
each, email changes, quotes and non-Latin names, ~1% invalid rows) and, on the
embedded emulator, pre-existing contacts that collide by email so the conflict
policy (SYNC_POLICY) has work to do. It waits until every delta has an
outcome, prints a summary, and exits 0 only when
  rejected + published = read, and
  created + updated + adopted + rekeyed + stale_skipped + held + dead_lettered + deleted = published.

`

func main() { program().Main() }

// run is main without the exit, for tests: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	p := program()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return p.Exit(p.Run(ctx, args, stdout, stderr), stderr)
}

func program() *cli.Program {
	cmd := &cli.Command{Name: "", Summary: strings.TrimSpace(usage), Setup: setup}
	return &cli.Program{Name: "standalone", Default: cmd,
		Footer: "Environment (SYNC_POLICY, SYNC_POLICY_<SEGMENT>, SYNC_ADOPT_UNLINKED are read too):\n" + cli.EnvHelp(&env{})}
}

func setup(fs *flag.FlagSet) cli.Action {
	contacts := fs.Int("contacts", 10000, "generated contacts when no --input is given (> 0)")
	input := fs.String("input", "", "NDJSON deltas or a .csv file to sync instead of generated data")
	source := fs.String("source", "", "postgres://… : read a PostgreSQL table once by watermark instead (needs --mapping, the poll mapping)")
	mapping := fs.String("mapping", "", "CSV column mapping (JSON or YAML); default: external_id, segment, version|updated_at, first_name, last_name, email, phone, title")
	upserters := fs.Int("upserters", 4, "upserter fleet members, 1..64 (each with its own NATS connection)")
	data := fs.String("data", "", "the embedded JetStream store's directory, kept after the run (default: a new contactsync-run-* directory under $TMPDIR, kept too)")
	seed := fs.Uint64("seed", 1, "seed for generated data")
	var timeout, shutdown time.Duration
	cli.DurationVar(fs, &timeout, "timeout", 30*time.Minute, "give up waiting for outcomes after this long")
	cli.DurationVar(fs, &shutdown, "shutdown-timeout", pipeline.DefaultShutdownTimeout,
		"one deadline for stopping every upserter and the reconciler together (caps SYNC_SHUTDOWN_TIMEOUT)")
	return func(ctx context.Context, in *cli.Invocation) error {
		switch {
		case len(in.Args) > 0:
			return cli.Usagef("unexpected arguments %q (a file to sync goes in --input FILE)", in.Args)
		case *contacts <= 0 && *input == "":
			return cli.Usagef("--contacts %d: want > 0", *contacts)
		case in.Set("contacts") && *input != "":
			return cli.Usagef("--contacts and --input are exclusive (--contacts generates the input)")
		case *source != "" && (*input != "" || in.Set("contacts")):
			return cli.Usagef("--source is exclusive with --input and --contacts")
		case *source != "" && !pipeline.IsPostgres(*source):
			return cli.Usagef("--source: want a postgres:// URL")
		case *source != "" && *mapping == "":
			return cli.Usagef("--source needs --mapping (the table or query and its column mapping)")
		case *upserters < 1 || *upserters > 64:
			return cli.Usagef("--upserters %d: want 1..64", *upserters)
		case timeout <= 0:
			return cli.Usagef("--timeout %s: want > 0", cli.FormatDuration(timeout))
		case shutdown <= 0:
			return cli.Usagef("--shutdown-timeout %s: want > 0", cli.FormatDuration(shutdown))
		}
		if *data != "" {
			if err := writableDir(*data); err != nil {
				return cli.Usagef("--data %s: %v", *data, err)
			}
		}
		if *input != "" {
			if _, err := os.Stat(*input); err != nil {
				return cli.Usagef("--input: %v", err)
			}
		}
		var e env
		if err := cli.LoadEnv(&e); err != nil {
			return err
		}
		policy, err := conflict.ConfigFromEnv(os.Environ())
		if err != nil {
			return cli.AsUsage(err)
		}
		log, err := telemetry.NewLoggerTo(e.LogLevel, in.Stderr)
		if err != nil {
			return cli.AsUsage(err)
		}
		defer func() { _ = log.Sync() }()

		dataDir := *data
		if dataDir == "" && e.NATSURL == "" {
			if dataDir, err = os.MkdirTemp("", "contactsync-run-"); err != nil {
				return fmt.Errorf("--data: a directory for the embedded JetStream store: %w", err)
			}
		}
		progress, every, finish, err := progressWriter(in.Stdout, in.Stderr, in.JSON)
		if err != nil {
			return err
		}
		sum, err := pipeline.Run(ctx, pipeline.Config{
			NATSURL: e.NATSURL, DataDir: dataDir, ProgressEvery: every, Upserters: *upserters, Input: *input, Mapping: *mapping, Source: *source,
			Synth: synth.Options{Contacts: *contacts, Seed: *seed}, SF: e.Env.Config(), Sim: e.Sim.config(), Conflict: policy, Upsert: e.Config,
			Timeout: timeout, ShutdownTimeout: shutdown, Progress: progress, Logger: log,
		})
		finish()
		if err != nil {
			return err
		}
		sum.Inspect = inspectCommand(sum.DataDir, e.NATSURL)
		if in.JSON {
			_ = json.NewEncoder(in.Stdout).Encode(sum)
		} else {
			sum.WriteTable(in.Stdout)
		}
		switch {
		case len(sum.Gaps) > 0 && sum.Paused != "":
			return fmt.Errorf("%w: %s; %d deltas wait in CONTACTS (see the summary)", cli.ErrIncomplete, sum.Paused, sum.Published-sum.Finished())
		case len(sum.Gaps) > 0:
			return fmt.Errorf("%w: %s (see the summary)", cli.ErrIncomplete, strings.Join(sum.Gaps, "; "))
		case sum.Read > 0 && sum.Rejected == sum.Read:
			return fmt.Errorf("%w: all %d records of the input (is it the right file and --mapping?)", cli.ErrRejected, sum.Read)
		}
		return nil
	}
}

// writableDir makes dir if needed and checks a file can be created in it,
// so an unwritable --data is reported as such, not as a server that never
// became ready.
func writableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".writable-")
	if err != nil {
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// inspectCommand is the syncctl command that reads the run's data after it
// ended: on the kept store, or on the external NATS servers.
func inspectCommand(dataDir, natsURL string) string {
	switch {
	case dataDir != "":
		return "go run ./workers/syncctl --data " + shellQuote(dataDir) + " dlq list   (also: status, report, trace --external-id X; remove the directory when done)"
	case natsURL != "":
		return "go run ./workers/syncctl --nats " + shellQuote(bus.RedactURLs(natsURL)) + " dlq list"
	}
	return ""
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == ':' || r == ',' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// progressWriter decides where progress goes, so it never mixes into the
// JSON log stream on stderr:
//   - stderr is a terminal: one status line on stderr, rewritten in place
//     every second (deltas done, rate, ETA), ended when the run ends;
//   - otherwise, without --json: plain lines on stdout every 5 seconds,
//     before the summary;
//   - with --json (stdout is the summary object alone): JSON log entries
//     on stderr ("logger":"progress", "line"), like every other log line.
//
// It returns the writer, how often to write, and a func that ends the
// progress output (the newline after a terminal's status line).
func progressWriter(stdout, stderr io.Writer, jsonOut bool) (io.Writer, time.Duration, func(), error) {
	if isTerminal(stderr) {
		t := &statusLine{w: stderr}
		return t, time.Second, t.end, nil
	}
	if !jsonOut {
		return stdout, 5 * time.Second, func() {}, nil
	}
	log, err := telemetry.NewLoggerTo("info", stderr)
	if err != nil {
		return nil, 0, nil, err
	}
	return &logLines{log: log.Named("progress")}, 5 * time.Second, func() {}, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Stat() (os.FileInfo, error) })
	if !ok {
		if u, ok := w.(interface{ Unwrap() io.Writer }); ok {
			return isTerminal(u.Unwrap())
		}
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// statusLine rewrites one terminal line per progress line.
type statusLine struct {
	mu    sync.Mutex
	w     io.Writer
	wrote bool
}

func (s *statusLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			fmt.Fprintf(s.w, "\r\033[K%s", line)
			s.wrote = true
		}
	}
	return len(p), nil
}

func (s *statusLine) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wrote {
		fmt.Fprintln(s.w)
		s.wrote = false
	}
}

// logLines logs each line written to it.
type logLines struct {
	log *zap.Logger
	mu  sync.Mutex
	buf []byte
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		if line := strings.TrimSpace(string(l.buf[:i])); line != "" {
			l.log.Info("progress", zap.String("line", line))
		}
		l.buf = l.buf[i+1:]
	}
}
