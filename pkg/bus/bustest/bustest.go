// Package bustest starts the real JetStream parts for tests: an embedded
// nats-server on t.TempDir() with contactsync's topology, and connections to
// it, all closed when the test ends.
package bustest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
)

// Start runs an embedded JetStream server with topo ensured and returns it
// with a connection's JetStream handle.
func Start(t testing.TB, topo bus.Topology) (*bus.Embedded, jetstream.JetStream) {
	t.Helper()
	e, err := bus.StartEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	_, js := Connect(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Ensure(ctx, js, topo); err != nil {
		t.Fatal(err)
	}
	return e, js
}

// Connect opens a new connection to e (its own client, as a fleet member
// would have), closed at the end of the test.
func Connect(t testing.TB, e *bus.Embedded) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(e.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := bus.NewJetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}
