package ops

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/cli"
)

// Program is the syncctl command line. Each command lives in its own
// cli_*.go file; adding one is one entry here.
func Program() *cli.Program {
	return &cli.Program{
		Name:    "syncctl",
		Summary: "syncctl: operate a contactsync pipeline (NATS JetStream + Salesforce).",
		Commands: []*cli.Command{
			statusCommand(),
			reportCommand(),
			dlqListCommand(),
			dlqShowCommand(),
			dlqReplayCommand(),
			dlqPurgeCommand(),
			eraseCommand(),
			backfillCommand(),
			traceCommand(),
			reconcileCommand(),
		},
		Footer: `Environment (flags win):
  NATS_URL     NATS server URL(s), comma-separated (--nats)
  --data DIR   instead of NATS: start an embedded JetStream server on the store
               a standalone run kept (syncctl --data DIR dlq list)
  SF_LOGIN_URL report: when set, also query the org (SF_AUTH, SF_CLIENT_ID,
               SF_CLIENT_SECRET, SF_USERNAME, SF_PRIVATE_KEY_FILE, SF_API_VERSION)

Exit status: 0 ok, 1 failure (or rejected lines in a file backfill), 2 usage
(bad flag, argument or setting), 3 incomplete.`,
	}
}

// RunCLI runs the syncctl command line with args (without the program name).
// Results go to stdout, progress and warnings to stderr; cli.ExitCode maps
// the error to the exit status.
func RunCLI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return Program().Run(ctx, globalFlagsLast(args), stdout, stderr)
}

// Main is syncctl's main: RunCLI on os.Args with SIGINT/SIGTERM cancelling
// it, the error printed once, and the exit status.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := RunCLI(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(Program().Exit(err, os.Stderr))
}

// globalFlags take a value and may come before the command words
// (syncctl --data DIR dlq list); every command defines them.
var globalFlags = map[string]bool{"-data": true, "--data": true, "-nats": true, "--nats": true}

// globalFlagsLast moves "--data DIR" and "--nats URL" given before the
// command words to after them, where the command's flag set parses them
// (the command finder would take DIR for a command word).
func globalFlagsLast(args []string) []string {
	var moved, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		if globalFlags[a] && i+1 < len(args) {
			moved = append(moved, a, args[i+1])
			i++
			continue
		}
		rest = append(rest, a)
	}
	if len(moved) == 0 {
		return args
	}
	if i := slices.Index(rest, "--"); i >= 0 {
		return slices.Concat(rest[:i], moved, rest[i:])
	}
	return append(rest, moved...)
}

// natsFlags are the connection flags every command that reads JetStream has.
type natsFlags struct {
	url     string
	data    string // --data: an embedded server on this JetStream store instead
	timeout time.Duration
	wait    time.Duration // > 0: retry while JetStream does not answer
	hasWait bool
}

func addNATSFlags(fs *flag.FlagSet) *natsFlags {
	n := &natsFlags{}
	fs.StringVar(&n.url, "nats", os.Getenv("NATS_URL"), "NATS server URL(s) (env NATS_URL)")
	fs.StringVar(&n.data, "data", "", "start an embedded JetStream server on this store directory (a finished standalone --data run) instead of --nats")
	cli.DurationVar(fs, &n.timeout, "timeout", 0, "give up after this long (0 = no limit)")
	return n
}

// withWait adds --wait: how long reads are retried while JetStream does not
// answer, and lets the connection be made while the servers are away.
func (n *natsFlags) withWait(fs *flag.FlagSet) *natsFlags {
	n.hasWait = true
	cli.DurationVar(fs, &n.wait, "wait", DefaultWait, "keep retrying this long while JetStream does not answer (no responders, timeouts, no leader)")
	return n
}

// session is a connection for one command.
type session struct {
	nc  *nats.Conn
	ops *Ops
}

func (n *natsFlags) connect(ctx context.Context) (context.Context, *session, func(), error) {
	stop := func() {}
	if n.data != "" {
		if n.url != "" && n.url != os.Getenv("NATS_URL") {
			return nil, nil, nil, cli.Usagef("--data and --nats are exclusive (--data starts its own server)")
		}
		e, err := startStore(n.data)
		if err != nil {
			return nil, nil, nil, err
		}
		n.url, stop = e.ClientURL(), e.Shutdown
	}
	ctx, s, done, err := n.dial(ctx)
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	return ctx, s, func() { done(); stop() }, nil
}

// startStore starts an embedded JetStream server on dir, the store of a
// standalone run (standalone --data DIR, or the directory its summary
// names). Only one server may use a store at a time: use it after the run
// ended.
func startStore(dir string) (*bus.Embedded, error) {
	st, err := os.Stat(filepath.Join(dir, "jetstream"))
	if err != nil || !st.IsDir() {
		if _, derr := os.Stat(dir); derr != nil {
			return nil, cli.Usagef("--data %s: %v", dir, derr)
		}
		return nil, cli.Usagef("--data %s: no JetStream store in it (want the directory a standalone run kept, holding jetstream/)", dir)
	}
	e, err := bus.StartEmbedded(dir)
	if err != nil {
		return nil, fmt.Errorf("--data %s: %w", dir, err)
	}
	return e, nil
}

func (n *natsFlags) dial(ctx context.Context) (context.Context, *session, func(), error) {
	if n.url == "" {
		return nil, nil, nil, cli.Usagef("--nats or NATS_URL is required (or --data DIR, a standalone run's store)")
	}
	nopts := []nats.Option{nats.Name("contactsync-syncctl")}
	var oopts []Option
	if n.hasWait {
		if n.wait <= 0 {
			return nil, nil, nil, cli.Usagef("--wait %s: want > 0", cli.FormatDuration(n.wait))
		}
		// A server restarting is waited for like a leader election.
		nopts = append(nopts, nats.RetryOnFailedConnect(true), nats.ReconnectWait(250*time.Millisecond))
		oopts = append(oopts, WithRetry(bus.Retry{MaxElapsed: n.wait, CallTimeout: min(bus.DefaultCallTimeout, n.wait)}))
	}
	nc, err := nats.Connect(n.url, nopts...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("connect to NATS at %s (--nats/NATS_URL): %w", bus.RedactURLs(n.url), err)
	}
	js, err := bus.NewJetStream(nc)
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	cancel := func() {}
	if n.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, n.timeout)
	}
	return ctx, &session{nc: nc, ops: New(js, zap.NewNop(), oopts...)}, func() { cancel(); nc.Close() }, nil
}

// unavailable turns a read that gave up waiting for JetStream into an error
// that says where syncctl looked and what did not answer.
func (n *natsFlags) unavailable(ctx context.Context, err error) error {
	var re *bus.RetryError
	if !errors.As(err, &re) || ctx.Err() != nil {
		return err
	}
	return fmt.Errorf("JetStream at %s (--nats/NATS_URL) did not answer for %s: could not read %s (are the servers up, with JetStream, and has the cluster elected its leaders?): %w",
		bus.RedactURLs(n.url), re.Elapsed.Round(time.Millisecond), re.Step, err)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
