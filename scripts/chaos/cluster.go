package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsNode is one nats-server of the 3-node cluster.
type natsNode struct {
	name                         string // server_name: n1, n2, n3
	clientPort, clusterPort, mon int
	*proc
}

// clusterConfig is one node's configuration, in the shape of
// deployments/nats/nats-cluster-n*.conf, on loopback ports and a store in
// the run's directory.
func clusterConfig(n natsNode, nodes []natsNode, storeDir string) string {
	var routes []string
	for _, o := range nodes {
		routes = append(routes, fmt.Sprintf("    nats-route://127.0.0.1:%d", o.clusterPort))
	}
	return fmt.Sprintf(`# chaos harness: node %[1]s of the 3-node JetStream cluster (see deployments/nats).
server_name: %[1]s
listen: 127.0.0.1:%[2]d
http: 127.0.0.1:%[3]d

jetstream {
  store_dir: %[4]q
  max_memory_store: 256MB
  max_file_store: 4GB
}

cluster {
  name: chaos
  listen: 127.0.0.1:%[5]d
  routes: [
%[6]s
  ]
}

max_payload: 1MB
`, n.name, n.clientPort, n.mon, storeDir, n.clusterPort, strings.Join(routes, "\n"))
}

// newCluster allocates ports and writes the three configurations.
func newCluster(dir, bin, logDir string) ([]*natsNode, error) {
	nodes := make([]natsNode, 3)
	for i := range nodes {
		var err error
		nodes[i].name = fmt.Sprintf("n%d", i+1)
		for _, p := range []*int{&nodes[i].clientPort, &nodes[i].clusterPort, &nodes[i].mon} {
			if *p, err = freePort(); err != nil {
				return nil, err
			}
		}
	}
	var out []*natsNode
	for i := range nodes {
		n := nodes[i]
		store := filepath.Join(dir, "nats", n.name)
		if err := os.MkdirAll(store, 0o755); err != nil {
			return nil, err
		}
		conf := filepath.Join(dir, "nats", n.name+".conf")
		if err := os.WriteFile(conf, []byte(clusterConfig(n, nodes, store)), 0o644); err != nil {
			return nil, err
		}
		n.proc = &proc{name: "nats-" + n.name, bin: bin, args: []string{"-c", conf}, env: os.Environ(), logDir: logDir,
			healthz: fmt.Sprintf("http://127.0.0.1:%d/healthz", n.mon)}
		out = append(out, &n)
	}
	return out, nil
}

// clusterURL lists every node, as the workers' NATS_URL.
func clusterURL(nodes []*natsNode) string {
	var urls []string
	for _, n := range nodes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", n.clientPort))
	}
	return strings.Join(urls, ",")
}

// waitJetStream waits until the cluster answers JetStream account info
// (a meta leader is elected).
func waitJetStream(ctx context.Context, js jetstream.JetStream, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.AccountInfo(actx)
		acancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("JetStream account info not available after %s: %v", timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitPlacement waits until the cluster can place an R3 stream (every peer
// has reported in to the meta leader) by creating and deleting a probe
// stream: JetStream answers account info well before it can.
func waitPlacement(ctx context.Context, js jetstream.JetStream, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for ok := 0; ; {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := js.CreateStream(actx, jetstream.StreamConfig{Name: "CHAOS_PROBE", Subjects: []string{"chaos.probe"},
			Replicas: 3, Storage: jetstream.FileStorage})
		if err == nil {
			err = js.DeleteStream(actx, "CHAOS_PROBE")
		}
		acancel()
		if err == nil {
			if ok++; ok == 3 { // three in a row, half a second apart
				return nil
			}
		} else {
			ok, last = 0, err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot place an R3 stream after %s: %v", timeout, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// connectCluster connects the harness's own client, reconnecting forever.
func connectCluster(url string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url, nats.Name("contactsync-chaos"), nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond),
		nats.RetryOnFailedConnect(true))
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// streamLeader names the node leading stream name ("" if unknown).
func streamLeader(ctx context.Context, js jetstream.JetStream, name string) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		return ""
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		return ""
	}
	return info.Cluster.Leader
}

// pendingOf sums NumPending and NumAckPending over every consumer of a
// stream; consumers counts them. Not depending on consumer names keeps the
// harness independent of how pkg/upsert names its partitions.
func pendingOf(ctx context.Context, js jetstream.JetStream, stream string) (pending, ackPending uint64, consumers int, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, 0, 0, err
	}
	l := s.ListConsumers(ctx)
	for ci := range l.Info() {
		pending += ci.NumPending
		ackPending += uint64(ci.NumAckPending)
		consumers++
	}
	if err := l.Err(); err != nil {
		return 0, 0, 0, err
	}
	return pending, ackPending, consumers, nil
}
