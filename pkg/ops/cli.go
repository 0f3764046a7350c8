package ops

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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
		},
		Footer: `Environment (flags win):
  NATS_URL     NATS server URL(s), comma-separated (--nats)
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
	return Program().Run(ctx, args, stdout, stderr)
}

// natsFlags are the connection flags every command that reads JetStream has.
type natsFlags struct {
	url     string
	timeout time.Duration
	wait    time.Duration // > 0: retry while JetStream does not answer
	hasWait bool
}

func addNATSFlags(fs *flag.FlagSet) *natsFlags {
	n := &natsFlags{}
	fs.StringVar(&n.url, "nats", os.Getenv("NATS_URL"), "NATS server URL(s) (env NATS_URL)")
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
	if n.url == "" {
		return nil, nil, nil, cli.Usagef("--nats or NATS_URL is required")
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
