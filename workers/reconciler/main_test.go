package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/bus/bustest"
	"github.com/contactsync/contactsync/pkg/reconcile"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
)

// Issue 10: with METRICS_ADDR taken (the upserter used to share :9090) the
// reconciler logged a fatal error and exited 0.
func TestMetricsPortInUseFails(t *testing.T) {
	e, _ := bustest.Start(t, bus.Topology{Storage: jetstream.MemoryStorage})
	org := sfsimtest.Start(t, sfsim.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = run(ctx, config{NATSURL: e.ClientURL(), MetricsAddr: ln.Addr().String(), LogLevel: "error", ShutdownTimeout: 5 * time.Second,
		Env:    org.Env,
		Config: reconcile.Config{}})
	if err == nil || !strings.Contains(err.Error(), "METRICS_ADDR") {
		t.Fatalf("run = %v, want an error naming METRICS_ADDR", err)
	}
}
