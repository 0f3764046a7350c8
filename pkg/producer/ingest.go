package producer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// DefaultMaxBody caps an ingest request body.
const DefaultMaxBody = 10 << 20

// maxErrorsListed bounds the errors array of a response; rejected still
// counts them all.
const maxErrorsListed = 1000

// IngestConfig configures the HTTP ingest handler.
type IngestConfig struct {
	// Token is the bearer token clients must send (required).
	Token string
	// MaxBody caps the request body in bytes (0 = DefaultMaxBody); larger
	// bodies get 413.
	MaxBody int64
	// Source is written to deltas that have none (default "http").
	Source string
	// MaxPending bounds outstanding acks per request (0 = DefaultMaxPending).
	MaxPending int
	// AckTimeout bounds how long a request waits for JetStream (default 30s).
	AckTimeout time.Duration
	Logger     *zap.Logger
}

func (c IngestConfig) validate() error {
	if c.Token == "" {
		return errors.New("producer: IngestConfig.Token is required")
	}
	if c.MaxBody < 0 {
		return fmt.Errorf("producer: IngestConfig.MaxBody %d: must not be negative", c.MaxBody)
	}
	return nil
}

// IngestResponse is the JSON body of POST /v1/deltas.
type IngestResponse struct {
	Accepted   int64         `json:"accepted"`   // stored in CONTACTS: published + duplicates
	Published  int64         `json:"published"`  // newly stored by this request
	Duplicates int64         `json:"duplicates"` // already stored earlier (same external ID and version)
	Rejected   int64         `json:"rejected"`
	Failed     int64         `json:"failed,omitempty"` // not confirmed by JetStream: retry the request
	Errors     []RecordError `json:"errors"`
	Error      string        `json:"error,omitempty"` // whole-request problem
}

// RecordError is why one record was rejected. Record is 1-based (the line
// number for NDJSON).
type RecordError struct {
	Record int    `json:"record"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

type ingest struct {
	js        jetstream.JetStream
	cfg       IngestConfig
	tokenHash [32]byte
	log       *zap.Logger
}

// NewIngestHandler serves
//
//	POST /v1/deltas  NDJSON or a JSON array of deltas; Authorization: Bearer <token>
//	GET  /healthz    200 while connected to NATS
//
// POST answers 202 with an IngestResponse once every accepted delta is
// stored; 400 when no record is acceptable (or the JSON array is malformed);
// 401 without the right token; 413 when the body is over MaxBody; 503 when
// JetStream did not confirm some deltas (re-posting the same body is safe:
// stored deltas come back as duplicates).
func NewIngestHandler(js jetstream.JetStream, cfg IngestConfig) (http.Handler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Source == "" {
		cfg.Source = "http"
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	h := &ingest{js: js, cfg: cfg, tokenHash: sha256.Sum256([]byte(cfg.Token)), log: cfg.Logger}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/deltas", h.post)
	mux.HandleFunc("GET /healthz", h.health)
	return mux, nil
}

// authorized compares hashes in constant time, so neither the token's bytes
// nor its length leak through timing.
func (h *ingest) authorized(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(got[:], h.tokenHash[:]) == 1
}

func (h *ingest) post(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="contactsync"`)
		writeJSON(w, http.StatusUnauthorized, IngestResponse{Errors: []RecordError{}, Error: "missing or wrong bearer token"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, IngestResponse{Errors: []RecordError{},
				Error: fmt.Sprintf("body larger than %d bytes; split the batch", h.cfg.MaxBody)})
			return
		}
		writeJSON(w, http.StatusBadRequest, IngestResponse{Errors: []RecordError{}, Error: "reading body: " + err.Error()})
		return
	}
	src, err := bodySource(body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, IngestResponse{Errors: []RecordError{}, Error: err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.AckTimeout)
	defer cancel()
	resp := IngestResponse{Errors: []RecordError{}}
	list := func(n int, err error) {
		if len(resp.Errors) >= maxErrorsListed {
			return
		}
		re := RecordError{Record: n, Reason: err.Error()}
		var fe *delta.FieldError
		if errors.As(err, &fe) {
			re.Field, re.Reason = fe.Field, fe.Reason
		}
		resp.Errors = append(resp.Errors, re)
	}
	// Import calls both handlers on this goroutine.
	pub := NewPublisher(h.js, WithMaxPending(h.cfg.MaxPending), WithFailureHandler(func(f Failure) {
		list(f.Record, fmt.Errorf("not stored (retry the request): %w", f.Err))
	}))
	sum, err := Import(ctx, src, pub, ImportConfig{Source: h.cfg.Source, OnReject: func(rec Record) { list(rec.N, rec.Err) }})
	resp.Rejected = sum.Rejected
	resp.Accepted = sum.Published + sum.Duplicates
	resp.Duplicates = sum.Duplicates
	resp.Published = sum.Published
	resp.Failed = sum.Failed
	status := http.StatusAccepted
	switch {
	case err != nil || sum.Failed > 0:
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
		resp.Error = "JetStream did not confirm every delta; re-post the same body (stored deltas are deduplicated)"
		if err != nil {
			resp.Failed = sum.Read - sum.Rejected - resp.Accepted
		}
	case resp.Accepted == 0:
		status = http.StatusBadRequest
		resp.Error = "no valid delta in the request"
	}
	h.log.Info("ingest", zap.Int("status", status), zap.Int64("read", sum.Read), zap.Int64("accepted", resp.Accepted),
		zap.Int64("duplicates", resp.Duplicates), zap.Int64("rejected", resp.Rejected), zap.Int64("failed", resp.Failed), zap.Error(err))
	writeJSON(w, status, resp)
}

// bodySource picks the format: a JSON array when the body starts with '[',
// NDJSON otherwise.
func bodySource(body []byte) (Source, error) {
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(body, bom))
	if len(trimmed) == 0 {
		return nil, errors.New("empty body: send NDJSON (one delta per line) or a JSON array of deltas")
	}
	if trimmed[0] != '[' {
		return NDJSON(bytes.NewReader(body)), nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(trimmed, &items); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("malformed JSON array at byte %d: %s (nothing was published)", syn.Offset, syn.Error())
		}
		return nil, fmt.Errorf("malformed JSON array: %s (nothing was published)", err.Error())
	}
	recs := make([]Record, len(items))
	for i, raw := range items {
		d, err := delta.Decode(raw)
		recs[i] = Record{N: i + 1, Delta: d, Err: err}
	}
	return Records(recs), nil
}

func (h *ingest) health(w http.ResponseWriter, _ *http.Request) {
	if st := h.js.Conn().Status(); st != nats.CONNECTED {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "nats " + st.String()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
