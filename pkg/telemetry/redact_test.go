package telemetry

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	long := strings.Repeat("Ö", 200_000)
	cases := []struct{ in, want string }{
		{"Last Name: data value too large: Smithsonian-Worthington (max length=10)", "Last Name: data value too large: [23 characters] (max length=10)"},
		{"Email: invalid email address: john.smith@@corp.example", "Email: invalid email address: [24 characters]"},
		{"Lead Source: bad value for restricted picklist field: Jane Doe", "Lead Source: bad value for restricted picklist field: [8 characters]"},
		{"Phone: value not of required type: call Jane; other", "Phone: value not of required type: [9 characters]; other"},
		{"duplicate of jane.doe@example.com", "duplicate of j***@example.com"},
		{"UNABLE_TO_LOCK_ROW: unable to obtain exclusive access", "UNABLE_TO_LOCK_ROW: unable to obtain exclusive access"},
	}
	for _, c := range cases {
		if got := Redact(c.in); got != c.want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
	got := Redact("Last Name: data value too large: " + long + " (max length=80)")
	if strings.Contains(got, "ÖÖ") || !strings.Contains(got, "[200000 characters]") {
		t.Errorf("a 200,000-character name survived redaction: %.100q", got)
	}
	got = Redact("prefix " + long)
	if len(got) > maxRedacted+40 || !strings.HasSuffix(got, "bytes cut]") || !strings.HasPrefix(got, "prefix ÖÖ") {
		t.Errorf("long message not capped: %d bytes, ends %q", len(got), got[len(got)-20:])
	}
}
