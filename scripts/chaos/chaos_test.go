package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestChaosSmall runs the whole harness in a small configuration: separate
// processes (3-node JetStream cluster, emulator with faults, 3 upserters,
// reconciler, producer), 4 upserter kills, one NATS node kill and a
// reconciler restart, then asserts that every invariant held. It builds the
// workers from this module, so it tests the code as it is (CHAOS_BIN=DIR
// uses prebuilt binaries instead).
func TestChaosSmall(t *testing.T) {
	cfg := defaultConfig()
	cfg.Contacts = 2500
	cfg.Upserters = 3
	cfg.UpserterKills = 4
	cfg.NodeKills = 1
	cfg.ReconcilerRestarts = 1
	cfg.ChaosInterval = 2500 * time.Millisecond
	cfg.NodeDown = 6 * time.Second
	cfg.Timeout = 4 * time.Minute
	cfg.LogLevel = "info"
	cfg.BinDir = os.Getenv("CHAOS_BIN") // prebuilt binaries (optional); default: build this module's
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	rep, err := run(ctx, cfg, &lineLogger{t: t})
	if err != nil {
		t.Fatalf("setup: %v (logs: %v)", err, logsOf(rep))
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	t.Logf("\n%s", table.String())
	if len(rep.Violations) > 0 {
		t.Errorf("%d violations:\n%s", len(rep.Violations), strings.Join(rep.Violations, "\n"))
	}
	if rep.UpserterKills != cfg.UpserterKills || rep.NodeKills != cfg.NodeKills || rep.ReconcilerRestarts != cfg.ReconcilerRestarts {
		t.Errorf("chaos did not happen as asked: %d upserter kills, %d node kills, %d reconciler restarts",
			rep.UpserterKills, rep.NodeKills, rep.ReconcilerRestarts)
	}
	if rep.AppliedWrites == 0 || rep.DLQExpected == 0 || rep.ExceptionsExpected == 0 {
		t.Errorf("the run proved little: %d applied writes, %d expected dead letters, %d expected exceptions",
			rep.AppliedWrites, rep.DLQExpected, rep.ExceptionsExpected)
	}
}

func logsOf(rep *Report) []string {
	if rep == nil {
		return nil
	}
	return rep.Logs
}

// lineLogger sends the harness's progress lines to t.Log.
type lineLogger struct {
	t   *testing.T
	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.t.Log(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	return len(b), nil
}
