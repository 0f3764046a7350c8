package producer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/bus/bustest"
	"github.com/contactsync/contactsync/pkg/delta"
)

// waitTimeout only bounds a test that would otherwise hang.
const waitTimeout = 3 * time.Minute

func clusterCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// Killing the CONTACTS leader while a publisher has acks in flight loses
// nothing and stores nothing twice: publishes that time out or are cut by
// the reconnect are resent with the same Nats-Msg-Id.
func TestPublisherRidesOutLeaderLoss(t *testing.T) {
	c := bustest.StartCluster(t, 3, bus.Topology{Partitions: 4})
	nc, _ := c.Connect(t)
	js, err := NewJetStream(nc, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := clusterCtx(t)
	var mu sync.Mutex
	var failures []Failure
	retries := 0
	pub := NewPublisher(js, WithMaxPending(50),
		WithRetryNotify(func(error, time.Duration) { retries++ }),
		WithFailureHandler(func(f Failure) { mu.Lock(); failures = append(failures, f); mu.Unlock() }))
	const n = 1500
	killed := ""
	for i := range n {
		d := delta.Delta{Schema: delta.SchemaV1, ExternalID: fmt.Sprintf("K_%d", i), Segment: "emea", Version: 1,
			Fields: map[string]any{"LastName": "x"}}
		if err := pub.Publish(ctx, i+1, d); err != nil {
			t.Fatal(err)
		}
		if i == n/3 {
			if pub.Counts().Published == 0 {
				t.Fatal("nothing confirmed before the node loss; the test would prove nothing")
			}
			s, err := js.Stream(ctx, bus.StreamContacts)
			if err != nil {
				t.Fatal(err)
			}
			info := s.CachedInfo()
			if info.Cluster == nil || info.Cluster.Leader == "" || !c.Kill(info.Cluster.Leader) {
				t.Fatalf("no stream leader to kill: %+v", info.Cluster)
			}
			killed = info.Cluster.Leader
		}
	}
	counts, err := pub.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed %s; counts %+v; %d resends after a wait", killed, counts, retries)
	if counts != (Counts{Published: n}) || len(failures) != 0 {
		t.Fatalf("counts %+v, failures %v; want all %d published once", counts, failures, n)
	}
	if got := streamMsgs(t, js); got != n {
		t.Fatalf("CONTACTS holds %d, want %d", got, n)
	}
}

// syncBuffer is stderr shared with the command's goroutine; seen closes
// once the output contains want.
type syncBuffer struct {
	mu   sync.Mutex
	b    strings.Builder
	want string
	seen chan struct{}
	once sync.Once
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Write(p)
	if strings.Contains(s.b.String(), s.want) {
		s.once.Do(func() { close(s.seen) })
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// `producer publish` started while the cluster has lost its quorum waits
// for JetStream, saying so on stderr, and publishes everything once a node
// is back, instead of failing on "ensure stream …: context deadline
// exceeded".
func TestPublishCLIWaitsForJetStream(t *testing.T) {
	c := bustest.StartCluster(t, 3, bus.Topology{Partitions: 4})
	c.Kill("n2")
	c.Kill("n3") // n1 alone: no meta leader, no stream leader
	file := filepath.Join(t.TempDir(), "deltas.ndjson")
	var lines []string
	for i := range 20 {
		lines = append(lines, line(fmt.Sprintf("W_%d", i), "emea", 1, `{"LastName":"x"}`))
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NATS_URL", c.URL())
	t.Setenv("NATS_PARTITIONS", "4")
	t.Setenv("NATS_REPLICAS", "3")
	t.Setenv("NATS_WAIT", "3m")
	stderr := &syncBuffer{want: "waiting for JetStream: ", seen: make(chan struct{})}
	var stdout strings.Builder
	done := make(chan error, 1)
	go func() { done <- RunCLI(clusterCtx(t), []string{"publish", file}, &stdout, stderr) }()
	select {
	case <-stderr.seen:
	case err := <-done:
		t.Fatalf("publish returned before the cluster was back: %v\nstderr:\n%s", err, stderr.String())
	case <-time.After(waitTimeout):
		t.Fatalf("no waiting message; stderr:\n%s", stderr.String())
	}
	if err := c.Restart("n2"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("publish: %v\nstderr:\n%s", err, stderr.String())
		}
	case <-time.After(waitTimeout):
		t.Fatalf("publish never finished; stderr:\n%s", stderr.String())
	}
	if !strings.Contains(stdout.String(), "read 20  rejected 0  published 20  duplicates 0  failed 0") {
		t.Fatalf("summary %q\nstderr:\n%s", stdout.String(), stderr.String())
	}
	t.Logf("stderr:\n%s", stderr.String())
	if err := c.WaitHealthy(clusterCtx(t)); err != nil { // caught up before the cluster is shut down
		t.Fatal(err)
	}
}
