package ops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/bus/bustest"
	"github.com/contactsync/contactsync/pkg/cli"
)

// waitTimeout only bounds a test that would otherwise hang.
const waitTimeout = 2 * time.Minute

// Status asked while the cluster has lost its quorum keeps retrying, and
// answers once a node is back.
func TestStatusWaitsForQuorum(t *testing.T) {
	c := bustest.StartCluster(t, 3, bus.Topology{})
	_, js := c.Connect(t)
	c.Kill("n2")
	c.Kill("n3")
	retrying := make(chan bus.Attempt, 1)
	o := New(js, nil, WithRetry(bus.Retry{OnRetry: func(a bus.Attempt) {
		select {
		case retrying <- a:
		default:
		}
	}}))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	type result struct {
		st  Status
		err error
	}
	done := make(chan result, 1)
	go func() { st, err := o.Status(ctx); done <- result{st, err} }()
	select {
	case a := <-retrying:
		t.Logf("retrying %s: %v", a.Step, a.Err)
	case r := <-done:
		t.Fatalf("Status answered without a quorum: %+v, %v", r.st, r.err)
	}
	if err := c.Restart("n2"); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("Status after n2 came back: %v", r.err)
	}
	if len(r.st.Streams) != 3 || len(r.st.Partitions) != 16 || r.st.MembersMissing {
		t.Fatalf("status %+v", r.st)
	}
	for _, s := range r.st.Streams {
		if s.Missing {
			t.Errorf("stream %s reported missing", s.Name)
		}
	}
	if err := c.WaitHealthy(ctx); err != nil { // caught up before the cluster is shut down
		t.Fatal(err)
	}
}

// Against a NATS server without JetStream (no responders) syncctl status
// retries for --wait, then fails with exit 1, naming the URL and what did
// not answer.
func TestCLIStatusWithoutJetStream(t *testing.T) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	_, _, err = runCLI(t, "status", "--nats", s.ClientURL(), "--wait", "500ms")
	if cli.ExitCode(err) != 1 || !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("status without JetStream: %v (exit %d)", err, cli.ExitCode(err))
	}
	var re *bus.RetryError
	if !errors.As(err, &re) {
		t.Fatalf("%v: no *bus.RetryError", err)
	}
	t.Logf("%v", err)
	for _, want := range []string{s.ClientURL(), "NATS_URL", "did not answer", "stream CONTACTS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
}

// With no server at the URL, status fails the same way once --wait is over,
// without leaking the password of the URL.
func TestCLIStatusWithoutServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens there now
	_, _, err = runCLI(t, "status", "--nats", fmt.Sprintf("nats://ops:s3cret@%s", addr), "--wait", "500ms")
	if cli.ExitCode(err) != 1 || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "did not answer") ||
		strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("status without a server: %v (exit %d)", err, cli.ExitCode(err))
	}
}
