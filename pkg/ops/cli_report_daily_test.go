package ops

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/report"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
)

// syncctl report --daily: exit 0 when every report is empty, 3 when one has
// rows; the files under --out; emails masked unless --show-pii.
func TestCLIReportDaily(t *testing.T) {
	f := newFixture(t)
	srv := sfsimtest.Start(t, sfsim.Config{})
	t.Setenv("NATS_URL", f.e.ClientURL())
	srv.Setenv(t)

	out, _, err := runCLI(t, "report", "--daily")
	if cli.ExitCode(err) != 0 || !strings.Contains(out, "1 duplicate emails") || !strings.Contains(out, "API_CALLS") {
		t.Fatalf("empty org: exit %d (%v)\n%s", cli.ExitCode(err), err, out)
	}

	if _, err := srv.Insert("Contact", map[string]any{"LastName": "Roe", "Email": "rita.roe@example.com", "External_Contact_ID__c": "HAND_1"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, _, err = runCLI(t, "report", "--daily", "--json", "--out", dir)
	if cli.ExitCode(err) != 3 {
		t.Fatalf("a contact the fleet never wrote: exit %d (%v), want 3\n%s", cli.ExitCode(err), err, out)
	}
	var sum struct {
		Totals report.Totals `json:"totals"`
		Files  []string      `json:"files"`
		Calls  []report.Call `json:"calls"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if sum.Totals.UnknownToSource != 1 || sum.Totals.Updated24h != 1 || sum.Totals.DuplicateEmails != 0 || len(sum.Calls) == 0 {
		t.Errorf("totals %+v calls %v", sum.Totals, sum.Calls)
	}
	if strings.Contains(out, "rita.roe") {
		t.Error("--json shows an email in clear")
	}
	if len(sum.Files) != 6 {
		t.Fatalf("files %v, want 4 CSV, the page and summary.json", sum.Files)
	}
	csv, err := os.ReadFile(filepath.Join(filepath.Dir(sum.Files[0]), report.FileGaps))
	if err != nil || !strings.Contains(string(csv), "unknown_to_source") || !strings.Contains(string(csv), "r***@example.com") || strings.Contains(string(csv), "rita.roe") {
		t.Errorf("%s: %v\n%s", report.FileGaps, err, csv)
	}
	if out, _, _ := runCLI(t, "report", "--daily", "--show-pii"); !strings.Contains(out, "1 duplicate emails") {
		t.Errorf("--show-pii run:\n%s", out)
	}
	clear := t.TempDir()
	if _, _, err := runCLI(t, "report", "--daily", "--show-pii", "--out", clear); cli.ExitCode(err) != 3 {
		t.Fatalf("--show-pii --out: %v", err)
	}
	runs, _ := filepath.Glob(filepath.Join(clear, "*", report.FileRecent))
	if len(runs) != 1 {
		t.Fatalf("runs under --out: %v", runs)
	}
	if b, _ := os.ReadFile(runs[0]); !strings.Contains(string(b), "rita.roe@example.com") {
		t.Errorf("--show-pii CSV:\n%s", b)
	}

	// A source export that has HAND_1 (spelled in lower case) leaves
	// report 3 empty.
	src := filepath.Join(t.TempDir(), "export.ndjson")
	if err := os.WriteFile(src, []byte(`{"schema":"contact.delta/v1","external_id":"hand_1","segment":"emea","version":1,"fields":{"LastName":"Roe"}}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, "report", "--daily", "--json", "--source", src)
	sum.Totals = report.Totals{}
	if jerr := json.Unmarshal([]byte(out), &sum); jerr != nil || sum.Totals.SourceGaps != 0 || sum.Totals.Updated24h != 1 || cli.ExitCode(err) != 3 {
		t.Errorf("--source with the ID in another case: %+v (exit %d: %v, %v)\n%s", sum.Totals, cli.ExitCode(err), err, jerr, out)
	}
}

func TestCLIReportDailyUsage(t *testing.T) {
	f := newFixture(t)
	srv := sfsimtest.Start(t, sfsim.Config{})
	t.Setenv("NATS_URL", f.e.ClientURL())
	srv.Setenv(t)
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"report", "--out", t.TempDir()}, "--out"},
		{[]string{"report", "--daily", "--source", filepath.Join(t.TempDir(), "missing.ndjson")}, "--source"},
		{[]string{"report", "--daily", "--mapping", "m.yaml"}, "--mapping"},
		{[]string{"report", "--daily", "--bulk-threshold", "-1"}, "--bulk-threshold"},
	} {
		_, _, err := runCLI(t, tc.args...)
		if cli.ExitCode(err) != 2 || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%v: exit %d (%v), want 2 naming %s", tc.args, cli.ExitCode(err), err, tc.flag)
		}
	}
	t.Setenv("SF_LOGIN_URL", "")
	if _, _, err := runCLI(t, "report", "--daily"); cli.ExitCode(err) != 2 || !strings.Contains(err.Error(), "SF_LOGIN_URL") {
		t.Errorf("--daily without an org: %v", err)
	}
}
