package producer

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/pgsource/pgtest"
)

// buildProducer builds workers/producer into a temp dir.
func buildProducer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "producer")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/contactsync/contactsync/workers/producer")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// A poller killed with SIGKILL after JetStream confirmed a page and before
// its position was saved loses nothing: the next run reads the page again
// and dedup absorbs it.
func TestPollKilledBeforeWatermarkSave(t *testing.T) {
	db := pgtest.New(t)
	db.Exec(t, `CREATE TABLE contacts (external_id text, last_name text, updated_at timestamptz)`)
	db.Exec(t, `INSERT INTO contacts SELECT 'MC_' || i, 'Name ' || i, '2026-11-26 10:00:00+00'::timestamptz + (i / 3) * interval '1 second' FROM generate_series(1, 30) i`)
	e := start(t)
	bin := buildProducer(t)
	mapping := filepath.Join(t.TempDir(), "contacts.yaml")
	if err := os.WriteFile(mapping, []byte("table: contacts\nkey: external_id\ndefault_segment: emea\nfields: {last_name: LastName}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	environ := append(os.Environ(), "NATS_URL="+e.srv.ClientURL(), "POLL_DSN="+db.DSN, "POLL_MAPPING="+mapping, "LOG_LEVEL=warn")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "poll", "--once", "--page-size", "10")
	cmd.Env = append(environ, EnvHaltBeforeSave+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	halted := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "halted before watermark save") {
				halted <- true
				return
			}
		}
		halted <- false
	}()
	select {
	case ok := <-halted:
		if !ok {
			_ = cmd.Wait()
			t.Fatal("the poller ended without reaching the watermark save")
		}
	case <-ctx.Done():
		t.Fatal("the poller never reached the watermark save")
	}
	// The first page is in CONTACTS, its position is not saved.
	if n := streamMsgs(t, e.js); n != 10 {
		t.Fatalf("CONTACTS has %d deltas at the halt, want the first page of 10", n)
	}
	kv, err := e.js.KeyValue(ctxT(t), bus.BucketWatermarks)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctxT(t), "pg.contacts"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("watermark before the save: %v, want none", err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	again := exec.CommandContext(ctx, bin, "poll", "--once", "--json", "--page-size", "10")
	again.Env = environ
	out, err := again.Output()
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	var sum struct {
		Read, Published, Duplicates, Failed int64
	}
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatalf("summary %q: %v", out, err)
	}
	if sum.Read != 30 || sum.Published != 20 || sum.Duplicates != 10 || sum.Failed != 0 {
		t.Fatalf("second run %+v: want 30 read, 20 published, the 10 re-sent absorbed as duplicates", sum)
	}
	// Every row is in CONTACTS exactly once.
	s, err := e.js.Stream(ctxT(t), bus.StreamContacts)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for seq := uint64(1); seq <= 30; seq++ {
		m, err := s.GetMsg(ctxT(t), seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		d, err := delta.Decode(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		seen[d.ExternalID]++
	}
	if len(seen) != 30 || streamMsgs(t, e.js) != 30 {
		t.Fatalf("CONTACTS holds %d distinct contacts in %d messages, want 30 and 30", len(seen), streamMsgs(t, e.js))
	}
	if _, err := kv.Get(ctxT(t), "pg.contacts"); err != nil {
		t.Fatalf("watermark after the second run: %v", err)
	}
}

func TestPollUsage(t *testing.T) {
	var stdout, stderr strings.Builder
	t.Setenv("NATS_URL", "nats://127.0.0.1:1")
	t.Setenv("POLL_MAPPING", "")
	t.Setenv("POLL_DSN", "")
	err := RunCLI(context.Background(), []string{"poll"}, &stdout, &stderr)
	if ExitCode(err) != 2 || !strings.Contains(err.Error(), "--mapping (POLL_MAPPING)") {
		t.Errorf("poll without a mapping: exit %d, %v", ExitCode(err), err)
	}
	err = RunCLI(context.Background(), []string{"poll", "--mapping", "x.yaml"}, &stdout, &stderr)
	if ExitCode(err) != 2 || !strings.Contains(err.Error(), "--dsn (POLL_DSN)") {
		t.Errorf("poll without a DSN: exit %d, %v", ExitCode(err), err)
	}
	if err := RunCLI(context.Background(), []string{"--help"}, &stdout, &stderr); err != nil || !strings.Contains(stdout.String(), "POLL_DSN") {
		t.Errorf("help: %v\n%s", err, stdout.String())
	}
}
