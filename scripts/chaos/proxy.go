package main

import (
	"bytes"
	"context"
	"encoding/json"
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
)

// writeRec is one record of one Contact write as Salesforce answered it.
// Seq0 is taken when the proxy received the request, Seq1 when it had the
// whole answer; both come from one counter, so A.Seq1 < B.Seq0 means
// Salesforce applied A before it even saw B.
type writeRec struct {
	Seq0, Seq1  int64
	At          time.Time
	Route       string // upsert-collection, update-collection, create-collection, upsert, update, create
	ExtID       string // from the request (upsert path or body), or "" (update by Id without it)
	ID          string // Salesforce Id: from the request (update) or the answer
	Version     int64  // from the Description marker; 0 = none
	SyncVersion int64  // Sync_Version__c when the write carries it; 0 = none
	Success     bool
	Created     bool
	Code        string // errorCode of a failed record
}

// recorder is the write log.
type recorder struct {
	seq atomic.Int64

	mu        sync.Mutex
	writes    []writeRec
	lastWrite time.Time
	requests  map[string]int // by route
	unparsed  []string       // writes the proxy could not read (method path: why)
	excWrites int            // Contact_Sync_Exception__c records written
}

func newRecorder() *recorder { return &recorder{requests: map[string]int{}} }

func (r *recorder) add(recs []writeRec, route string, isWrite bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, recs...)
	r.requests[route]++
	if isWrite {
		r.lastWrite = time.Now()
	}
}

func (r *recorder) unparsedWrite(what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.unparsed) < 1000 {
		r.unparsed = append(r.unparsed, what)
	}
	r.lastWrite = time.Now()
}

// snapshot returns a copy of the log and when the last write was seen.
func (r *recorder) snapshot() ([]writeRec, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]writeRec(nil), r.writes...), r.lastWrite
}

func (r *recorder) stats() (writes int, last time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.writes), r.lastWrite
}

// proxy forwards every request to the emulator and records Contact writes.
// It rewrites instance_url in token answers to itself, so data calls come
// back through it. Upstream calls are not cancelled when the client goes
// away (a SIGKILLed upserter): Salesforce finishes such a write too, and
// the log must know its outcome.
type proxy struct {
	upstream *url.URL
	self     string
	rec      *recorder
	client   *http.Client
	srv      *http.Server
	ln       net.Listener
}

func startProxy(upstream string, rec *recorder) (*proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{upstream: u, self: "http://" + ln.Addr().String(), rec: rec, ln: ln,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}}}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *proxy) URL() string { return p.self }

func (p *proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	p.client.CloseIdleConnections()
	return err
}

var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		http.Error(w, "chaos proxy: reading request: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Minute)
	defer cancel()
	out, err := http.NewRequestWithContext(ctx, r.Method, p.upstream.String()+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	out.Host = p.upstream.Host
	seq0 := p.rec.seq.Add(1)
	resp, err := p.client.Do(out)
	if err != nil {
		p.observe(r, body, seq0, p.rec.seq.Add(1), 0, nil, err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, `[{"errorCode":"SERVER_UNAVAILABLE","message":"chaos proxy: %s"}]`, strings.ReplaceAll(err.Error(), `"`, `'`))
		return
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	seq1 := p.rec.seq.Add(1)
	if err != nil {
		p.observe(r, body, seq0, seq1, 0, nil, err)
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	if r.URL.Path == "/services/oauth2/token" && resp.StatusCode == http.StatusOK {
		respBody = p.rewriteToken(respBody)
	}
	p.observe(r, body, seq0, seq1, resp.StatusCode, respBody, nil)
	for k, vs := range resp.Header {
		if k == "Content-Length" {
			continue
		}
		w.Header()[k] = vs
	}
	for _, h := range hopHeaders {
		w.Header().Del(h)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(respBody)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
}

// rewriteToken points instance_url at the proxy.
func (p *proxy) rewriteToken(b []byte) []byte {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return b
	}
	for _, k := range []string{"instance_url", "api_instance_url"} {
		if _, ok := m[k]; ok {
			m[k] = p.self
		}
	}
	nb, err := json.Marshal(m)
	if err != nil {
		return b
	}
	return nb
}

// observe records what one request did.
func (p *proxy) observe(r *http.Request, body []byte, seq0, seq1 int64, status int, resp []byte, upErr error) {
	segs, ok := dataPath(r.URL.EscapedPath())
	if !ok {
		p.rec.add(nil, r.Method+" "+r.URL.Path, false)
		return
	}
	isWrite := r.Method != http.MethodGet && r.Method != http.MethodHead
	at := time.Now()
	recs, route, err := parseWrite(r.Method, segs, body, status, resp)
	if upErr != nil && err == nil && route != "" {
		for i := range recs { // no answer: unknown outcome, counted as not applied
			recs[i].Success, recs[i].Code = false, "PROXY_ERROR"
		}
	}
	for i := range recs {
		recs[i].Seq0, recs[i].Seq1, recs[i].At = seq0, seq1, at
	}
	if err != nil {
		p.rec.unparsedWrite(fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, err))
		return
	}
	if route == "" {
		route = r.Method + " " + strings.Join(segs, "/")
		if len(segs) > 0 && (segs[0] == "query" || segs[0] == "queryAll") {
			route = r.Method + " " + segs[0]
		}
	}
	if route == "exception" {
		p.rec.mu.Lock()
		p.rec.excWrites += len(recs)
		p.rec.mu.Unlock()
		recs = nil
	}
	p.rec.add(recs, route, isWrite)
}

// dataPath splits /services/data/vNN.N/a/b into unescaped segments [a b].
func dataPath(escaped string) ([]string, bool) {
	rest, ok := strings.CutPrefix(escaped, "/services/data/v")
	if !ok {
		return nil, false
	}
	_, rest, _ = strings.Cut(rest, "/")
	var segs []string
	for _, s := range strings.Split(rest, "/") {
		if s == "" {
			continue
		}
		u, err := url.PathUnescape(s)
		if err != nil {
			u = s
		}
		segs = append(segs, u)
	}
	return segs, true
}

const (
	contactObject   = "Contact"
	exceptionObject = "Contact_Sync_Exception__c"
	extIDField      = "External_Contact_ID__c"
)

type saveResult struct {
	ID      string `json:"id"`
	Success bool   `json:"success"`
	Created bool   `json:"created"`
	Errors  []struct {
		StatusCode string `json:"statusCode"`
	} `json:"errors"`
}

// parseWrite reads one data call. It returns the Contact records written
// (route names the kind), route "exception" for exception-record writes,
// route "" for reads, and an error for a write it cannot vouch for.
func parseWrite(method string, segs []string, body []byte, status int, resp []byte) ([]writeRec, string, error) {
	n := len(segs)
	switch {
	case method == http.MethodGet || method == http.MethodHead || n == 0:
		return nil, "", nil
	case segs[0] == "composite" && n == 1 && method == http.MethodPost:
		return parseComposite(body, status, resp)
	case segs[0] == "composite" && n >= 2 && segs[1] == "sobjects":
		return parseCollection(method, segs, body, status, resp)
	case segs[0] == "sobjects" && n >= 2:
		return parseSingle(method, segs, body, status, resp)
	}
	return nil, "", fmt.Errorf("unknown write route")
}

func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// wholeFailure is the errorCode of a request-level error answer.
func wholeFailure(resp []byte) string {
	var errs []struct {
		ErrorCode string `json:"errorCode"`
	}
	if decodeJSON(resp, &errs) == nil && len(errs) > 0 {
		return errs[0].ErrorCode
	}
	return "HTTP_ERROR"
}

func parseCollection(method string, segs []string, body []byte, status int, resp []byte) ([]writeRec, string, error) {
	var req struct {
		Records []map[string]any `json:"records"`
	}
	if method == http.MethodDelete {
		return nil, "", fmt.Errorf("collection delete")
	}
	if err := decodeJSON(body, &req); err != nil {
		return nil, "", fmt.Errorf("request body: %w", err)
	}
	var route, object string
	switch {
	case len(segs) == 4 && method == http.MethodPatch:
		route, object = "upsert-collection", segs[2]
		if object == contactObject && segs[3] != extIDField {
			return nil, "", fmt.Errorf("upsert by %s, not %s", segs[3], extIDField)
		}
	case len(segs) == 2 && method == http.MethodPatch:
		route = "update-collection"
	case len(segs) == 2 && method == http.MethodPost:
		route = "create-collection"
	default:
		return nil, "", fmt.Errorf("unknown collections route")
	}
	var results []saveResult
	code := ""
	if status == http.StatusOK {
		if err := decodeJSON(resp, &results); err != nil {
			return nil, "", fmt.Errorf("answer: %w", err)
		}
		if len(results) != len(req.Records) {
			return nil, "", fmt.Errorf("%d results for %d records", len(results), len(req.Records))
		}
	} else {
		code = wholeFailure(resp)
	}
	var recs []writeRec
	exceptions := 0
	for i, rec := range req.Records {
		typ := object
		if typ == "" {
			if a, ok := rec["attributes"].(map[string]any); ok {
				typ, _ = a["type"].(string)
			}
		}
		if typ == exceptionObject {
			exceptions++
			continue
		}
		if typ != contactObject {
			continue
		}
		w := recordFields(rec)
		w.Route = route
		if code != "" {
			w.Code = code
		} else {
			res := results[i]
			w.Success, w.Created = res.Success, res.Created
			if res.ID != "" {
				w.ID = res.ID
			}
			if len(res.Errors) > 0 {
				w.Code = res.Errors[0].StatusCode
			}
		}
		recs = append(recs, w)
	}
	if len(recs) == 0 && exceptions > 0 {
		return make([]writeRec, exceptions), "exception", nil
	}
	return recs, route, nil
}

// recordFields reads the fields the checks need from one record body.
func recordFields(rec map[string]any) writeRec {
	var w writeRec
	w.ExtID, _ = rec[extIDField].(string)
	if id, ok := rec["Id"].(string); ok {
		w.ID = id
	} else if id, ok := rec["id"].(string); ok {
		w.ID = id
	}
	if d, ok := rec["Description"].(string); ok {
		w.Version = parseMarker(d)
	}
	if n, ok := rec["Sync_Version__c"].(json.Number); ok {
		if v, err := n.Int64(); err == nil {
			w.SyncVersion = v
		} else if f, err := n.Float64(); err == nil {
			w.SyncVersion = int64(f)
		}
	}
	return w
}

func parseSingle(method string, segs []string, body []byte, status int, resp []byte) ([]writeRec, string, error) {
	object := segs[1]
	if object == exceptionObject {
		return make([]writeRec, 1), "exception", nil
	}
	if object != contactObject {
		return nil, "", nil
	}
	var rec map[string]any
	if method != http.MethodDelete {
		if err := decodeJSON(body, &rec); err != nil {
			return nil, "", fmt.Errorf("request body: %w", err)
		}
	}
	w := recordFields(rec)
	switch {
	case len(segs) == 2 && method == http.MethodPost, len(segs) == 3 && segs[2] == "Id" && method == http.MethodPost:
		w.Route = "create"
	case len(segs) == 3 && method == http.MethodPatch:
		w.Route, w.ID = "update", segs[2]
	case len(segs) == 4 && method == http.MethodPatch && segs[2] == extIDField:
		w.Route, w.ExtID = "upsert", segs[3]
	default:
		return nil, "", fmt.Errorf("unsupported Contact write")
	}
	switch {
	case status == http.StatusOK || status == http.StatusCreated:
		var res saveResult
		if err := decodeJSON(resp, &res); err == nil {
			if res.ID != "" {
				w.ID = res.ID
			}
			w.Created = res.Created || status == http.StatusCreated
		}
		w.Success = true
	case status == http.StatusNoContent:
		w.Success = true
	default:
		w.Code = wholeFailure(resp)
	}
	return []writeRec{w}, w.Route, nil
}

func parseComposite(body []byte, status int, resp []byte) ([]writeRec, string, error) {
	var req struct {
		CompositeRequest []struct {
			Method string          `json:"method"`
			URL    string          `json:"url"`
			Body   json.RawMessage `json:"body"`
		} `json:"compositeRequest"`
	}
	if err := decodeJSON(body, &req); err != nil {
		return nil, "", fmt.Errorf("request body: %w", err)
	}
	var res struct {
		CompositeResponse []struct {
			Body           json.RawMessage `json:"body"`
			HTTPStatusCode int             `json:"httpStatusCode"`
		} `json:"compositeResponse"`
	}
	if status == http.StatusOK {
		if err := decodeJSON(resp, &res); err != nil {
			return nil, "", fmt.Errorf("answer: %w", err)
		}
	}
	var recs []writeRec
	for i, sub := range req.CompositeRequest {
		u, err := url.Parse(sub.URL)
		if err != nil {
			return nil, "", fmt.Errorf("subrequest %d: %w", i, err)
		}
		segs, ok := dataPath(u.EscapedPath())
		if !ok {
			return nil, "", fmt.Errorf("subrequest %d: %s", i, sub.URL)
		}
		st, rb := 0, []byte(nil)
		if i < len(res.CompositeResponse) {
			st, rb = res.CompositeResponse[i].HTTPStatusCode, res.CompositeResponse[i].Body
		}
		sr, route, err := parseWrite(strings.ToUpper(sub.Method), segs, sub.Body, st, rb)
		if err != nil {
			return nil, "", fmt.Errorf("subrequest %d: %w", i, err)
		}
		if route != "exception" {
			recs = append(recs, sr...)
		}
	}
	return recs, "composite", nil
}
