package bustest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
)

// Cluster is an in-process JetStream cluster on loopback.
type Cluster struct {
	Servers []*server.Server
}

// StartCluster runs an n-node JetStream cluster (cluster "C1", nodes n1..nN)
// and ensures topo with Replicas = n once the meta leader is elected. Every
// node is shut down at the end of the test.
func StartCluster(t testing.TB, n int, topo bus.Topology) *Cluster {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	c := &Cluster{}
	for i, p := range ports {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "C1", Host: "127.0.0.1", Port: p},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		})
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		c.Servers = append(c.Servers, s)
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	}
	for _, s := range c.Servers {
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("%s not ready", s.Name())
		}
	}
	nc, err := nats.Connect(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	topo.Replicas = n
	deadline := time.Now().Add(45 * time.Second)
	for { // the meta leader takes a few seconds to be elected
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = bus.Ensure(ctx, js, topo)
		cancel()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster never accepted the topology: %v", err)
		}
		time.Sleep(250 * time.Millisecond) // waiting for an election, not for a result
	}
}

// URL lists every node's client URL, for clients that fail over.
func (c *Cluster) URL() string {
	var urls []string
	for _, s := range c.Servers {
		if s.Running() {
			urls = append(urls, s.ClientURL())
		}
	}
	return strings.Join(urls, ",")
}

// Kill shuts down the node named name (e.g. a stream's leader).
func (c *Cluster) Kill(name string) bool {
	for _, s := range c.Servers {
		if s.Name() == name {
			s.Shutdown()
			s.WaitForShutdown()
			return true
		}
	}
	return false
}
