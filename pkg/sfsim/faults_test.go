package sfsim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
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
	r := o.doAs("", "PUT", "/__sfsim/faults", `{"latency_ms":1,"jitter_ms":2,"error_rate":0.25,"errors":["HTML_502","SERVER_UNAVAILABLE"],"daily_limit":7}`)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	got := o.doAs("", "GET", "/__sfsim/faults", nil).obj(t)
	if got["error_rate"] != 0.25 || got["daily_limit"] != 7.0 || len(got["errors"].([]any)) != 2 || got["jitter_ms"] != 2.0 {
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
	if r := o.doAs("", "DELETE", "/__sfsim/faults", nil); r.status != 405 {
		t.Errorf("DELETE faults: %d", r.status)
	}
}
