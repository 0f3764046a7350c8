package producer

import (
	"context"
	"flag"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/telemetry"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:    "serve",
		Summary: "HTTP ingest: POST /v1/deltas, GET /healthz",
		Help: `HTTP ingest on INGEST_ADDR (default :8080): POST /v1/deltas (NDJSON or a
JSON array, Authorization: Bearer $INGEST_TOKEN) answers 202
{"accepted":n,"published":p,"duplicates":d,"rejected":m,"errors":[...]}:
accepted = published + duplicates (stored now, or already stored earlier).
GET /healthz answers 200 on the same port once NATS is connected, and
METRICS_ADDR (default :9092) serves /metrics and /healthz as every service
does (the compose health check and Kubernetes probes use it).`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			return func(ctx context.Context, in *cli.Invocation) error {
				if err := in.NoArgs(); err != nil {
					return err
				}
				var env Env
				if err := cli.LoadEnv(&env); err != nil {
					return err
				}
				var senv ServeEnv
				if err := cli.LoadEnv(&senv); err != nil {
					return err
				}
				if senv.Token == "" {
					return cli.Usagef("INGEST_TOKEN is required for serve")
				}
				log, err := telemetry.NewLoggerTo(env.LogLevel, in.Stderr)
				if err != nil {
					return cli.AsUsage(err)
				}
				defer func() { _ = log.Sync() }()
				return Serve(ctx, ServeConfig{Env: env, Addr: senv.Addr, MetricsAddr: senv.MetricsAddr, Ingest: IngestConfig{Token: senv.Token, MaxBody: senv.MaxBody, Logger: log}})
			}
		},
	}
}
