package producer

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/cli"
)

func runProducer(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb strings.Builder
	p := Program()
	code := p.Exit(p.Run(context.Background(), args, &out, &errb), &errb)
	return code, out.String(), errb.String()
}

// Issue 10: validate needs no NATS, gives publish's verdicts, masks PII;
// an empty .ndjson and an empty .csv behave the same; all-rejected fails.
func TestValidateWithoutNATS(t *testing.T) {
	t.Setenv("NATS_URL", "")
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `{"schema":"contact.delta/v1","external_id":"MC_1","segment":"emea","version":1,"fields":{"LastName":"Doe","Email":"jane@example.com"}}`
	bad := `{"schema":"contact.delta/v1","external_id":"MC_2","segment":"emea","version":1,"fields":{"LastName":"Smith","Email":"john.smith@@corp.example"}}`
	nd := write("a.ndjson", good+"\n"+bad+"\n{not json\n")

	code, out, errb := runProducer(t, "validate", nd, "--json")
	var sum ValidateSummary
	if code != 1 || json.Unmarshal([]byte(out), &sum) != nil || sum.Read != 3 || sum.Valid != 2 || sum.Rejected != 1 {
		t.Fatalf("validate: exit %d\nstdout %s\nstderr %s", code, out, errb)
	}
	if !strings.Contains(errb, "a.ndjson:3: rejected: malformed JSON") {
		t.Errorf("no per-line verdict:\n%s", errb)
	}
	if strings.Contains(errb, "john.smith@") {
		t.Errorf("email in clear without --show-pii:\n%s", errb)
	}
	if code, _, _ := runProducer(t, "validate", "--allow-rejects", nd); code != 0 {
		t.Errorf("--allow-rejects: exit %d", code)
	}
	// Everything rejected: exit 1 even with --allow-rejects.
	junk := write("junk.ndjson", "\x00\x01\x02garbage\n\xff\xfe\n")
	if code, _, errb := runProducer(t, "validate", "--allow-rejects", junk); code != 1 || !strings.Contains(errb, "all 2 records") {
		t.Errorf("all rejected: exit %d\n%s", code, errb)
	}
	// Empty files: the same verdict for both formats.
	for _, f := range []string{write("empty.ndjson", ""), write("empty.csv", "")} {
		if code, out, errb := runProducer(t, "validate", f); code != 0 || !strings.Contains(out, "read 0") {
			t.Errorf("%s: exit %d\n%s\n%s", f, code, out, errb)
		}
	}
	// publish --dry-run is validate: no NATS needed, nothing published.
	if code, out, errb := runProducer(t, "publish", "--dry-run", "--allow-rejects", nd); code != 0 || !strings.Contains(out, "nothing published") {
		t.Errorf("publish --dry-run: exit %d\n%s\n%s", code, out, errb)
	}
	if code, _, _ := runProducer(t, "validate"); code != cli.ExitUsage {
		t.Errorf("validate without FILE: exit %d", code)
	}
}

func TestReasonMasksAndCuts(t *testing.T) {
	err := errors.New("Email: invalid email address: john.smith@@corp.example; LastName: " + strings.Repeat("x", 200000))
	got := reason(err, false)
	if strings.Contains(got, "john.smith") || len(got) > 400 || !strings.Contains(got, "bytes)") {
		t.Errorf("reason not masked or cut: %.200q (%d bytes)", got, len(got))
	}
	if got := reason(err, true); !strings.Contains(got, "john.smith@@corp.example") {
		t.Errorf("--show-pii masked: %.100q", got)
	}
}
