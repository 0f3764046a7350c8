// Command sfsim serves the Salesforce emulator (pkg/sfsim) over HTTP for
// local development, CI, docker-compose and load tests.
//
// Configuration is by environment; run with --help for the list.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/service"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/telemetry"
)

type config struct {
	Addr               string        `envconfig:"SFSIM_ADDR" default:"127.0.0.1:8088" desc:"listen address; also the host of instance_url"`
	ClientID           string        `envconfig:"SFSIM_CLIENT_ID" default:"contactsync" desc:"client_credentials client id (and JWT iss); its sessions are the integration user"`
	ClientSecret       string        `envconfig:"SFSIM_CLIENT_SECRET" default:"contactsync-secret" desc:"client_credentials secret"`
	AdminToken         string        `envconfig:"SFSIM_ADMIN_TOKEN" desc:"bearer token required on /__sfsim/ (set it when listening beyond loopback)"`
	JWTCertFile        string        `envconfig:"SFSIM_JWT_CERT_FILE" desc:"PEM public key or certificate verifying JWT bearer assertions (RS256); empty = JWT grant off"`
	SchemaFile         string        `envconfig:"SFSIM_SCHEMA_FILE" desc:"objects, fields and rules as YAML (.yaml/.yml) or JSON; empty = built-in Contact + Contact_Sync_Exception__c"`
	DuplicateAction    string        `envconfig:"SFSIM_DUPLICATE_ACTION" default:"allow-alert" desc:"duplicate rules: allow-alert (refused unless allowSave=true), block, or off"`
	DuplicateResultKey string        `envconfig:"SFSIM_DUPLICATE_RESULT_KEY" default:"duplicateResut" desc:"key of the match details in DUPLICATES_DETECTED: duplicateResut (as real orgs send) or duplicateResult"`
	DailyLimit         int           `envconfig:"SFSIM_DAILY_LIMIT" default:"100000" desc:"daily API allocation; once spent, calls get 403 REQUEST_LIMIT_EXCEEDED"`
	SessionIdleTimeout time.Duration `envconfig:"SFSIM_SESSION_IDLE_TIMEOUT" default:"2h" desc:"a token unused for this long gets 401 INVALID_SESSION_ID"`
	LatencyMS          int           `envconfig:"SFSIM_LATENCY_MS" default:"0" desc:"latency added to every data call, in ms"`
	JitterMS           int           `envconfig:"SFSIM_JITTER_MS" default:"0" desc:"plus a uniform random 0..N ms"`
	LatencyPerRecordMS int           `envconfig:"SFSIM_LATENCY_PER_RECORD_MS" default:"0" desc:"0..3000: plus N ms per record a write submits (collections, composite, single-record); an assumption to configure, e.g. 5 with SFSIM_LATENCY_MS=150 ≈ 1.15 s per 200-record upsert"`
	ErrorRate          float64       `envconfig:"SFSIM_ERROR_RATE" default:"0" desc:"0..1: chance of an injected fault, per record in collections writes (lock), per request otherwise"`
	Errors             []string      `envconfig:"SFSIM_ERRORS" default:"UNABLE_TO_LOCK_ROW" desc:"comma-separated faults drawn from: UNABLE_TO_LOCK_ROW (400), SERVER_UNAVAILABLE (503 JSON), HTML_502 (502 HTML page)"`
	BulkRowsPerSecond  int           `envconfig:"SFSIM_BULK_ROWS_PER_SECOND" default:"0" desc:"Bulk API 2.0 speed: rows per second a job is processed at, in internal batches of 10,000 (0 = as fast as possible; jobs still run after UploadComplete, so clients poll)"`
	BulkMaxUploadBytes int64         `envconfig:"SFSIM_BULK_MAX_UPLOAD_BYTES" default:"104857600" desc:"largest Bulk CSV upload accepted (PUT …/batches), in bytes; larger gets 413"`
	Seed               int64         `envconfig:"SFSIM_SEED" default:"1" desc:"seed of the fault randomness, for reproducible runs"`
	LogLevel           string        `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
}

const help = `sfsim: a Salesforce org emulator speaking the REST API on the wire: OAuth 2.0
token endpoint (client credentials, JWT bearer), sObject rows and upsert by
external ID, sObject Collections, Composite, SOQL queries with paging,
Bulk API 2.0 ingest and query jobs, /limits, duplicate rules, validation,
API limits and injected faults.

Data:  {URL}/services/oauth2/token, {URL}/services/data/v45.0 … v62.0
Admin: GET /__sfsim/stats, POST /__sfsim/reset, PUT /__sfsim/faults,
       POST /__sfsim/expire-sessions (bearer SFSIM_ADMIN_TOKEN when set;
       not counted as API calls)

Usage: sfsim [--help]

Environment:
`

func main() {
	service.Main("sfsim", help, func(ctx context.Context, cfg config) error { return run(ctx, cfg, nil) })
}

func usage(w io.Writer) { service.Usage[config](w, help) }

// simConfig maps the environment onto the emulator's Config.
func (c config) simConfig() (sfsim.Config, error) {
	sc := sfsim.Config{
		Addr: c.Addr, ClientID: c.ClientID, ClientSecret: c.ClientSecret, AdminToken: c.AdminToken,
		DuplicateAction: c.DuplicateAction, DuplicateResultKey: c.DuplicateResultKey,
		DailyLimit: c.DailyLimit, SessionIdleTimeout: c.SessionIdleTimeout, Seed: c.Seed,
		BulkRowsPerSecond: c.BulkRowsPerSecond, BulkMaxUploadBytes: c.BulkMaxUploadBytes,
		Faults: sfsim.Faults{LatencyMS: c.LatencyMS, JitterMS: c.JitterMS, LatencyPerRecordMS: c.LatencyPerRecordMS,
			ErrorRate: c.ErrorRate, Errors: c.Errors},
	}
	if c.JWTCertFile != "" {
		pem, err := os.ReadFile(c.JWTCertFile)
		if err != nil {
			return sc, fmt.Errorf("SFSIM_JWT_CERT_FILE: %w", err)
		}
		sc.JWTCertPEM = pem
	}
	if c.SchemaFile != "" {
		s, err := sfsim.LoadSchema(c.SchemaFile)
		if err != nil {
			return sc, fmt.Errorf("SFSIM_SCHEMA_FILE: %w", err)
		}
		sc.Schema = s
	}
	return sc, nil
}

// run serves until ctx ends. ready, if set, receives the base URL once
// the emulator listens.
func run(ctx context.Context, cfg config, ready func(url string)) error {
	log, err := telemetry.NewLogger(cfg.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	sc, err := cfg.simConfig()
	if err != nil {
		return err
	}
	sc.Logger = log
	srv, err := sfsim.New(sc)
	if err != nil {
		return err
	}
	log.Info("sfsim ready", zap.String("url", srv.URL()), zap.String("duplicate_action", sc.DuplicateAction),
		zap.Bool("jwt", sc.JWTCertPEM != nil))
	if ready != nil {
		ready(srv.URL())
	}
	<-ctx.Done()
	log.Info("sfsim: shutting down")
	return srv.Close()
}
