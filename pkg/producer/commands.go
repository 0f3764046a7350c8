package producer

import (
	"github.com/contactsync/contactsync/pkg/cli"
)

// Program is the producer command line. Each command lives in its own
// cli_*.go file; adding one is one entry here.
func Program() *cli.Program {
	return &cli.Program{
		Name:    "producer",
		Summary: "producer publishes contact deltas (schema contact.delta/v1) to NATS JetStream.",
		Commands: []*cli.Command{
			publishCommand(),
			validateCommand(),
			serveCommand(),
			pollCommand(),
		},
		Footer: "Environment:\n" + cli.EnvHelp(&struct {
			Env
			ServeEnv
			PollEnv
		}{}) + `
Publishing is idempotent: each delta's Nats-Msg-Id is external_id:version, so
re-running an import within the 10-minute duplicate window stores nothing twice
(counted as duplicates), and a publish JetStream did not confirm is resent
with the same ID. The streams and buckets are created on start.

Exit status: 0 ok, 1 failure or rejected records, 2 usage (bad flag,
argument or setting), 3 incomplete.`,
	}
}
