package salesforce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Client talks to one Salesforce org over the REST API. It is safe for
// concurrent use; at most Config.MaxConcurrency requests are in flight.
type Client struct {
	cfg       Config
	log       *zap.Logger
	hc        *http.Client
	own       *http.Transport // nil when the caller supplied HTTPClient
	base      string          // "/services/data/vNN.N"
	sem       chan struct{}
	auth      *authenticator
	callsSent atomic.Int64

	usageMu sync.Mutex
	usage   Usage
}

// Record is one sObject's fields by API name. Records read back from
// Salesforce also carry "attributes" ({"type","url"}) and "Id".
type Record map[string]any

// Usage is the latest Sforce-Limit-Info "api-usage=Used/Max" seen on a
// response; Seen is false until one arrived.
type Usage struct {
	Used, Max int
	Seen      bool
}

// Limit is one entry of GET /limits.
type Limit struct {
	Max       int `json:"Max"`
	Remaining int `json:"Remaining"`
}

// New validates cfg, fetches the first token (so bad credentials fail here,
// as an *AuthError) and returns a ready Client. ctx bounds that first token
// request only.
func New(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Client{
		cfg:  cfg,
		log:  cfg.Logger,
		base: "/services/data/v" + cfg.APIVersion,
		sem:  make(chan struct{}, cfg.MaxConcurrency),
	}
	if cfg.HTTPClient != nil {
		c.hc = cfg.HTTPClient
	} else {
		c.own = newTransport(cfg.MaxConcurrency)
		c.hc = &http.Client{Transport: c.own}
	}
	c.auth = newAuthenticator(cfg, c.hc)
	if _, err := c.auth.session(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// newTransport is tuned for many small requests to one host: idle
// connections for every request in flight, keep-alive, bounded dial, TLS and
// response-header waits (Salesforce ends REST calls itself after 10 min; a
// collections write answers in well under a minute).
func newTransport(maxConc int) *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2 * maxConc,
		MaxIdleConnsPerHost:   maxConc,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		ExpectContinueTimeout: time.Second,
	}
}

// Close releases idle connections of the client's own transport. The
// Client must not be used afterwards.
func (c *Client) Close() {
	if c.own != nil {
		c.own.CloseIdleConnections()
	}
}

// InstanceURL is the instance_url of the current session (data calls go there).
func (c *Client) InstanceURL() string {
	c.auth.mu.Lock()
	defer c.auth.mu.Unlock()
	if c.auth.cur == nil {
		return ""
	}
	return c.auth.cur.instanceURL
}

// APICalls counts the data requests this client sent, retries and the
// replay after a session refresh included; token requests are not counted.
func (c *Client) APICalls() int64 { return c.callsSent.Load() }

// TokenRequests counts the token requests this client made (the first one
// in New included).
func (c *Client) TokenRequests() int64 { return c.auth.fetches.Load() }

// Usage returns the latest Sforce-Limit-Info api-usage seen.
func (c *Client) Usage() Usage {
	c.usageMu.Lock()
	defer c.usageMu.Unlock()
	return c.usage
}

// replay says when a failed request may be sent again.
type replay int

const (
	// idempotent requests (GET, PATCH by Id or external ID, DELETE) are
	// retried on any transient failure, lost responses included.
	idempotent replay = iota
	// refusedOnly requests (POST creates) are retried only when Salesforce
	// clearly did not process them; see refused.
	refusedOnly
)

// call is one logical REST call.
type call struct {
	method string
	path   string // below /services/data/vNN.N, or a full "/services/..." path
	query  url.Values
	body   any    // JSON-encoded by do
	raw    []byte // an already encoded body (used instead of body)
	dup    *DuplicateRuleHeader
	replay replay
	// contentType and accept replace the JSON defaults (Bulk CSV).
	contentType, accept string
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do runs c with retries: transient failures are retried with exponential
// backoff and jitter, bounded by ctx and Config.MaxRetryElapsed, as far as
// cl.replay allows; a 401 INVALID_SESSION_ID gets one new token and one
// replay. It returns 2xx responses, and an *APIError for anything else.
func (c *Client) do(ctx context.Context, cl call) (*response, error) {
	body := cl.raw
	if body == nil && cl.body != nil {
		var err error
		if body, err = json.Marshal(cl.body); err != nil {
			return nil, fmt.Errorf("salesforce: encoding %s %s: %w", cl.method, cl.path, err)
		}
	}
	bo := c.newBackOff()
	for attempt := 1; ; attempt++ {
		resp, err, retry := c.try(ctx, cl, body)
		if !retry {
			return resp, err
		}
		wait := bo.NextBackOff()
		if wait < 0 { // backoff.Stop: MaxRetryElapsed spent
			return nil, err
		}
		c.log.Debug("salesforce: retrying", zap.String("method", cl.method), zap.String("path", cl.path),
			zap.Int("attempt", attempt), zap.Duration("wait", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// try sends cl once (twice after a session refresh) and says whether a
// failure may be retried.
func (c *Client) try(ctx context.Context, cl call, body []byte) (*response, error, bool) {
	s, err := c.auth.session(ctx)
	if err != nil {
		return nil, err, ctx.Err() == nil && ClassOf(err) == ClassTransient
	}
	resp, err := c.send(ctx, cl, body, s)
	if err == nil && resp.status == http.StatusUnauthorized {
		if ae := parseError(resp.status, resp.header.Get("Content-Type"), resp.body); ae.ErrorCode == CodeInvalidSessionID || ae.ErrorCode == "" {
			c.log.Debug("salesforce: session refused, fetching a new token", zap.String("path", cl.path))
			if s, err = c.auth.refresh(ctx, s); err != nil {
				return nil, err, ctx.Err() == nil && ClassOf(err) == ClassTransient
			}
			resp, err = c.send(ctx, cl, body, s)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, err, false
		}
		return nil, err, cl.replay == idempotent || notSent(err)
	}
	if resp.status >= 200 && resp.status < 300 {
		return resp, nil, false
	}
	ae := parseError(resp.status, resp.header.Get("Content-Type"), resp.body)
	if ae.Class() != ClassTransient {
		return nil, ae, false
	}
	return nil, ae, cl.replay == idempotent || refused(ae)
}

// refused reports whether a transient failure proves that Salesforce did not
// process the request, so that even a create may be sent again: 503 (the
// server shed the request), a 502 gateway page (the request never reached
// the app), 429, and UNABLE_TO_LOCK_ROW (the transaction was rolled back).
// 500, 504 and lost responses prove nothing: the write may have happened.
func refused(ae *APIError) bool {
	switch {
	case ae.ErrorCode == CodeUnableToLockRow, ae.ErrorCode == CodeServerUnavailable:
		return true
	case ae.StatusCode == http.StatusServiceUnavailable, ae.StatusCode == http.StatusTooManyRequests:
		return true
	case ae.StatusCode == http.StatusBadGateway && ae.ErrorCode == "":
		return true
	}
	return false
}

// notSent reports whether a transport error happened before the request
// left (the connection could not be opened).
func notSent(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// send performs one HTTP exchange inside the concurrency semaphore.
func (c *Client) send(ctx context.Context, cl call, body []byte, s *session) (*response, error) {
	u := s.instanceURL
	if strings.HasPrefix(cl.path, "/services/") {
		u += cl.path
	} else {
		u += c.base + cl.path
	}
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("salesforce: %s %s: %w", cl.method, cl.path, err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Accept", "application/json")
	if cl.accept != "" {
		req.Header.Set("Accept", cl.accept)
	}
	req.Header.Set("Sforce-Call-Options", "client="+c.cfg.CallOptionsClient)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		if cl.contentType != "" {
			req.Header.Set("Content-Type", cl.contentType)
		}
	}
	if cl.dup != nil {
		req.Header.Set("Sforce-Duplicate-Rule-Header", cl.dup.String())
	}

	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("salesforce: %s %s: %w", cl.method, cl.path, ctx.Err())
	}
	defer func() { <-c.sem }()

	c.callsSent.Add(1)
	res, err := c.hc.Do(req)
	if err != nil {
		// url.Error repeats the full URL, query (and its SOQL literals)
		// included; keep the method and path only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("salesforce: %s %s: %w", cl.method, cl.path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("salesforce: %s %s: reading response: %w", cl.method, cl.path, err)
	}
	c.noteUsage(res.Header.Get("Sforce-Limit-Info"))
	return &response{status: res.StatusCode, header: res.Header, body: data}, nil
}

// noteUsage parses "api-usage=18/5000" (other ";"-separated parts such as
// per-app-api-usage are ignored).
func (c *Client) noteUsage(h string) {
	used, max, ok := parseUsage(h)
	if !ok {
		return
	}
	c.usageMu.Lock()
	c.usage = Usage{Used: used, Max: max, Seen: true}
	c.usageMu.Unlock()
}

func parseUsage(h string) (used, max int, ok bool) {
	for _, part := range strings.FieldsFunc(h, func(r rune) bool { return r == ';' || r == ',' }) {
		k, v, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found || !strings.EqualFold(k, "api-usage") {
			continue
		}
		a, b, found := strings.Cut(v, "/")
		if !found {
			return 0, 0, false
		}
		u, err1 := strconv.Atoi(strings.TrimSpace(a))
		m, err2 := strconv.Atoi(strings.TrimSpace(b))
		if err1 != nil || err2 != nil {
			return 0, 0, false
		}
		return u, m, true
	}
	return 0, 0, false
}

// decode unmarshals a 2xx body into out, naming the call on failure.
func decode(cl call, resp *response, out any) error {
	if err := json.Unmarshal(resp.body, out); err != nil {
		return fmt.Errorf("salesforce: %s %s: decoding response (HTTP %d): %w", cl.method, cl.path, resp.status, err)
	}
	return nil
}

// MaxConcurrency is how many requests this client lets be in flight at once
// (Config.MaxConcurrency, SF_MAX_CONCURRENCY).
func (c *Client) MaxConcurrency() int { return cap(c.sem) }
