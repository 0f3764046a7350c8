package telemetry

import (
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/salesforce"
)

func TestMaskEmails(t *testing.T) {
	for in, want := range map[string]string{
		"Email: invalid email address: jane.doe@example.com": "Email: invalid email address: j***@example.com",
		"a@b.c and O'Brien@x.io":                             "a***@b.c and O***@x.io",
		"no email here":                                      "no email here",
		// Issue 10: the malformed address of the report was logged in clear.
		"Email: invalid email address: john.smith@@corp.example": "Email: invalid email address: j***@corp.example",
		"Email: invalid email address: jane@":                    "Email: invalid email address: j***@",
	} {
		if got := MaskEmails(in); got != want {
			t.Errorf("MaskEmails(%q) = %q, want %q", in, got, want)
		}
	}
	if strings.Contains(MaskEmails("x: zoë.müller@müller.de"), "zoë.müller") {
		t.Error("non-ASCII local part left in clear")
	}
}

func TestNewLoggerRejectsBadLevel(t *testing.T) {
	if _, err := NewLogger("loud"); err == nil || !strings.Contains(err.Error(), "LOG_LEVEL") {
		t.Fatalf("err = %v, want one naming LOG_LEVEL", err)
	}
}

type fakeUsage struct{}

func (fakeUsage) APICalls() int64 { return 42 }
func (fakeUsage) Usage() salesforce.Usage {
	return salesforce.Usage{Used: 900, Max: 1000, Seen: true}
}

func TestRegisterSalesforceExportsCallsAndUsage(t *testing.T) {
	reg := NewRegistry()
	RegisterSalesforce(reg, fakeUsage{})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				got[mf.GetName()] = c.GetValue()
			}
			if g := m.GetGauge(); g != nil {
				got[mf.GetName()] = g.GetValue()
			}
		}
	}
	if got["contactsync_sf_api_calls_total"] != 42 || got["contactsync_sf_api_usage_ratio"] != 0.9 {
		t.Fatalf("exported %v", got)
	}
}

func TestNewLoggerToWritesJSONToTheWriter(t *testing.T) {
	var b strings.Builder
	log, err := NewLoggerTo("warn", &b)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown")
	_ = log.Sync()
	if out := b.String(); strings.Contains(out, "hidden") || !strings.HasPrefix(out, "{") || !strings.Contains(out, `"msg":"shown"`) {
		t.Fatalf("log output: %q", out)
	}
}
