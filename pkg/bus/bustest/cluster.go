package bustest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
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

	mu     sync.Mutex
	routes string
	nodes  []node // by index, as Servers
}

// node is what a restart needs to bring a node back as itself.
type node struct {
	name     string
	port     int    // cluster (route) port
	storeDir string // kept across a restart, so the node rejoins with its data
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
	c := &Cluster{routes: strings.Join(routes, ",")}
	for i, p := range ports {
		c.nodes = append(c.nodes, node{name: fmt.Sprintf("n%d", i+1), port: p, storeDir: t.TempDir()})
	}
	// Registered after the store directories, so it runs before they are removed.
	t.Cleanup(c.shutdown)
	for _, nd := range c.nodes {
		s, err := c.start(nd)
		if err != nil {
			t.Fatal(err)
		}
		c.Servers = append(c.Servers, s)
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
	js, err := bus.NewJetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	topo.Replicas = n
	// The meta leader takes a few seconds to be elected; Ensure retries
	// until then.
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	if err := bus.Ensure(ctx, js, topo); err != nil {
		t.Fatalf("cluster never accepted the topology: %v", err)
	}
	return c
}

func (c *Cluster) start(nd node) (*server.Server, error) {
	s, err := server.NewServer(&server.Options{
		ServerName: nd.name, Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: nd.storeDir, NoSigs: true, NoLog: true,
		Cluster: server.ClusterOpts{Name: "C1", Host: "127.0.0.1", Port: nd.port},
		Routes:  server.RoutesFromStr(c.routes),
	})
	if err != nil {
		return nil, err
	}
	go s.Start()
	return s, nil
}

func (c *Cluster) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.Servers {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// URL lists every node's client URL, for clients that fail over.
func (c *Cluster) URL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var urls []string
	for _, s := range c.Servers {
		if s.Running() {
			urls = append(urls, s.ClientURL())
		}
	}
	return strings.Join(urls, ",")
}

// Kill shuts down the node named name (e.g. a stream's leader). Its store
// stays, so Restart brings it back with its data.
func (c *Cluster) Kill(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.Servers {
		if s.Name() == name {
			s.Shutdown()
			s.WaitForShutdown()
			return true
		}
	}
	return false
}

// Restart starts the killed node named name again with the same name,
// route port and store directory, so it rejoins the cluster and catches up
// (its client port is new; clients learn it from the others). It returns
// once the node accepts connections; its streams may still be catching up.
// A running node is shut down first. It replaces the node in Servers.
func (c *Cluster) Restart(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.Servers {
		if s.Name() != name {
			continue
		}
		s.Shutdown()
		s.WaitForShutdown()
		ns, err := c.start(c.nodes[i])
		if err != nil {
			return fmt.Errorf("bustest: restart %s: %w", name, err)
		}
		c.Servers[i] = ns
		if !ns.ReadyForConnections(10 * time.Second) {
			return fmt.Errorf("bustest: restarted %s not ready after 10s", name)
		}
		return nil
	}
	return fmt.Errorf("bustest: no node %s", name)
}

// MetaLeader is the name of the node leading the JetStream meta group, or
// "" while there is none (an election is under way).
func (c *Cluster) MetaLeader() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.Servers {
		if s.Running() && s.JetStreamIsLeader() {
			return s.Name()
		}
	}
	return ""
}

// Connect opens a connection to every running node that reconnects forever
// (100ms apart) as a fleet member's does, with a bus.NewJetStream handle;
// opts are added to those. It is closed at the end of the test.
func (c *Cluster) Connect(t testing.TB, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	base := []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond)}
	nc, err := nats.Connect(c.URL(), append(base, opts...)...)
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

// WaitHealthy waits until every running node reports healthy (the
// server's /healthz: JetStream up, its streams and consumers current),
// for example after Restart, or returns the last unhealthy report once ctx
// ends.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := c.unhealthy()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bustest: cluster not healthy: %w", err)
		case <-tick.C:
		}
	}
}

func (c *Cluster) unhealthy() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.Servers {
		if !s.Running() {
			continue
		}
		if h := s.Healthz(&server.HealthzOptions{}); h.Status != "ok" {
			return fmt.Errorf("%s: %s %s", s.Name(), h.Status, h.Error)
		}
	}
	return nil
}
