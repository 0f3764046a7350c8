package sfsim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

func TestFaultKinds(t *testing.T) {
	o := start(t, sfsim.Config{})
	create := map[string]any{"LastName": "F"}
	t.Run("UNABLE_TO_LOCK_ROW single record is 400", func(t *testing.T) {
		o.srv.SetFaults(sfsim.Faults{ErrorRate: 1, Errors: []string{"UNABLE_TO_LOCK_ROW"}})
		e := o.do("POST", v60+"/sobjects/Contact", create).topError(t, 400, "UNABLE_TO_LOCK_ROW")
		if !strings.HasPrefix(str(e["message"]), "unable to obtain exclusive access to this record") {
			t.Errorf("message %v", e["message"])
		}
	})
	t.Run("SERVER_UNAVAILABLE is 503 JSON", func(t *testing.T) {
		o.srv.SetFaults(sfsim.Faults{ErrorRate: 1, Errors: []string{"SERVER_UNAVAILABLE"}})
		o.do("GET", queryPath("SELECT Id FROM Contact"), nil).topError(t, 503, "SERVER_UNAVAILABLE")
		// also on collections, for the whole request
		o.do("PATCH", collUpsert, collection(false, map[string]any{extField: "Z", "LastName": "Z"})).topError(t, 503, "SERVER_UNAVAILABLE")
	})
	t.Run("HTML_502 is a gateway page", func(t *testing.T) {
		o.srv.SetFaults(sfsim.Faults{ErrorRate: 1, Errors: []string{"HTML_502"}})
		r := o.do("POST", v60+"/sobjects/Contact", create)
		if r.status != 502 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.body), "<title>502 Bad Gateway</title>") {
			t.Errorf("%d %s %s", r.status, r.header.Get("Content-Type"), r.body)
		}
	})
	o.srv.SetFaults(sfsim.Faults{})
	if n := len(o.srv.Records("Contact")); n != 0 {
		t.Errorf("faulted requests wrote %d records", n)
	}
	// the token endpoint and admin API are never faulted
	o.srv.SetFaults(sfsim.Faults{ErrorRate: 1, Errors: []string{"SERVER_UNAVAILABLE"}})
	o.login("contactsync", "contactsync-secret")
	if r := o.doAs("", "GET", "/__sfsim/stats", nil); r.status != 200 {
		t.Errorf("admin faulted: %d", r.status)
	}
}

// lockedRows runs one 100-record collections upsert and returns which rows
// hit an injected lock.
func lockedRows(t *testing.T, seed int64) []int {
	o := start(t, sfsim.Config{Seed: seed, Faults: sfsim.Faults{ErrorRate: 0.5, Errors: []string{"UNABLE_TO_LOCK_ROW"}}})
	recs := make([]map[string]any, 100)
	for i := range recs {
		recs[i] = map[string]any{extField: fmt.Sprint("L", i), "LastName": "L"}
	}
	var locked []int
	for i, res := range o.do("PATCH", collUpsert, collection(false, recs...)).results(t) {
		if res["success"] == true {
			continue
		}
		if code, _ := recErr(t, res); code != "UNABLE_TO_LOCK_ROW" {
			t.Fatalf("row %d: %s", i, code)
		}
		locked = append(locked, i)
	}
	if n := len(o.srv.Records("Contact")); n != 100-len(locked) {
		t.Errorf("%d records for %d locked rows", n, len(locked))
	}
	return locked
}

func TestPerRecordLockFaultsAreSeeded(t *testing.T) {
	a, b := lockedRows(t, 7), lockedRows(t, 7)
	if len(a) == 0 || len(a) == 100 {
		t.Fatalf("%d of 100 rows locked at rate 0.5", len(a))
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("same seed, different faults:\n%v\n%v", a, b)
	}
	if c := lockedRows(t, 8); fmt.Sprint(a) == fmt.Sprint(c) {
		t.Errorf("different seeds, same faults")
	}
}

func TestLatencyEndsWithClose(t *testing.T) {
	// Ten minutes of latency: Close must not wait it out, and the caller sees
	// an error rather than hanging.
	srv, err := sfsim.New(sfsim.Config{Faults: sfsim.Faults{LatencyMS: 600000}})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	res, err := hc.PostForm(srv.URL()+"/services/oauth2/token", map[string][]string{"grant_type": {"client_credentials"}, "client_id": {"contactsync"}, "client_secret": {"contactsync-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	started := make(chan struct{})
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL()+v60+"/limits", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		close(started)
		res, err := hc.Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	<-started
	// wait until the request is being served (counted), then close
	for srv.Stats().APICalls == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	<-done
}

func TestFaultsAdminAPI(t *testing.T) {
	o := start(t, sfsim.Config{})
	r := o.doAs("", "PUT", "/__sfsim/faults", `{"latency_ms":1,"jitter_ms":2,"latency_per_record_ms":3,"error_rate":0.25,"errors":["HTML_502","SERVER_UNAVAILABLE"],"daily_limit":7}`)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	got := o.doAs("", "GET", "/__sfsim/faults", nil).obj(t)
	if got["error_rate"] != 0.25 || got["daily_limit"] != 7.0 || len(got["errors"].([]any)) != 2 || got["jitter_ms"] != 2.0 ||
		got["latency_per_record_ms"] != 3.0 {
		t.Errorf("faults %v", got)
	}
	if _, max := usageHeader(t, o.do("GET", v60+"/sobjects", nil, "X-Retry", "1")); max != 7 {
		// this call may itself be faulted; the header is set either way
		t.Errorf("daily_limit not applied: max %d", max)
	}
	for _, bad := range []string{`{"error_rate":2}`, `{"errors":["NOPE"]}`, `{"latency_ms":-1}`, `{"bogus":1}`, `nope`} {
		if r := o.doAs("", "PUT", "/__sfsim/faults", bad); r.status != 400 || str(r.obj(t)["error"]) == "" {
			t.Errorf("%s: %d %s", bad, r.status, r.body)
		}
	}
	for _, bad := range []string{`{"latency_per_record_ms":-1}`, `{"latency_per_record_ms":3001}`} {
		r := o.doAs("", "PUT", "/__sfsim/faults", bad)
		if msg := str(r.obj(t)["error"]); r.status != 400 || !strings.Contains(msg, "latency_per_record_ms") || !strings.Contains(msg, "SFSIM_LATENCY_PER_RECORD_MS") {
			t.Errorf("%s: %d %s", bad, r.status, r.body)
		}
	}
	if got := o.doAs("", "GET", "/__sfsim/faults", nil).obj(t); got["latency_per_record_ms"] != 3.0 {
		t.Errorf("a refused PUT changed the faults: %v", got)
	}
	if r := o.doAs("", "DELETE", "/__sfsim/faults", nil); r.status != 405 {
		t.Errorf("DELETE faults: %d", r.status)
	}
}

func TestLatencyModel(t *testing.T) {
	for _, c := range []struct {
		f       sfsim.Faults
		records int
		want    time.Duration
	}{
		{sfsim.Faults{LatencyMS: 10, LatencyPerRecordMS: 2}, 200, 410 * time.Millisecond},
		{sfsim.Faults{LatencyMS: 10, LatencyPerRecordMS: 2}, 0, 10 * time.Millisecond},
		{sfsim.Faults{LatencyMS: 150, LatencyPerRecordMS: 5}, 200, 1150 * time.Millisecond}, // the suggested setting
		{sfsim.Faults{LatencyMS: 150}, 200, 150 * time.Millisecond},
		{sfsim.Faults{}, 200, 0},
	} {
		if got := c.f.Latency(c.records); got != c.want {
			t.Errorf("%+v.Latency(%d) = %v, want %v", c.f, c.records, got, c.want)
		}
	}
}

func TestLatencyPerRecordOutOfRange(t *testing.T) {
	for _, n := range []int{-1, 3001} {
		_, err := sfsim.New(sfsim.Config{Faults: sfsim.Faults{LatencyPerRecordMS: n}})
		if err == nil || !strings.Contains(err.Error(), "latency_per_record_ms") || !strings.Contains(err.Error(), "SFSIM_LATENCY_PER_RECORD_MS") {
			t.Errorf("LatencyPerRecordMS %d: %v", n, err)
		}
	}
}

// sleeps records the per-record waits the emulator computes, instead of
// waiting them out.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
}

func (s *sleeps) take() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.d
	s.d = nil
	return d
}

func TestLatencyPerRecordCountsRecordsWritten(t *testing.T) {
	f := sfsim.Faults{LatencyMS: 10, LatencyPerRecordMS: 2}
	var slept sleeps
	o := start(t, sfsim.Config{Faults: f, Sleep: slept.sleep})
	contacts := func(prefix string, n int) []map[string]any {
		recs := make([]map[string]any, n)
		for i := range recs {
			recs[i] = map[string]any{extField: fmt.Sprint(prefix, i), "LastName": "Lat"}
		}
		return recs
	}

	// A 200-record collections upsert: 10 ms for the call (no jitter) plus
	// 200 × 2 ms, waited once.
	res := o.do("PATCH", collUpsert, collection(false, contacts("U", 200)...)).results(t)
	got := slept.take()
	if len(got) != 1 || f.Latency(0)+got[0] != 410*time.Millisecond {
		t.Fatalf("200-record upsert: per-record waits %v after %v per call, want one of 400ms", got, f.Latency(0))
	}
	ids := []string{str(res[0]["id"]), str(res[1]["id"])}

	for _, c := range []struct {
		name         string
		method, path string
		body         any
		want         []time.Duration // nil = no per-record wait
	}{
		{"collections create of 5", "POST", v60 + "/composite/sobjects", collection(false, contacts("C", 5)...), []time.Duration{10 * time.Millisecond}},
		{"collections delete of 2 ids", "DELETE", v60 + "/composite/sobjects?ids=" + strings.Join(ids, ","), nil, []time.Duration{4 * time.Millisecond}},
		{"single-record upsert", "PATCH", v60 + "/sobjects/Contact/" + extField + "/S1", map[string]any{"LastName": "One"}, []time.Duration{2 * time.Millisecond}},
		{"single-record create", "POST", v60 + "/sobjects/Contact", map[string]any{"LastName": "Two"}, []time.Duration{2 * time.Millisecond}},
		{"composite: 1 + 3 records + a read, waited once", "POST", v60 + "/composite", map[string]any{"compositeRequest": []any{
			sub("PATCH", v60+"/sobjects/Contact/"+extField+"/K1", "one", map[string]any{"LastName": "K"}),
			sub("PATCH", collUpsert, "coll", collection(false, contacts("K", 3)...)),
			sub("GET", v60+"/sobjects/Contact/@{one.id}", "get", nil),
		}}, []time.Duration{8 * time.Millisecond}},
		{"query", "GET", queryPath("SELECT Id FROM Contact"), nil, nil},
		{"read by id", "GET", v60 + "/sobjects/Contact/" + str(res[2]["id"]), nil, nil},
		{"refused before the records (bad JSON)", "PATCH", collUpsert, "{", nil},
	} {
		r := o.do(c.method, c.path, c.body)
		if r.status >= 300 && c.want != nil {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
		if got := slept.take(); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: per-record waits %v, want %v", c.name, got, c.want)
		}
	}
}
