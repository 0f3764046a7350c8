package salesforce_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	extField  = "External_Contact_ID__c"
	clientID  = sfsim.DefaultClientID
	secret    = sfsim.DefaultClientSecret
	jwtUser   = "integration@contactsync.test"
	contact   = "Contact"
	testRetry = 2 * time.Millisecond
)

// startSim starts the emulator in-process, closed at the end of the test.
func startSim(t testing.TB, cfg sfsim.Config) *sfsimtest.Org {
	t.Helper()
	return sfsimtest.Start(t, cfg)
}

// env is a client wired to an emulator, with its log lines and the HTTP
// exchanges observed on the way (the real transport does the work; hooks
// only watch, or drop a response to simulate a lost one).
type env struct {
	srv  *sfsimtest.Org
	c    *salesforce.Client
	logs *observer.ObservedLogs
	hook *hookTransport
}

func newEnv(t testing.TB, simCfg sfsim.Config, mod func(*salesforce.Config)) *env {
	t.Helper()
	srv := startSim(t, simCfg)
	return connect(t, srv, mod)
}

func connect(t testing.TB, srv *sfsimtest.Org, mod func(*salesforce.Config)) *env {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	base := &http.Transport{MaxIdleConnsPerHost: 32}
	t.Cleanup(base.CloseIdleConnections)
	hook := &hookTransport{base: base}
	cfg := srv.Config
	cfg.RetryBackoff = testRetry
	cfg.HTTPClient = &http.Client{Transport: hook}
	cfg.Logger = zap.New(core)
	if mod != nil {
		mod(&cfg)
	}
	c, err := salesforce.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("salesforce.New: %v", err)
	}
	t.Cleanup(c.Close)
	return &env{srv: srv, c: c, logs: logs, hook: hook}
}

// hookTransport forwards to a real transport and lets a test watch each
// exchange: after may replace the outcome (e.g. drop a response that the
// server did process, as a broken connection would).
type hookTransport struct {
	base http.RoundTripper

	mu     sync.Mutex
	after  func(req *http.Request, res *http.Response, err error) (*http.Response, error)
	tokens map[string]bool // bearer tokens seen on data requests

	inflight, maxInflight atomic.Int64
}

func (h *hookTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if a := req.Header.Get("Authorization"); a != "" {
		h.mu.Lock()
		if h.tokens == nil {
			h.tokens = map[string]bool{}
		}
		h.tokens[a[len("Bearer "):]] = true
		h.mu.Unlock()
	}
	n := h.inflight.Add(1)
	for {
		m := h.maxInflight.Load()
		if n <= m || h.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	res, err := h.base.RoundTrip(req)
	h.inflight.Add(-1)
	h.mu.Lock()
	after := h.after
	h.mu.Unlock()
	if after != nil {
		return after(req, res, err)
	}
	return res, err
}

func (h *hookTransport) setAfter(f func(req *http.Request, res *http.Response, err error) (*http.Response, error)) {
	h.mu.Lock()
	h.after = f
	h.mu.Unlock()
}

func (h *hookTransport) seenTokens() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for k := range h.tokens {
		out = append(out, k)
	}
	return out
}

func newObserved() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	return zap.New(core), logs
}
