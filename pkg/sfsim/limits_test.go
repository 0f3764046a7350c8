package sfsim_test

import (
	"fmt"
	"testing"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

func usageHeader(t *testing.T, r reply) (used, max int) {
	t.Helper()
	if _, err := fmt.Sscanf(r.header.Get("Sforce-Limit-Info"), "api-usage=%d/%d", &used, &max); err != nil {
		t.Fatalf("Sforce-Limit-Info %q: %v", r.header.Get("Sforce-Limit-Info"), err)
	}
	return used, max
}

func TestLimits(t *testing.T) {
	o := start(t, sfsim.Config{DailyLimit: 5})
	// the token call did not count; admin calls do not count
	o.doAs("", "GET", "/__sfsim/stats", nil)
	for i := 1; i <= 3; i++ {
		r := o.do("GET", queryPath("SELECT Id FROM Contact"), nil)
		if used, max := usageHeader(t, r); used != i || max != 5 {
			t.Errorf("call %d: api-usage=%d/%d", i, used, max)
		}
	}
	r := o.do("GET", v60+"/limits", nil)
	d := r.obj(t)["DailyApiRequests"].(map[string]any)
	used, max := usageHeader(t, r)
	if d["Max"] != float64(max) || d["Remaining"] != float64(max-used) || used != 4 {
		t.Errorf("/limits %v vs header %d/%d", d, used, max)
	}
	// errors count and carry the header too
	r = o.do("GET", v60+"/sobjects/Contact/003000000000001AAA", nil)
	if used, _ := usageHeader(t, r); r.status != 404 || used != 5 {
		t.Errorf("404 call: %d, used %d", r.status, used)
	}
	e := o.do("GET", v60+"/limits", nil).topError(t, 403, "REQUEST_LIMIT_EXCEEDED")
	if e["message"] != "TotalRequests Limit exceeded." {
		t.Errorf("message %v", e["message"])
	}
	if st := o.srv.Stats(); st.APICalls != 6 || st.Routes["GET /limits"] != 2 || st.Routes["POST /services/oauth2/token"] != 1 {
		t.Errorf("stats %+v", st)
	}
	// faults.daily_limit raises the allocation at run time
	o.srv.SetFaults(sfsim.Faults{DailyLimit: 10})
	if r := o.do("GET", v60+"/limits", nil); r.status != 200 {
		t.Errorf("after raising the limit: %d", r.status)
	}
	o.srv.Reset()
	o.token = o.login("contactsync", "contactsync-secret")
	if used, _ := usageHeader(t, o.do("GET", v60+"/limits", nil)); used != 1 {
		t.Errorf("after Reset used = %d", used)
	}
}
