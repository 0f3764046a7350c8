package sfsim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	v60      = "/services/data/v60.0"
	extField = "External_Contact_ID__c"
)

// org is an emulator with an HTTP client and an integration token.
type org struct {
	t     testing.TB
	srv   *sfsim.Server
	hc    *http.Client
	token string
}

func start(t testing.TB, cfg sfsim.Config) *org {
	t.Helper()
	srv, err := sfsim.New(cfg)
	if err != nil {
		t.Fatalf("sfsim.New: %v", err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	o := &org{t: t, srv: srv, hc: &http.Client{Transport: tr}}
	o.token = o.login(sfsim.DefaultClientID, sfsim.DefaultClientSecret)
	return o
}

// tokenCall posts a token request and returns status and decoded body.
func (o *org) tokenCall(form url.Values) (int, map[string]any) {
	o.t.Helper()
	res, err := o.hc.PostForm(o.srv.URL()+"/services/oauth2/token", form)
	if err != nil {
		o.t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		o.t.Fatalf("token response: %v", err)
	}
	return res.StatusCode, m
}

func (o *org) login(id, secret string) string {
	o.t.Helper()
	code, m := o.tokenCall(url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}})
	if code != 200 {
		o.t.Fatalf("token: %d %v", code, m)
	}
	return m["access_token"].(string)
}

// reply is one HTTP exchange's outcome.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body as generic JSON.
func (r reply) json(t testing.TB) any {
	t.Helper()
	if len(r.body) == 0 {
		t.Fatalf("empty body (status %d)", r.status)
	}
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return v
}

func (r reply) obj(t testing.TB) map[string]any {
	t.Helper()
	m, ok := r.json(t).(map[string]any)
	if !ok {
		t.Fatalf("body is not an object: %s", r.body)
	}
	return m
}

func (r reply) list(t testing.TB) []any {
	t.Helper()
	l, ok := r.json(t).([]any)
	if !ok {
		t.Fatalf("body is not an array: %s", r.body)
	}
	return l
}

// topError asserts a top-level error array of one error and returns it.
func (r reply) topError(t testing.TB, status int, code string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	l := r.list(t)
	if len(l) != 1 {
		t.Fatalf("want one error, got %s", r.body)
	}
	e := l[0].(map[string]any)
	if e["errorCode"] != code {
		t.Fatalf("errorCode %v, want %s; body %s", e["errorCode"], code, r.body)
	}
	if _, ok := e["statusCode"]; ok {
		t.Fatalf("top-level error carries statusCode: %s", r.body)
	}
	if _, ok := e["message"].(string); !ok {
		t.Fatalf("error without message: %s", r.body)
	}
	return e
}

// do sends a data call with the org's token; body is JSON-encoded unless
// it is a string or []byte.
func (o *org) do(method, path string, body any, hdr ...string) reply {
	o.t.Helper()
	return o.doAs(o.token, method, path, body, hdr...)
}

func (o *org) doAs(token, method, path string, body any, hdr ...string) reply {
	o.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			o.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	u := path
	if !strings.HasPrefix(u, "http") {
		u = o.srv.URL() + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		o.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := o.hc.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		o.t.Fatal(err)
	}
	return reply{status: res.StatusCode, header: res.Header, body: data}
}

// collection builds a collections body of Contact records.
func collection(allOrNone bool, recs ...map[string]any) map[string]any {
	out := make([]any, len(recs))
	for i, r := range recs {
		c := map[string]any{"attributes": map[string]any{"type": "Contact"}}
		for k, v := range r {
			c[k] = v
		}
		out[i] = c
	}
	return map[string]any{"allOrNone": allOrNone, "records": out}
}

// results decodes a collections response (200) into per-record maps.
func (r reply) results(t testing.TB) []map[string]any {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	var out []map[string]any
	for _, x := range r.list(t) {
		out = append(out, x.(map[string]any))
	}
	return out
}

// recErr returns the first per-record error's statusCode and message,
// asserting the per-record shape (statusCode, message, fields array).
func recErr(t testing.TB, res map[string]any) (string, string) {
	t.Helper()
	if res["success"] != false {
		t.Fatalf("result succeeded: %v", res)
	}
	errs, _ := res["errors"].([]any)
	if len(errs) == 0 {
		t.Fatalf("failed result without errors: %v", res)
	}
	e := errs[0].(map[string]any)
	if _, ok := e["errorCode"]; ok {
		t.Fatalf("per-record error carries errorCode: %v", e)
	}
	if _, ok := e["fields"].([]any); !ok {
		t.Fatalf("per-record error without fields array: %v", e)
	}
	return e["statusCode"].(string), e["message"].(string)
}

func str(v any) string { s, _ := v.(string); return s }
