package telemetry

import (
	"strings"
	"testing"
)

func TestMaskEmails(t *testing.T) {
	for in, want := range map[string]string{
		"Email: invalid email address: jane.doe@example.com": "Email: invalid email address: j***@example.com",
		"a@b.c and O'Brien@x.io":                             "a***@b.c and O***@x.io",
		"no email here":                                      "no email here",
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
