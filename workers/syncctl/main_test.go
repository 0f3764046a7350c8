package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/ops"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/upsert"
)

func TestRunHelpAndUsage(t *testing.T) {
	p := ops.Program()
	var out, errb strings.Builder
	if code := p.Exit(p.Run(context.Background(), []string{"--help"}, &out, &errb), &errb); code != 0 || !strings.Contains(out.String(), "dlq replay") {
		t.Fatalf("--help: exit %d\n%s", code, out.String())
	}
	out.Reset()
	errb.Reset()
	code := p.Exit(p.Run(context.Background(), []string{"frobnicate"}, &out, &errb), &errb)
	if code != 2 || !strings.Contains(errb.String(), `syncctl: unknown command "frobnicate"`) || out.Len() > 0 {
		t.Fatalf("unknown command: exit %d\nstdout %q\nstderr %q", code, out.String(), errb.String())
	}
}

// A standalone run with --data leaves its JetStream store behind; syncctl
// --data DIR starts an embedded server on it, so the run's dead letter can
// be listed after the run ended.
func TestDataDirOfAFinishedRun(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.ndjson")
	if err := os.WriteFile(in, []byte(`{"schema":"contact.delta/v1","external_id":"D1","segment":"emea","version":1,"fields":{"LastName":"D","Email":"d1@@bad"}}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "store")
	sum, err := pipeline.Run(context.Background(), pipeline.Config{DataDir: store, Upserters: 1, Input: in, Timeout: time.Minute,
		Upsert: upsert.Config{Heartbeat: 200 * time.Millisecond, LeaseTTL: 2 * time.Second, MaxDelay: 100 * time.Millisecond, ShutdownTimeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.DeadLettered != 1 {
		t.Fatalf("the run should dead-letter D1: %+v", sum)
	}
	var out, errb strings.Builder
	// --data before the command words, as the summary prints it.
	if err := ops.RunCLI(context.Background(), []string{"--data", store, "dlq", "list", "--json"}, &out, &errb); err != nil {
		t.Fatalf("syncctl --data: %v\n%s", err, errb.String())
	}
	var dls []ops.DeadLetter
	if err := json.Unmarshal([]byte(out.String()), &dls); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out.String())
	}
	if len(dls) != 1 || dls[0].ExternalID != "D1" || dls[0].ErrorCode != "INVALID_EMAIL_ADDRESS" {
		t.Fatalf("dead letters %+v: want D1's INVALID_EMAIL_ADDRESS", dls)
	}
	if strings.Contains(out.String(), "d1@@bad") {
		t.Errorf("the email is shown in clear:\n%s", out.String())
	}
	// Not a store, and --data with --nats: usage errors naming the flag.
	for _, args := range [][]string{{"dlq", "list", "--data", dir}, {"--data", store, "--nats", "nats://127.0.0.1:1", "status"}} {
		out.Reset()
		err := ops.RunCLI(context.Background(), args, &out, &errb)
		if cli.ExitCode(err) != 2 || !strings.Contains(err.Error(), "--data") {
			t.Errorf("%v: %v (exit %d); want a usage error naming --data", args, err, cli.ExitCode(err))
		}
	}
}
