package producer

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/bus"
)

const token = "s3cret-token"

func ingestServer(t *testing.T, e env, maxBody int64) *httptest.Server {
	t.Helper()
	h, err := NewIngestHandler(e.js, IngestConfig{Token: token, MaxBody: maxBody})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, auth, body string) (int, IngestResponse, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/deltas", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out IngestResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("status %d body %q: %v", resp.StatusCode, raw, err)
	}
	if strings.Contains(string(raw), token) {
		t.Fatal("response contains the token")
	}
	return resp.StatusCode, out, resp.Header
}

func TestIngestAuth(t *testing.T) {
	e := start(t)
	srv := ingestServer(t, e, 0)
	body := line("A_1", "emea", 1, `{"LastName":"x"}`)
	for _, auth := range []string{"", "Bearer wrong", "Basic " + token, token, "Bearer " + token + "x"} {
		code, resp, h := post(t, srv.URL, auth, body)
		if code != http.StatusUnauthorized || h.Get("WWW-Authenticate") == "" || resp.Accepted != 0 {
			t.Errorf("auth %q: %d %+v", auth, code, resp)
		}
	}
	if n := streamMsgs(t, e.js); n != 0 {
		t.Fatalf("unauthorized requests stored %d deltas", n)
	}
	if code, _, _ := post(t, srv.URL, "bearer "+token, body); code != http.StatusAccepted {
		t.Fatalf("good token: %d", code)
	}
}

func TestIngestBodyCap(t *testing.T) {
	e := start(t)
	srv := ingestServer(t, e, 512)
	big := strings.Repeat(line("A_1", "emea", 1, `{"LastName":"x"}`)+"\n", 10)
	code, resp, _ := post(t, srv.URL, "Bearer "+token, big)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(resp.Error, "512") {
		t.Fatalf("%d %+v", code, resp)
	}
	if n := streamMsgs(t, e.js); n != 0 {
		t.Fatalf("oversized request stored %d deltas", n)
	}
}

func TestIngestNothingParseable(t *testing.T) {
	e := start(t)
	srv := ingestServer(t, e, 0)
	for name, body := range map[string]string{
		"empty":             "  \n",
		"malformed array":   `[` + line("A_1", "emea", 1, `{"LastName":"x"}`) + `,`,
		"all bad ndjson":    "{not json}\n" + line("", "emea", 1, `{"LastName":"x"}`),
		"empty array":       `[]`,
		"array of bad ones": `[{"schema":"contact.delta/v1"}, 42]`,
	} {
		code, resp, _ := post(t, srv.URL, "Bearer "+token, body)
		if code != http.StatusBadRequest || resp.Accepted != 0 || resp.Error == "" {
			t.Errorf("%s: %d %+v", name, code, resp)
		}
	}
	code, resp, _ := post(t, srv.URL, "Bearer "+token, "{not json}\n"+line("", "emea", 1, `{"LastName":"x"}`))
	if code != 400 || resp.Rejected != 2 || len(resp.Errors) != 2 || resp.Errors[1].Field != "external_id" || resp.Errors[1].Record != 2 {
		t.Errorf("per-record reasons on 400: %+v", resp)
	}
	if n := streamMsgs(t, e.js); n != 0 {
		t.Fatalf("stored %d", n)
	}
}

func TestIngestAcceptsAndDedups(t *testing.T) {
	e := start(t)
	srv := ingestServer(t, e, 0)
	// NDJSON with the bad-input cases mixed in.
	code, resp, _ := post(t, srv.URL, "Bearer "+token, ndjsonInput)
	if code != http.StatusAccepted || resp.Accepted != 6 || resp.Published != 6 || resp.Rejected != 5 || resp.Duplicates != 0 {
		t.Fatalf("%d %+v", code, resp)
	}
	wantErr := map[int]string{3: "", 5: "external_id", 7: "segment", 9: "colour", 11: "fields"}
	if len(resp.Errors) != len(wantErr) {
		t.Fatalf("errors %+v", resp.Errors)
	}
	for _, re := range resp.Errors {
		if f, ok := wantErr[re.Record]; !ok || f != re.Field || re.Reason == "" {
			t.Errorf("error %+v, want field %q", re, f)
		}
	}
	// A re-post stores nothing new.
	code, resp, _ = post(t, srv.URL, "Bearer "+token, ndjsonInput)
	// Issue 10: accepted counted duplicates while nothing said what was new.
	if code != http.StatusAccepted || resp.Accepted != 6 || resp.Duplicates != 6 || resp.Published != 0 {
		t.Fatalf("re-post: %d %+v", code, resp)
	}
	// A JSON array, numbered from 1.
	arr := `[` + line("J_1", "emea", 1, `{"LastName":"x"}`) + `,` + line("J_2", "Bad Seg", 1, `{"LastName":"x"}`) + `,` +
		line("J_3", "emea", 1, `{"Email":{"a":1}}`) + `]`
	code, resp, _ = post(t, srv.URL, "Bearer "+token, arr)
	if code != http.StatusAccepted || resp.Accepted != 1 || resp.Rejected != 2 ||
		resp.Errors[0].Record != 2 || resp.Errors[0].Field != "segment" || resp.Errors[1].Record != 3 || resp.Errors[1].Field != "fields.Email" {
		t.Fatalf("array: %d %+v", code, resp)
	}
	if n := streamMsgs(t, e.js); n != 7 {
		t.Fatalf("CONTACTS holds %d, want 7", n)
	}
}

func TestIngestConcurrentRequests(t *testing.T) {
	e := start(t)
	srv := ingestServer(t, e, 0)
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b strings.Builder
			for j := range 50 {
				b.WriteString(line("C_"+string(rune('a'+i))+"_"+strings.Repeat("x", j%3)+string(rune('0'+j%10))+string(rune('0'+j/10)), "emea", 1, `{"LastName":"x"}`) + "\n")
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/deltas", strings.NewReader(b.String()))
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			codes[i] = resp.StatusCode
			resp.Body.Close()
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusAccepted {
			t.Errorf("request %d: %d", i, c)
		}
	}
	if n := streamMsgs(t, e.js); n != 400 {
		t.Fatalf("CONTACTS holds %d, want 400", n)
	}
}

func TestHealthz(t *testing.T) {
	e := start(t)
	srv := ingestServer(t, e, 0)
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	e.nc.Close()
	resp, err = http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("healthz after close %d", resp.StatusCode)
	}
}

func TestNewIngestHandlerNeedsToken(t *testing.T) {
	if _, err := NewIngestHandler(nil, IngestConfig{}); err == nil || !strings.Contains(err.Error(), "Token") {
		t.Fatalf("err = %v", err)
	}
}

// TestServe runs the service as `producer serve` does and stops it.
func TestServe(t *testing.T) {
	e := start(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	metrics := freeAddr(t)
	go func() {
		done <- Serve(ctx, ServeConfig{Env: Env{NATSURL: e.srv.ClientURL()}, Addr: "127.0.0.1:0", MetricsAddr: metrics,
			Ingest: IngestConfig{Token: token}, OnListen: func(a net.Addr) { addrc <- a }})
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	code, resp, _ := post(t, "http://"+addr.String(), "Bearer "+token, line("S_1", "emea", 1, `{"LastName":"x"}`))
	if code != http.StatusAccepted || resp.Accepted != 1 {
		t.Fatalf("%d %+v", code, resp)
	}
	// Issue 10: the probes' /healthz on METRICS_ADDR was never served.
	for deadline := time.Now().Add(10 * time.Second); ; {
		r, err := http.Get("http://" + metrics + "/healthz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s/healthz: %v", metrics, err)
		}
		runtime.Gosched()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	s, err := e.js.Stream(ctxT(t), bus.StreamContacts)
	if err != nil {
		t.Fatal(err)
	}
	if s.CachedInfo().State.Msgs != 1 {
		t.Fatalf("msgs %d", s.CachedInfo().State.Msgs)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A METRICS_ADDR in use is an error (exit 1), not a silent success.
func TestServeMetricsPortInUse(t *testing.T) {
	e := start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = Serve(ctxT(t), ServeConfig{Env: Env{NATSURL: e.srv.ClientURL()}, Addr: "127.0.0.1:0", MetricsAddr: ln.Addr().String(),
		Ingest: IngestConfig{Token: token}})
	if err == nil || !strings.Contains(err.Error(), "METRICS_ADDR") {
		t.Fatalf("Serve with METRICS_ADDR in use = %v", err)
	}
}
