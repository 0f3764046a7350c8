package main

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kelseyhightower/envconfig"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestEnvironment(t *testing.T) {
	dir := t.TempDir()
	schema := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(schema, []byte("objects:\n  - name: Thing__c\n    fields:\n      - {name: Code__c, type: string, external_id: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"SFSIM_ADDR": "127.0.0.1:0", "SFSIM_ERRORS": "SERVER_UNAVAILABLE,HTML_502", "SFSIM_ERROR_RATE": "0.5",
		"SFSIM_SESSION_IDLE_TIMEOUT": "15m", "SFSIM_DUPLICATE_ACTION": "block", "SFSIM_SCHEMA_FILE": schema, "SFSIM_SEED": "9",
	} {
		t.Setenv(k, v)
	}
	var cfg config
	if err := envconfig.Process("", &cfg); err != nil {
		t.Fatal(err)
	}
	sc, err := cfg.simConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Faults.Errors) != 2 || sc.Faults.ErrorRate != 0.5 || sc.SessionIdleTimeout.Minutes() != 15 ||
		sc.DuplicateAction != "block" || sc.Seed != 9 || sc.Schema == nil || sc.Schema.Objects[0].Name != "Thing__c" {
		t.Errorf("config %+v", sc)
	}
	t.Setenv("SFSIM_JWT_CERT_FILE", filepath.Join(dir, "missing.pem"))
	_ = envconfig.Process("", &cfg)
	if _, err := cfg.simConfig(); err == nil || !strings.Contains(err.Error(), "SFSIM_JWT_CERT_FILE") {
		t.Errorf("missing cert: %v", err)
	}
}

func TestRunServesUntilCancelled(t *testing.T) {
	var cfg config
	if err := envconfig.Process("", &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Addr = "127.0.0.1:0"
	cfg.LogLevel = "error"
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, func(u string) { urls <- u }) }()
	var u string
	select {
	case u = <-urls:
	case err := <-done:
		t.Fatal(err)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).PostForm(u+"/services/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"contactsync"}, "client_secret": {"contactsync-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("token: %d", res.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}

func TestUsageListsEveryVariable(t *testing.T) {
	var b bytes.Buffer
	usage(&b)
	for _, v := range []string{"SFSIM_ADDR", "SFSIM_CLIENT_ID", "SFSIM_CLIENT_SECRET", "SFSIM_JWT_CERT_FILE", "SFSIM_SCHEMA_FILE",
		"SFSIM_DUPLICATE_ACTION", "SFSIM_DUPLICATE_RESULT_KEY", "SFSIM_DAILY_LIMIT", "SFSIM_SESSION_IDLE_TIMEOUT",
		"SFSIM_LATENCY_MS", "SFSIM_JITTER_MS", "SFSIM_ERROR_RATE", "SFSIM_ERRORS", "SFSIM_SEED", "LOG_LEVEL"} {
		if !strings.Contains(b.String(), v) {
			t.Errorf("--help lacks %s", v)
		}
	}
}
