package sfsim_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

func TestAdminAPI(t *testing.T) {
	o := start(t, sfsim.Config{})
	o.do("PATCH", upsertPath("v60.0", "S-1"), map[string]any{"LastName": "S"})
	o.do("PATCH", upsertPath("v60.0", "S-2"), map[string]any{"LastName": "S"})
	r := o.doAs("", "GET", "/__sfsim/stats", nil)
	st := r.obj(t)
	routes := st["routes"].(map[string]any)
	if st["api_calls"] != 2.0 || routes["PATCH /sobjects/{type}/{field}/{value}"] != 2.0 ||
		st["records"].(map[string]any)["Contact"] != 1.0*2 || st["records"].(map[string]any)["Contact_Sync_Exception__c"] != 0.0 {
		t.Errorf("stats %s", r.body)
	}
	if r := o.doAs("", "POST", "/__sfsim/reset", nil); r.status != 200 {
		t.Fatalf("reset %d", r.status)
	}
	if st := o.srv.Stats(); st.APICalls != 0 || st.Records["Contact"] != 0 || len(st.Routes) != 0 {
		t.Errorf("after reset %+v", st)
	}
	// Reset ends sessions too
	o.do("GET", v60+"/limits", nil).topError(t, 401, "INVALID_SESSION_ID")
	for _, c := range []struct{ method, path string }{{"GET", "/__sfsim/nope"}, {"POST", "/__sfsim/stats"}, {"GET", "/__sfsim/reset"}} {
		if r := o.doAs("", c.method, c.path, nil); r.status < 400 {
			t.Errorf("%s %s: %d", c.method, c.path, r.status)
		}
	}
	if r := o.doAs("", "GET", "/nowhere", nil); r.status != 404 {
		t.Errorf("unknown path %d", r.status)
	}
}

func TestConfigValidation(t *testing.T) {
	for name, cfg := range map[string]sfsim.Config{
		"duplicate action": {DuplicateAction: "maybe"},
		"result key":       {DuplicateResultKey: "dupResult"},
		"daily limit":      {DailyLimit: -1},
		"faults":           {Faults: sfsim.Faults{ErrorRate: 1.5}},
		"jwt pem":          {JWTCertPEM: []byte("not pem")},
		"restricted":       {RestrictedClients: map[string]string{"contactsync": "x"}},
		"schema":           {Schema: &sfsim.Schema{Objects: []sfsim.Object{{Name: "Bad Name"}}}},
		"addr":             {Addr: "256.0.0.1:http"},
	} {
		if srv, err := sfsim.New(cfg); err == nil {
			srv.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestAdminTokenRequiredWhenSet(t *testing.T) {
	srv, err := sfsim.New(sfsim.Config{AdminToken: "s3cret-admin"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, tc := range []struct {
		auth string
		want int
	}{{"", http.StatusUnauthorized}, {"Bearer wrong", http.StatusUnauthorized}, {"Bearer s3cret-admin", http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodPut, srv.URL()+"/__sfsim/faults", strings.NewReader(`{"latency_ms":1}`))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("auth %q: status %d, want %d", tc.auth, resp.StatusCode, tc.want)
		}
	}
	// The health check needs no token (compose and Kubernetes probe it).
	resp, err := http.Get(srv.URL() + "/__sfsim/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz: status %d", resp.StatusCode)
	}
	if n := srv.Stats().APICalls; n != 0 {
		t.Errorf("healthz counted as %d API calls", n)
	}
}
