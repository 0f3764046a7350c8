// Command standalone runs the whole contactsync pipeline in one process:
// embedded JetStream, the embedded Salesforce emulator (unless SF_LOGIN_URL
// is set), the producer, a fleet of upserters and the reconciler. It prints a
// summary that accounts for every delta and exits 0 only when they all add up.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kelseyhightower/envconfig"

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

Usage: standalone [flags]

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("standalone", flag.ContinueOnError)
	fs.SetOutput(stderr)
	contacts := fs.Int("contacts", 10000, "generated contacts when no --input is given")
	input := fs.String("input", "", "NDJSON deltas or a .csv file to sync instead of generated data")
	mapping := fs.String("mapping", "", "CSV column mapping (JSON or YAML); default: external_id, segment, version|updated_at, first_name, last_name, email, phone, title")
	upserters := fs.Int("upserters", 4, "upserter fleet members (each with its own NATS connection)")
	data := fs.String("data", "", "keep the embedded JetStream store in DIR (default: a temp dir, removed)")
	asJSON := fs.Bool("json", false, "print the summary as one JSON object on stdout")
	seed := fs.Uint64("seed", 1, "seed for generated data")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up waiting for outcomes after this long")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output(), "\nEnvironment (SYNC_POLICY, SYNC_POLICY_<SEGMENT>, SYNC_ADOPT_UNLINKED are read too):")
		_ = envconfig.Usagef("", &env{}, fs.Output(), envconfig.DefaultTableFormat)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var e env
	if err := envconfig.Process("", &e); err != nil {
		fmt.Fprintln(stderr, "standalone:", err)
		return 2
	}
	policy, err := conflict.ConfigFromEnv(os.Environ())
	if err != nil {
		fmt.Fprintln(stderr, "standalone:", err)
		return 2
	}
	log, err := telemetry.NewLogger(e.LogLevel)
	if err != nil {
		fmt.Fprintln(stderr, "standalone:", err)
		return 2
	}
	defer func() { _ = log.Sync() }()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := pipeline.Run(ctx, pipeline.Config{
		NATSURL: e.NATSURL, DataDir: *data, Upserters: *upserters, Input: *input, Mapping: *mapping,
		Synth: synth.Options{Contacts: *contacts, Seed: *seed}, SF: e.Env.Config(), Sim: e.Sim.config(), Conflict: policy, Upsert: e.Config,
		Timeout: *timeout, Progress: stderr, Logger: log,
	})
	if err != nil {
		fmt.Fprintln(stderr, "standalone:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		_ = enc.Encode(sum)
	} else {
		sum.WriteTable(stdout)
	}
	if len(sum.Gaps) > 0 {
		return 3
	}
	return 0
}
