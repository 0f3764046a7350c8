package sfsim

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Defaults of Config.
const (
	DefaultClientID           = "contactsync"
	DefaultClientSecret       = "contactsync-secret"
	DefaultSessionIdleTimeout = 2 * time.Hour
	DefaultDailyLimit         = 100000
	DefaultDuplicateResultKey = "duplicateResut" // sic: the spelling recorded from real orgs
)

// Duplicate rule actions (Config.DuplicateAction).
const (
	ActionAllowAlert = "allow-alert" // refuse API saves with DUPLICATES_DETECTED unless allowSave=true
	ActionBlock      = "block"       // always refuse
	ActionOff        = "off"         // rules disabled
)

// Fault codes (Faults.Errors).
const (
	FaultLockRow     = "UNABLE_TO_LOCK_ROW" // 400, per record in collections
	FaultUnavailable = "SERVER_UNAVAILABLE" // 503 JSON
	FaultHTML502     = "HTML_502"           // 502 HTML gateway page
)

// Config configures an emulator. The zero value is a usable default org.
type Config struct {
	// Addr is the listen address; "" = 127.0.0.1:0 (a random port, for tests).
	Addr string
	// ClientID and ClientSecret are the client_credentials credentials
	// (defaults "contactsync" / "contactsync-secret"). ClientID is also the
	// JWT issuer. Sessions of this client are the integration user, which
	// holds the Contact_Sync_Integration custom permission.
	ClientID, ClientSecret string
	// RestrictedClients are extra client_credentials clients (id → secret)
	// whose sessions do not hold the integration permission: the duplicate
	// rule and the validation rules apply to every one of their writes.
	RestrictedClients map[string]string
	// AdminToken, when set, is required as "Authorization: Bearer <token>"
	// on the /__sfsim/ admin API (set it whenever the emulator listens on
	// anything but loopback).
	AdminToken string
	// JWTCertPEM is the PEM public key or certificate that verifies JWT
	// bearer assertions (RS256); nil disables the JWT grant.
	JWTCertPEM []byte
	// JWTRejectMillisecondExp refuses a JWT whose exp is in milliseconds
	// rather than seconds. By default such an exp (above 10^11) is read as
	// milliseconds: the Salesforce CLI (@salesforce/core) sends
	// exp = Date.now() + 300, a millisecond time 300 ms ahead, and logs in
	// to real orgs with it, so Salesforce evidently accepts it. How a real
	// org reads it is not documented; the emulator's reading (milliseconds,
	// usable up to jwtMillisecondGrace after that instant) is an assumption.
	JWTRejectMillisecondExp bool
	// SessionIdleTimeout ends a session not used for this long; 0 = 2h.
	SessionIdleTimeout time.Duration
	// DailyLimit is the daily API allocation; 0 = 100000.
	DailyLimit int
	// DuplicateAction is what the duplicate rules do: "allow-alert"
	// (default), "block" or "off".
	DuplicateAction string
	// DuplicateResultKey is the key of the duplicate result in a
	// DUPLICATES_DETECTED error: "duplicateResut" (default, as recorded from
	// real orgs) or "duplicateResult".
	DuplicateResultKey string
	// Schema is the org's objects and rules; nil = DefaultSchema().
	Schema *Schema
	// Faults are injected from the start; SetFaults and PUT /__sfsim/faults
	// replace them.
	Faults Faults
	// Seed seeds fault randomness; 0 = 1.
	Seed int64
	// Sleep waits out the per-record latency of a write
	// (Faults.LatencyPerRecordMS × its records) with the request's context;
	// nil = a timer cut short when the request ends or the server closes.
	// Tests set it to see the delay computed without waiting for it. (The
	// per-call LatencyMS and JitterMS are always waited on a timer.)
	Sleep func(ctx context.Context, d time.Duration)
	// Logger receives start/stop and internal errors; nil = no logs.
	Logger *zap.Logger
	// BulkRowsPerSecond paces Bulk API 2.0 jobs: an internal batch of n
	// rows (and a query job of n rows) takes n / BulkRowsPerSecond seconds,
	// waited through Sleep; 0 = as fast as the emulator goes. A job is
	// always processed after UploadComplete returns, so clients must poll.
	BulkRowsPerSecond int
	// BulkMaxUploadBytes caps one Bulk CSV upload (413 above it); 0 =
	// DefaultBulkMaxUploadBytes (100 MB).
	BulkMaxUploadBytes int64
}

// Faults are the injected failures.
type Faults struct {
	LatencyMS int `json:"latency_ms"` // added to every data call
	JitterMS  int `json:"jitter_ms"`  // plus a uniform random 0..JitterMS
	// LatencyPerRecordMS (0..3000) is added per record a write submits, on
	// top of LatencyMS; see Latency for what counts and the figures it is
	// modelled on.
	LatencyPerRecordMS int `json:"latency_per_record_ms"`
	// ErrorRate (0..1) is drawn per record in collections writes (for
	// UNABLE_TO_LOCK_ROW) and per request otherwise.
	ErrorRate float64 `json:"error_rate"`
	// Errors are the fault codes drawn from: "UNABLE_TO_LOCK_ROW",
	// "SERVER_UNAVAILABLE", "HTML_502"; empty = UNABLE_TO_LOCK_ROW.
	Errors []string `json:"errors"`
	// DailyLimit > 0 replaces the daily API allocation.
	DailyLimit int `json:"daily_limit"`
	// BulkBatchRetries makes every Bulk internal batch fail this many
	// times before it succeeds: counted in the job's retries, each try
	// taking the batch's time again; above 10 the job ends Failed.
	BulkBatchRetries int `json:"bulk_batch_retries"`
	// BulkFailBatch > 0 fails the Bulk ingest job at that internal batch
	// (1 = the first): rows before it keep their results, the rest are
	// unprocessed.
	BulkFailBatch int `json:"bulk_fail_batch"`
}

func (f Faults) validate() error {
	switch {
	case f.LatencyMS < 0 || f.LatencyMS > 600000:
		return fmt.Errorf("faults: latency_ms %d out of range 0..600000", f.LatencyMS)
	case f.JitterMS < 0 || f.JitterMS > 600000:
		return fmt.Errorf("faults: jitter_ms %d out of range 0..600000", f.JitterMS)
	case f.LatencyPerRecordMS < 0 || f.LatencyPerRecordMS > maxLatencyPerRecordMS:
		return fmt.Errorf("faults: latency_per_record_ms (SFSIM_LATENCY_PER_RECORD_MS) %d out of range 0..%d", f.LatencyPerRecordMS, maxLatencyPerRecordMS)
	case f.ErrorRate < 0 || f.ErrorRate > 1 || f.ErrorRate != f.ErrorRate:
		return fmt.Errorf("faults: error_rate %v out of range 0..1", f.ErrorRate)
	case f.DailyLimit < 0:
		return fmt.Errorf("faults: daily_limit %d must be >= 0", f.DailyLimit)
	case f.BulkBatchRetries < 0:
		return fmt.Errorf("faults: bulk_batch_retries %d must be >= 0", f.BulkBatchRetries)
	case f.BulkFailBatch < 0:
		return fmt.Errorf("faults: bulk_fail_batch %d must be >= 0", f.BulkFailBatch)
	}
	for _, e := range f.Errors {
		switch e {
		case FaultLockRow, FaultUnavailable, FaultHTML502:
		default:
			return fmt.Errorf("faults: errors: unknown code %q (want %s, %s or %s)", e, FaultLockRow, FaultUnavailable, FaultHTML502)
		}
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.ClientSecret == "" {
		c.ClientSecret = DefaultClientSecret
	}
	if c.SessionIdleTimeout == 0 {
		c.SessionIdleTimeout = DefaultSessionIdleTimeout
	}
	if c.DailyLimit == 0 {
		c.DailyLimit = DefaultDailyLimit
	}
	if c.DuplicateAction == "" {
		c.DuplicateAction = ActionAllowAlert
	}
	if c.DuplicateResultKey == "" {
		c.DuplicateResultKey = DefaultDuplicateResultKey
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.BulkMaxUploadBytes == 0 {
		c.BulkMaxUploadBytes = DefaultBulkMaxUploadBytes
	}
}

func (c *Config) validate() error {
	switch {
	case c.SessionIdleTimeout < 0:
		return fmt.Errorf("sfsim: SessionIdleTimeout %v must be >= 0", c.SessionIdleTimeout)
	case c.DailyLimit < 0:
		return fmt.Errorf("sfsim: DailyLimit %d must be >= 0", c.DailyLimit)
	case c.BulkRowsPerSecond < 0:
		return fmt.Errorf("sfsim: BulkRowsPerSecond (SFSIM_BULK_ROWS_PER_SECOND) %d must be >= 0", c.BulkRowsPerSecond)
	case c.BulkMaxUploadBytes < 0:
		return fmt.Errorf("sfsim: BulkMaxUploadBytes (SFSIM_BULK_MAX_UPLOAD_BYTES) %d must be >= 0", c.BulkMaxUploadBytes)
	}
	switch c.DuplicateAction {
	case ActionAllowAlert, ActionBlock, ActionOff:
	default:
		return fmt.Errorf("sfsim: DuplicateAction %q: want %q, %q or %q", c.DuplicateAction, ActionAllowAlert, ActionBlock, ActionOff)
	}
	switch c.DuplicateResultKey {
	case "duplicateResut", "duplicateResult":
	default:
		return fmt.Errorf("sfsim: DuplicateResultKey %q: want \"duplicateResut\" or \"duplicateResult\"", c.DuplicateResultKey)
	}
	for id := range c.RestrictedClients {
		if id == c.ClientID {
			return fmt.Errorf("sfsim: RestrictedClients: %q is the integration ClientID", id)
		}
	}
	if err := c.Faults.validate(); err != nil {
		return fmt.Errorf("sfsim: %w", err)
	}
	return nil
}
