package sfsim

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
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

const (
	minVersion = 45
	maxVersion = 62
	// maxBody caps a request body (Salesforce's own cap on a REST body is
	// lower for most resources; this only keeps the emulator safe).
	maxBody = 50 << 20
	// maxURI is the longest request URI served; longer gets 414, and URI
	// plus headers longer than it gets 431.
	maxURI = 16384
)

// Server is a running emulator. It is safe for concurrent use.
type Server struct {
	cfg   Config
	log   *zap.Logger
	model *model

	ln        net.Listener
	hs        *http.Server
	url       string
	handler   http.Handler
	closing   chan struct{}
	served    chan struct{}
	closeOnce sync.Once
	closeErr  error

	mu      sync.RWMutex // guards objs and deleted
	objs    map[*objectInfo]*objectStore
	deleted map[string]*objectInfo // 15-char key → object, for ENTITY_IS_DELETED
	idSeq   atomic.Uint64

	sessMu   sync.Mutex
	sessions map[string]*session

	faultMu sync.Mutex
	faults  Faults
	rnd     *rand.Rand

	statMu   sync.Mutex
	apiUsed  int64 // calls counted against the allocation
	apiCalls int64 // authenticated data calls
	routes   map[string]int64

	locMu    sync.Mutex
	locators map[string]*locator
	locOrder []string

	bulk bulkJobs // Bulk API 2.0 jobs (bulk.go)

	orgID, userID string
	jwtKey        *rsa.PublicKey
}

// Stats is what GET /__sfsim/stats returns.
type Stats struct {
	APICalls int64            `json:"api_calls"` // authenticated data calls (not token or admin calls)
	Routes   map[string]int64 `json:"routes"`    // requests by route, e.g. "PATCH /sobjects/{type}/{field}/{value}"
	Records  map[string]int   `json:"records"`   // records by object
}

// New starts an emulator listening on cfg.Addr and serving at once.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, closing: make(chan struct{}), served: make(chan struct{})}
	schema := cfg.Schema
	if schema == nil {
		schema = DefaultSchema()
	}
	m, err := compileSchema(schema)
	if err != nil {
		return nil, fmt.Errorf("sfsim: schema: %w", err)
	}
	s.model = m
	if cfg.JWTCertPEM != nil {
		if s.jwtKey, err = parsePublicKey(cfg.JWTCertPEM); err != nil {
			return nil, fmt.Errorf("sfsim: JWTCertPEM: %w", err)
		}
	}
	s.faults = cfg.Faults
	s.rnd = rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5f5f736673696d))
	s.orgID = makeID("00D", 1)
	s.userID = makeID("005", 1)
	s.resetState()
	s.handler = http.HandlerFunc(s.serveHTTP)

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("sfsim: listen %s: %w", cfg.Addr, err)
	}
	s.ln = ln
	s.url = "http://" + advertised(ln.Addr())
	s.hs = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      10 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          zap.NewStdLog(s.log.WithOptions(zap.IncreaseLevel(zap.WarnLevel))),
	}
	go func() {
		defer close(s.served)
		if err := s.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("sfsim: serve", zap.Error(err))
		}
	}()
	s.log.Info("sfsim: serving", zap.String("url", s.url))
	return s, nil
}

// advertised turns a listen address into a dialable host:port.
func advertised(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port))
}

// URL is the emulator's base URL (no trailing slash), also the
// instance_url of its tokens.
func (s *Server) URL() string { return s.url }

// Handler serves the emulator's whole API (for mounting elsewhere).
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops the server: in-flight requests finish (injected latency is
// cut short), then connections close. It waits for its goroutines.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.bulk.stop()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.hs.Shutdown(ctx); err != nil {
			s.closeErr = s.hs.Close()
		}
		<-s.served
		s.log.Info("sfsim: stopped", zap.String("url", s.url))
	})
	return s.closeErr
}

// SetFaults replaces the injected faults. Invalid faults are ignored and
// logged (PUT /__sfsim/faults reports them instead).
func (s *Server) SetFaults(f Faults) {
	if err := f.validate(); err != nil {
		s.log.Warn("sfsim: SetFaults ignored", zap.Error(err))
		return
	}
	s.faultMu.Lock()
	s.faults = f
	s.faultMu.Unlock()
}

func (s *Server) currentFaults() Faults {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.faults
}

// ExpireSessions ends every session: their tokens get 401 INVALID_SESSION_ID.
func (s *Server) ExpireSessions() { s.expireSessions() }

func (s *Server) expireSessions() int {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	n := len(s.sessions)
	s.sessions = map[string]*session{}
	return n
}

// Reset drops every record, session, query cursor and counter (faults stay).
func (s *Server) Reset() {
	s.resetState()
}

func (s *Server) resetState() {
	s.mu.Lock()
	s.objs = map[*objectInfo]*objectStore{}
	for _, o := range s.model.objects {
		s.objs[o] = newObjectStore(o)
	}
	s.deleted = map[string]*objectInfo{}
	s.seedSystemRecords()
	s.mu.Unlock()
	s.sessMu.Lock()
	s.sessions = map[string]*session{}
	s.sessMu.Unlock()
	s.statMu.Lock()
	s.apiUsed, s.apiCalls = 0, 0
	s.routes = map[string]int64{}
	s.statMu.Unlock()
	s.locMu.Lock()
	s.locators = map[string]*locator{}
	s.locOrder = nil
	s.locMu.Unlock()
	s.bulk.reset()
}

// Stats returns the call counters and record counts.
func (s *Server) Stats() Stats {
	st := Stats{Routes: map[string]int64{}, Records: map[string]int{}}
	s.statMu.Lock()
	st.APICalls = s.apiCalls
	for k, v := range s.routes {
		st.Routes[k] = v
	}
	s.statMu.Unlock()
	s.mu.RLock()
	for o, os := range s.objs {
		st.Records[o.name] = len(os.list)
	}
	s.mu.RUnlock()
	return st
}

// Insert stores a record directly, as seed data: fields are converted and
// validated (required, lengths, email) but duplicate rules, uniqueness and
// validation rules are bypassed, so a test can build states the API would
// refuse (two contacts with one external ID, say). It returns the 18-char Id.
func (s *Server) Insert(object string, fields map[string]any) (string, error) {
	o := s.model.object(object)
	if o == nil {
		return "", fmt.Errorf("sfsim: Insert: sObject type '%s' is not supported", object)
	}
	raw := make(map[string]any, len(fields))
	for k, v := range fields {
		raw[k] = v
	}
	delete(raw, "Id")
	vals, err := o.convert(raw)
	if err != nil {
		return "", fmt.Errorf("sfsim: Insert %s: %w", o.name, err)
	}
	w := &writeOpts{seed: true, integration: true, version: maxVersion, now: time.Now(), userID: s.userID}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.create(s.objs[o], vals, w, nil)
	if err != nil {
		return "", fmt.Errorf("sfsim: Insert %s: %w", o.name, err)
	}
	return r.id, nil
}

// Records returns copies of an object's records (Id and every field) in
// creation order; nil for an unknown object.
func (s *Server) Records(object string) []map[string]any {
	o := s.model.object(object)
	if o == nil {
		return nil
	}
	s.mu.RLock()
	rows := s.objs[o].rows
	out := make([]map[string]any, len(rows))
	for i, r := range rows {
		c := make(map[string]any, len(r))
		for k, v := range r {
			c[k] = v
		}
		out[i] = c
	}
	s.mu.RUnlock()
	return out
}

// response is what a handler returns; serveHTTP or a composite request
// renders it.
type response struct {
	status int
	body   any    // JSON-encoded when not nil
	raw    []byte // written as is, with ctype
	ctype  string
	header map[string]string
	failed bool // a 200 collections result that has a failed record
}

func (s *Server) fail(e *apiError) *response {
	return &response{status: e.status, body: []any{e.topLevel(s.cfg.DuplicateResultKey)}}
}

func jsonResp(status int, body any) *response { return &response{status: status, body: body} }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("sfsim: handler panic", zap.Any("panic", p), zap.String("path", r.URL.Path), zap.Stack("stack"))
			s.write(w, jsonResp(http.StatusInternalServerError, []any{map[string]any{
				"message":   "An unexpected error occurred. Please include this ErrorId if you contact support: 0",
				"errorCode": "UNKNOWN_EXCEPTION"}}))
		}
	}()
	if len(r.RequestURI) > maxURI {
		s.write(w, jsonResp(http.StatusRequestURITooLong, []any{map[string]any{"message": "URI Too Long", "errorCode": "URI_TOO_LONG"}}))
		return
	}
	if n := len(r.RequestURI) + headerSize(r.Header); n > maxURI {
		s.write(w, jsonResp(http.StatusRequestHeaderFieldsTooLarge, []any{map[string]any{"message": "Request Header Fields Too Large", "errorCode": "REQUEST_HEADER_FIELDS_TOO_LARGE"}}))
		return
	}
	path := r.URL.EscapedPath()
	if strings.Contains(path, "//") {
		// A real org accepts empty path segments (the Salesforce CLI asks
		// for //services/data/… once logged in with an instance URL that
		// ends in a slash): collapse them.
		path = collapseSlashes(path)
		r.URL.Path, r.URL.RawPath = collapseSlashes(r.URL.Path), ""
		if path != r.URL.Path {
			r.URL.RawPath = path
		}
	}
	switch {
	case path == "/__sfsim/healthz":
		// Liveness for orchestrators: no token, no data, not an API call.
		s.write(w, jsonResp(http.StatusOK, map[string]string{"status": "ok"}))
	case strings.HasPrefix(path, "/__sfsim/"):
		s.serveAdmin(w, r)
	case path == "/services/oauth2/token":
		s.countRoute("POST /services/oauth2/token")
		s.serveToken(w, r)
	case path == "/services/oauth2/userinfo":
		s.countRoute(r.Method + " /services/oauth2/userinfo")
		s.serveUserInfo(w, r)
	case path == "/services/oauth2/singleaccess":
		s.countRoute(r.Method + " /services/oauth2/singleaccess")
		s.serveSingleAccess(w, r)
	case path == "/secur/frontdoor.jsp":
		s.serveFrontdoor(w, r)
	case path == "/services/data" || path == "/services/data/":
		s.write(w, jsonResp(http.StatusOK, versionList()))
	case strings.HasPrefix(path, "/services/data/v"):
		s.serveData(w, r)
	default:
		s.write(w, s.fail(errNotFound()))
	}
}

// collapseSlashes turns every run of slashes in p into one.
func collapseSlashes(p string) string {
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && i > 0 && p[i-1] == '/' {
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

func headerSize(h http.Header) int {
	n := 0
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// serveData runs a data call: version, session, allocation, faults, then
// the resource.
func (s *Server) serveData(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/services/data/")
	vseg, rest, _ := strings.Cut(rest, "/")
	version, ok := parseVersion(vseg)
	if !ok {
		s.write(w, s.fail(errNotFound()))
		return
	}
	c := &call{s: s, method: r.Method, version: version, query: r.URL.Query(), header: r.Header, ctx: r.Context()}
	if err := c.setPath(rest); err != nil {
		s.write(w, s.fail(err))
		return
	}
	rt := s.route(c)
	c.sess = s.authenticate(r)
	if c.sess == nil {
		s.countRoute(rt.name)
		used, max := s.usage()
		s.writeLimitHeader(w, used, max)
		s.write(w, s.fail(errSession()))
		return
	}
	used, max, ok := s.countCall(rt.name)
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", used, max))
	if !ok {
		s.write(w, s.fail(newErr(http.StatusForbidden, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")))
		return
	}
	plan := s.drawFaults(rt.collection)
	if plan.latency > 0 {
		t := time.NewTimer(plan.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
		case <-s.closing:
		}
		t.Stop()
	}
	if plan.kind != "" {
		s.write(w, s.faultResponse(plan.kind))
		return
	}
	c.lockRate = plan.lockRate
	if r.Body != nil && r.Method != http.MethodGet {
		limit := int64(maxBody)
		if rt.maxBody > 0 {
			limit = rt.maxBody
		}
		var buf []byte
		if rt.reuseBody {
			// Collections handlers keep nothing of the body (decoded
			// strings are copies) once they return: its buffer is reused.
			if p, _ := bodyPool.Get().(*[]byte); p != nil {
				buf = *p
			}
			defer func() {
				if cap(c.body) > 0 && cap(c.body) <= maxPooledBody {
					b := c.body[:0]
					bodyPool.Put(&b)
				}
			}()
		}
		body, err := readBody(http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit, buf)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				s.write(w, jsonResp(http.StatusRequestEntityTooLarge, []any{map[string]any{"message": "Request body exceeds the maximum size", "errorCode": "REQUEST_ENTITY_TOO_LARGE"}}))
				return
			}
			s.write(w, s.fail(errJSON("Unable to read the request body: "+err.Error())))
			return
		}
		c.body = body
	}
	s.write(w, rt.h(c))
}

// bodyPool holds request buffers of collections writes for reuse
// (*[]byte, at most maxPooledBody each).
var bodyPool sync.Pool

const maxPooledBody = 1 << 20

// readBody is io.ReadAll into buf's storage (nil: a new buffer), sized
// from Content-Length when declared and within limit rather than grown
// from 512 bytes by doubling.
func readBody(r io.Reader, size, limit int64, buf []byte) ([]byte, error) {
	b := buf[:0]
	switch {
	case size > 0 && size <= limit && int64(cap(b)) < size+1:
		b = make([]byte, 0, size+1) // +1: the read that sees EOF needs no growth
	case cap(b) == 0:
		b = make([]byte, 0, 512)
	}
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

func (s *Server) writeLimitHeader(w http.ResponseWriter, used, max int64) {
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", used, max))
}

func (s *Server) write(w http.ResponseWriter, resp *response) {
	h := w.Header()
	for k, v := range resp.header {
		h.Set(k, v)
	}
	switch {
	case resp.raw != nil:
		h.Set("Content-Type", resp.ctype)
		w.WriteHeader(resp.status)
		_, _ = w.Write(resp.raw)
	case resp.body != nil:
		b, err := encodeJSON(resp.body)
		if err != nil {
			s.log.Error("sfsim: encode response", zap.Error(err))
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		h.Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(resp.status)
		_, _ = w.Write(b)
	default:
		w.WriteHeader(resp.status)
	}
}

func encodeJSON(v any) ([]byte, error) {
	if rs, ok := v.([]saveResult); ok {
		return appendSaveResults(make([]byte, 0, 80*len(rs)+2), rs), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// parseVersion accepts "v45.0" … "v62.0".
func parseVersion(seg string) (int, bool) {
	major, ok := strings.CutSuffix(strings.TrimPrefix(seg, "v"), ".0")
	if !ok || !strings.HasPrefix(seg, "v") {
		return 0, false
	}
	n, err := strconv.Atoi(major)
	if err != nil || n < minVersion || n > maxVersion || strconv.Itoa(n) != major {
		return 0, false
	}
	return n, true
}

// versionList is GET /services/data.
func versionList() []map[string]string {
	seasons := []string{"Spring", "Summer", "Winter"}
	var out []map[string]string
	for v := minVersion; v <= maxVersion; v++ {
		i := v - minVersion
		year := 19 + i/3
		if i%3 == 2 {
			year++
		}
		out = append(out, map[string]string{"label": fmt.Sprintf("%s '%d", seasons[i%3], year),
			"url": fmt.Sprintf("/services/data/v%d.0", v), "version": fmt.Sprintf("%d.0", v)})
	}
	return out
}

// call is one data request (or one composite subrequest).
type call struct {
	s       *Server
	method  string
	version int
	segs    []string // path segments after /services/data/vXX.X, unescaped
	rawSegs []string
	query   url.Values
	header  http.Header
	body    []byte
	ctx     context.Context
	sess    *session
	// inTx is set inside a composite request: the store is already
	// write-locked and tx is shared by every subrequest.
	inTx           bool
	tx             *txn
	forceAllOrNone bool
	lockRate       float64 // per-record UNABLE_TO_LOCK_ROW probability
}

func (c *call) setPath(rest string) *apiError {
	rest = strings.TrimSuffix(rest, "/")
	if rest == "" {
		return nil
	}
	c.rawSegs = strings.Split(rest, "/")
	c.segs = make([]string, len(c.rawSegs))
	for i, rs := range c.rawSegs {
		u, err := url.PathUnescape(rs)
		if err != nil || u == "" {
			return errNotFound()
		}
		c.segs[i] = u
	}
	return nil
}

func (c *call) lock() func() {
	if c.inTx {
		return func() {}
	}
	c.s.mu.Lock()
	return c.s.mu.Unlock
}

func (c *call) rlock() func() {
	if c.inTx {
		return func() {}
	}
	c.s.mu.RLock()
	return c.s.mu.RUnlock
}

// txn returns the transaction writes join: the composite's, or a new one.
func (c *call) txn() *txn {
	if c.inTx {
		return c.tx
	}
	return &txn{}
}

func (c *call) writeOpts() *writeOpts {
	d := parseDupHeader(c.header.Get("Sforce-Duplicate-Rule-Header"))
	userID := c.sess.userID
	if userID == "" {
		userID = c.s.userID
	}
	return &writeOpts{integration: c.sess.integration, allowSave: d.allowSave, details: d.details,
		version: c.version, now: time.Now(), userID: userID}
}

// route is a resolved resource.
type route struct {
	name       string // for stats: "METHOD /template"
	h          func(*call) *response
	collection bool  // a collections write: lock faults are drawn per record
	maxBody    int64 // body cap when not maxBody (a Bulk CSV upload)
	// reuseBody: the handler keeps nothing of c.body once it returns (a
	// Bulk upload keeps it), so the buffer goes back to bodyPool.
	reuseBody bool
}

// route maps a call to its handler.
func (s *Server) route(c *call) route {
	seg := c.segs
	m := c.method
	name := func(t string) string { return m + " /" + t }
	notAllowed := func(t string, allowed ...string) route {
		return route{name: name(t), h: func(*call) *response { return s.fail(errMethod(m, allowed...)) }}
	}
	n := len(seg)
	switch {
	case n == 0:
		if m != http.MethodGet {
			return notAllowed("", "HEAD", "GET")
		}
		return route{name: name(""), h: s.hResources}
	case seg[0] == "limits" && n == 1:
		if m != http.MethodGet {
			return notAllowed("limits", "HEAD", "GET")
		}
		return route{name: name("limits"), h: s.hLimits}
	case seg[0] == "limits" && n == 2 && seg[1] == "recordCount":
		if m != http.MethodGet {
			return notAllowed("limits/recordCount", "HEAD", "GET")
		}
		return route{name: name("limits/recordCount"), h: s.hRecordCount}
	case (seg[0] == "query" || seg[0] == "queryAll") && n <= 2:
		if m != http.MethodGet {
			return notAllowed(seg[0], "HEAD", "GET")
		}
		if n == 2 {
			return route{name: name(seg[0] + "/{locator}"), h: s.hQueryMore}
		}
		return route{name: name(seg[0]), h: s.hQuery}
	case seg[0] == "sobjects" && n == 1:
		if m != http.MethodGet {
			return notAllowed("sobjects", "HEAD", "GET")
		}
		return route{name: name("sobjects"), h: s.hDescribeGlobal}
	case seg[0] == "sobjects" && n == 2:
		switch m {
		case http.MethodGet:
			return route{name: name("sobjects/{type}"), h: s.hObjectInfo}
		case http.MethodPost:
			return route{name: name("sobjects/{type}"), h: s.hCreate}
		}
		return notAllowed("sobjects/{type}", "HEAD", "GET", "POST")
	case seg[0] == "sobjects" && n == 3 && seg[2] == "describe":
		if m != http.MethodGet {
			return notAllowed("sobjects/{type}/describe", "HEAD", "GET")
		}
		return route{name: name("sobjects/{type}/describe"), h: s.hDescribe}
	case seg[0] == "sobjects" && n == 3:
		switch m {
		case http.MethodGet:
			return route{name: name("sobjects/{type}/{id}"), h: s.hGet}
		case http.MethodPatch:
			return route{name: name("sobjects/{type}/{id}"), h: s.hUpdate}
		case http.MethodDelete:
			return route{name: name("sobjects/{type}/{id}"), h: s.hDelete}
		case http.MethodPost:
			if seg[2] == "Id" {
				return route{name: name("sobjects/{type}/Id"), h: s.hCreate}
			}
		}
		return notAllowed("sobjects/{type}/{id}", "HEAD", "GET", "PATCH", "DELETE")
	case seg[0] == "sobjects" && n == 4:
		switch m {
		case http.MethodGet:
			return route{name: name("sobjects/{type}/{field}/{value}"), h: s.hGetByExt}
		case http.MethodPatch:
			return route{name: name("sobjects/{type}/{field}/{value}"), h: s.hUpsert}
		case http.MethodDelete:
			return route{name: name("sobjects/{type}/{field}/{value}"), h: s.hDeleteByExt}
		}
		return notAllowed("sobjects/{type}/{field}/{value}", "HEAD", "GET", "PATCH", "DELETE")
	case seg[0] == "composite" && n == 1:
		if m != http.MethodPost {
			return notAllowed("composite", "POST")
		}
		return route{name: name("composite"), h: s.hComposite}
	case seg[0] == "composite" && n == 2 && seg[1] == "sobjects":
		switch m {
		case http.MethodPost:
			return route{name: name("composite/sobjects"), h: s.hCollCreate, collection: true, reuseBody: true}
		case http.MethodPatch:
			return route{name: name("composite/sobjects"), h: s.hCollUpdate, collection: true, reuseBody: true}
		case http.MethodDelete:
			return route{name: name("composite/sobjects"), h: s.hCollDelete, collection: true}
		}
		return notAllowed("composite/sobjects", "POST", "PATCH", "DELETE")
	case seg[0] == "composite" && n == 4 && seg[1] == "sobjects":
		if m != http.MethodPatch {
			return notAllowed("composite/sobjects/{type}/{field}", "PATCH")
		}
		return route{name: name("composite/sobjects/{type}/{field}"), h: s.hCollUpsert, collection: true, reuseBody: true}
	case seg[0] == "jobs":
		return s.bulkRoute(c)
	case seg[0] == "composite" && n == 3 && seg[1] == "tree":
		if m != http.MethodPost {
			return notAllowed("composite/tree/{type}", "POST")
		}
		return route{name: name("composite/tree/{type}"), h: s.hTree}
	}
	return route{name: m + " (unknown)", h: func(*call) *response { return s.fail(errNotFound()) }}
}

// hResources is GET /services/data/vXX.X.
func (s *Server) hResources(c *call) *response {
	base := fmt.Sprintf("/services/data/v%d.0/", c.version)
	out := map[string]string{}
	for _, r := range []string{"sobjects", "query", "queryAll", "composite", "limits", "jobs"} {
		out[r] = base + r
	}
	return jsonResp(http.StatusOK, out)
}
