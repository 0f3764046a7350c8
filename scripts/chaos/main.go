// Command chaos proves contactsync's ordering and exactly-once invariants
// with the fleet as separate processes under faults (issue 8).
//
// It builds the worker binaries and a nats-server (the version pinned in
// go.mod), starts a 3-node JetStream cluster with R3 streams, the Salesforce
// emulator with injected lock/503 faults and latency, and a recording proxy
// between the workers and the emulator that logs every Contact write with
// its outcome in time order. It feeds generated contacts through the
// producer in chunks while it SIGKILLs upserters, a NATS node and restarts
// the reconciler, waits until everything settles, and then checks from
// Salesforce's side (SOQL through the REST API) and the DLQ stream that
// every valid contact exists once at its newest version, nothing invalid
// was written, the DLQ holds exactly the rows Salesforce refuses, each held
// conflict has one exception record, and no contact was ever written an
// older version after a newer one.
//
//	go run ./scripts/chaos                       # 20,000 contacts, 4 upserters, 10 kills, 1 node kill
//	go run ./scripts/chaos --contacts 2000 --upserter-kills 3
//	go run ./scripts/chaos --help
//
// Exit status: 0 every invariant held, 1 a violation (listed), 2 bad flags
// or a setup step failed (named).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Config is one run. Zero values are not defaults: use defaultConfig.
type Config struct {
	Contacts           int
	Seed               uint64
	Upserters          int
	UpserterKills      int
	NodeKills          int
	ReconcilerRestarts int
	ChaosInterval      time.Duration
	RestartDelay       time.Duration
	NodeDown           time.Duration
	NodeTarget         string // leader | random
	MemberNames        string // stable | fresh | mixed
	ChunkEvery         time.Duration
	Quiet              time.Duration
	Timeout            time.Duration
	StartTimeout       time.Duration

	LatencyMS int
	JitterMS  int
	ErrorRate float64
	Errors    []string

	MaxVersions   int
	ConflictRate  float64
	AdoptRate     float64
	MixedCaseRate float64
	InvalidRate   float64
	RejectRate    float64
	LateRate      float64

	Dir       string   // work directory; "" = a new temp dir
	Keep      bool     // keep the work directory
	BinDir    string   // prebuilt binaries; "" = build them
	LogLevel  string   // workers' LOG_LEVEL
	WorkerEnv []string // extra KEY=VALUE for every worker (tests)
}

func defaultConfig() Config {
	return Config{
		Contacts: 20000, Seed: 1, Upserters: 4, UpserterKills: 10, NodeKills: 1, ReconcilerRestarts: 1,
		ChaosInterval: 3 * time.Second, RestartDelay: 2 * time.Second, NodeDown: 8 * time.Second,
		NodeTarget: "leader", MemberNames: "mixed", ChunkEvery: time.Second, Quiet: 3 * time.Second,
		Timeout: 20 * time.Minute, StartTimeout: 90 * time.Second,
		LatencyMS: 40, JitterMS: 80, ErrorRate: 0.05, Errors: []string{"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"},
		MaxVersions: 3, ConflictRate: 0.03, AdoptRate: 0.01, MixedCaseRate: 0.01, InvalidRate: 0.01, RejectRate: 0.005,
		LateRate: 0.05, LogLevel: "info",
	}
}

// usageError names a bad flag (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// setupError names the step that failed (exit 2).
type setupError struct {
	step string
	err  error
}

func (e *setupError) Error() string { return "setup: " + e.step + ": " + e.err.Error() }
func (e *setupError) Unwrap() error { return e.err }

func setupErr(step string, err error) error { return &setupError{step: step, err: err} }

func (c Config) validate() error {
	bad := func(flag, format string, args ...any) error {
		return usageError{"--" + flag + ": " + fmt.Sprintf(format, args...)}
	}
	rate := func(flag string, v float64) error {
		if v < 0 || v > 1 || v != v {
			return bad(flag, "%v out of range 0..1", v)
		}
		return nil
	}
	switch {
	case c.Contacts < 10:
		return bad("contacts", "%d: want at least 10", c.Contacts)
	case c.Upserters < 1 || c.Upserters > 16:
		return bad("upserters", "%d: want 1..16 (one per partition at most)", c.Upserters)
	case c.UpserterKills < 0:
		return bad("upserter-kills", "%d: want >= 0", c.UpserterKills)
	case c.NodeKills < 0 || c.NodeKills > 5:
		return bad("node-kills", "%d: want 0..5", c.NodeKills)
	case c.ReconcilerRestarts < 0:
		return bad("reconciler-restarts", "%d: want >= 0", c.ReconcilerRestarts)
	case c.ChaosInterval < 100*time.Millisecond:
		return bad("chaos-interval", "%v: want at least 100ms", c.ChaosInterval)
	case c.RestartDelay < 0:
		return bad("restart-delay", "%v: want >= 0", c.RestartDelay)
	case c.NodeDown < 0:
		return bad("node-down", "%v: want >= 0", c.NodeDown)
	case c.NodeTarget != "leader" && c.NodeTarget != "random":
		return bad("node-target", "%q: want leader or random", c.NodeTarget)
	case c.MemberNames != "stable" && c.MemberNames != "fresh" && c.MemberNames != "mixed":
		return bad("member-names", "%q: want stable, fresh or mixed", c.MemberNames)
	case c.ChunkEvery < 10*time.Millisecond:
		return bad("chunk-every", "%v: want at least 10ms", c.ChunkEvery)
	case c.Quiet < 500*time.Millisecond:
		return bad("quiet", "%v: want at least 500ms", c.Quiet)
	case c.Timeout < 10*time.Second:
		return bad("timeout", "%v: want at least 10s", c.Timeout)
	case c.StartTimeout < time.Second:
		return bad("start-timeout", "%v: want at least 1s", c.StartTimeout)
	case c.LatencyMS < 0 || c.LatencyMS > 60000:
		return bad("latency", "%d: want 0..60000 ms", c.LatencyMS)
	case c.JitterMS < 0 || c.JitterMS > 60000:
		return bad("jitter", "%d: want 0..60000 ms", c.JitterMS)
	case c.MaxVersions < 1 || c.MaxVersions > 20:
		return bad("max-versions", "%d: want 1..20", c.MaxVersions)
	}
	for _, r := range []struct {
		flag string
		v    float64
	}{{"error-rate", c.ErrorRate}, {"conflict-rate", c.ConflictRate}, {"adopt-rate", c.AdoptRate},
		{"mixed-case-rate", c.MixedCaseRate}, {"invalid-rate", c.InvalidRate}, {"reject-rate", c.RejectRate}, {"late-rate", c.LateRate}} {
		if err := rate(r.flag, r.v); err != nil {
			return err
		}
	}
	if s := c.ConflictRate + c.AdoptRate + c.MixedCaseRate + c.InvalidRate; s > 0.5 {
		return bad("conflict-rate", "conflict + adopt + mixed-case + invalid rates add up to %.2f: want at most 0.5", s)
	}
	for _, e := range c.Errors {
		switch e {
		case "UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "HTML_502":
		default:
			return bad("errors", "%q: want UNABLE_TO_LOCK_ROW, SERVER_UNAVAILABLE or HTML_502", e)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("log-level", "%q: want debug, info, warn or error", c.LogLevel)
	}
	return nil
}

const usageText = `chaos: proves contactsync's ordering and exactly-once invariants with the
fleet as separate processes under faults.

It builds the workers and nats-server (the version in go.mod), starts a
3-node JetStream cluster (R3 streams and buckets, file store), the Salesforce
emulator with injected UNABLE_TO_LOCK_ROW / SERVER_UNAVAILABLE faults and
latency, and a recording proxy between the workers and the emulator. It
publishes generated contacts with the producer in chunks while it SIGKILLs
upserters (restarting them), SIGKILLs a NATS node (restarting it) and
SIGTERMs the reconciler (restarting it); then waits until every consumer is
drained and no write has been seen for --quiet, and checks from Salesforce's
side and the DLQ stream:
  - every valid contact exists exactly once (external IDs compared
    case-insensitively) at its newest version (the Description marker);
  - nothing invalid was written; the DLQ holds exactly the rows Salesforce
    refuses, each once; the producer refused exactly the bad rows;
  - one Contact_Sync_Exception__c per held conflict (SYNC_POLICY=strict),
    no duplicate Exception_Key__c;
  - the write log never shows an older version applied after a newer one
    (regressions) nor two writes of one contact in flight at once.

Workers get the harness's environment (so SYNC_ACK_WAIT, SYNC_LEASE_TTL,
SF_MAX_CONCURRENCY… can be tuned) except what the harness sets itself:
NATS_URL, NATS_REPLICAS=3, SF_LOGIN_URL (the proxy), SF_CLIENT_*,
SYNC_MEMBER, SYNC_POLICY=strict, SYNC_ADOPT_UNLINKED=true, METRICS_ADDR,
LOG_LEVEL.

Usage: go run ./scripts/chaos [flags]

Exit status: 0 no violation, 1 violations (listed), 2 bad flags or a failed
setup step (named).

Flags:
`

// parseFlags fills a Config from args.
func parseFlags(args []string, stderr io.Writer) (Config, bool, error) {
	c := defaultConfig()
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.Contacts, "contacts", c.Contacts, "generated contacts (each with 1..--max-versions deltas)")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed of the data, the chaos schedule and the emulator's faults")
	fs.IntVar(&c.Upserters, "upserters", c.Upserters, "upserter processes, each with its own SYNC_MEMBER")
	fs.IntVar(&c.UpserterKills, "upserter-kills", c.UpserterKills, "SIGKILLs of random upserters over the run (each restarted after --restart-delay)")
	fs.IntVar(&c.NodeKills, "node-kills", c.NodeKills, "SIGKILLs of a NATS node over the run (each restarted after --node-down)")
	fs.IntVar(&c.ReconcilerRestarts, "reconciler-restarts", c.ReconcilerRestarts, "SIGTERMs of the reconciler (each followed by a restart)")
	fs.DurationVar(&c.ChaosInterval, "chaos-interval", c.ChaosInterval, "time between two chaos events; publishing spans all of them")
	fs.DurationVar(&c.RestartDelay, "restart-delay", c.RestartDelay, "how long a killed upserter stays down")
	fs.DurationVar(&c.NodeDown, "node-down", c.NodeDown, "how long a killed NATS node stays down")
	fs.StringVar(&c.NodeTarget, "node-target", c.NodeTarget, "which node to kill: leader (of CONTACTS) or random")
	fs.StringVar(&c.MemberNames, "member-names", c.MemberNames, "SYNC_MEMBER of a restarted upserter: stable (same name), fresh (new name) or mixed (alternating)")
	fs.DurationVar(&c.ChunkEvery, "chunk-every", c.ChunkEvery, "publish one chunk of the input this often (the input is split to span the chaos events)")
	fs.DurationVar(&c.Quiet, "quiet", c.Quiet, "quiescence: no Salesforce write for this long (and nothing pending)")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "give up waiting for quiescence after this long (from the start)")
	fs.DurationVar(&c.StartTimeout, "start-timeout", c.StartTimeout, "how long a process may take to become ready")
	fs.IntVar(&c.LatencyMS, "latency", c.LatencyMS, "emulator latency per data call, ms")
	fs.IntVar(&c.JitterMS, "jitter", c.JitterMS, "plus a uniform random 0..N ms")
	fs.Float64Var(&c.ErrorRate, "error-rate", c.ErrorRate, "emulator fault rate 0..1 (per record for UNABLE_TO_LOCK_ROW in collections, per request otherwise)")
	errs := fs.String("errors", strings.Join(c.Errors, ","), "injected fault codes: UNABLE_TO_LOCK_ROW, SERVER_UNAVAILABLE, HTML_502")
	fs.IntVar(&c.MaxVersions, "max-versions", c.MaxVersions, "most versions (deltas) per contact")
	fs.Float64Var(&c.ConflictRate, "conflict-rate", c.ConflictRate, "share of contacts whose email belongs to a seeded Contact with another external ID (held, one exception each)")
	fs.Float64Var(&c.AdoptRate, "adopt-rate", c.AdoptRate, "share of contacts whose email belongs to a seeded Contact without external ID (adopted)")
	fs.Float64Var(&c.MixedCaseRate, "mixed-case-rate", c.MixedCaseRate, "share of contacts whose deltas spell the external ID MC_n / mc_n / Mc_n (one contact to Salesforce)")
	fs.Float64Var(&c.InvalidRate, "invalid-rate", c.InvalidRate, "share of contacts whose only delta Salesforce refuses (bad email, too long, unknown field): DLQ")
	fs.Float64Var(&c.RejectRate, "reject-rate", c.RejectRate, "chance per contact of an extra row the producer refuses at ingest")
	fs.Float64Var(&c.LateRate, "late-rate", c.LateRate, "share of older versions moved far behind (a later chunk)")
	fs.StringVar(&c.Dir, "dir", "", "work directory (binaries, configs, stores, logs); default a new temp dir")
	fs.BoolVar(&c.Keep, "keep", false, "keep the work directory (always kept when the run fails)")
	fs.StringVar(&c.BinDir, "bin", "", "use the binaries in DIR (upserter, producer, reconciler, sfsim, nats-server) instead of building them")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "LOG_LEVEL of the workers")
	asJSON := fs.Bool("json", false, "print the report as JSON on stdout (progress stays on stderr)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, false, flag.ErrHelp
		}
		return c, false, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return c, false, usageError{fmt.Sprintf("unexpected arguments %q", fs.Args())}
	}
	c.Errors = nil
	for _, e := range strings.Split(*errs, ",") {
		if e = strings.TrimSpace(e); e != "" {
			c.Errors = append(c.Errors, e)
		}
	}
	return c, *asJSON, c.validate()
}

func main() {
	os.Exit(mainExit(os.Args[1:], os.Stdout, os.Stderr))
}

func mainExit(args []string, stdout, stderr io.Writer) int {
	cfg, asJSON, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		if rep != nil && len(rep.Logs) > 0 {
			fmt.Fprintf(stderr, "logs (%s):\n", rep.Dir)
			for _, l := range rep.Logs {
				fmt.Fprintln(stderr, "  ", l)
			}
		}
		return 2
	}
	if asJSON {
		_ = rep.WriteJSON(stdout)
	} else {
		rep.WriteTable(stdout)
	}
	if len(rep.Violations) > 0 {
		return 1
	}
	return 0
}
