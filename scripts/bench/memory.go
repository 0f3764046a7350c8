package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/producer"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/upsert"
)

// runMemory measures one upserter's heap while it works through a backlog of
// small and of large pending deltas. The JetStream server and the emulator
// run in a child process (this binary re-executed, see childEnv), so what is
// sampled here is the upserter, its NATS connection and its Salesforce
// client only.
func runMemory(ctx context.Context, o Options, small, large, process int) ([]MemoryRow, error) {
	var rows []MemoryRow
	for _, pending := range []int{small, large} {
		r, err := memoryRun(ctx, o, pending, process)
		if err != nil {
			return nil, fmt.Errorf("%d pending: %w", pending, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func memoryRun(ctx context.Context, o Options, pending, process int) (MemoryRow, error) {
	dir, err := os.MkdirTemp("", "bench-memory-")
	if err != nil {
		return MemoryRow{}, err
	}
	defer os.RemoveAll(dir)
	child, err := startChild(ctx, dir)
	if err != nil {
		return MemoryRow{}, err
	}
	defer child.stop()

	o.logf("  the child publishes a backlog of %d deltas", pending)
	pubTime, err := child.backlog(pending)
	if err != nil {
		return MemoryRow{}, err
	}

	heap := sampleHeap()
	unc, err := nats.Connect(child.natsURL, nats.Name("bench-memory-upserter"))
	if err != nil {
		return MemoryRow{}, err
	}
	defer unc.Close()
	sf, err := salesforce.New(ctx, salesforce.Config{LoginURL: child.sfURL, ClientID: "contactsync", ClientSecret: "contactsync-secret"})
	if err != nil {
		return MemoryRow{}, err
	}
	defer sf.Close()
	stats := &upsert.Stats{}
	u, err := upsert.New(upsert.Config{Member: "bench-memory"}, upsert.Deps{NATS: unc, Salesforce: sf,
		Resolver: conflict.NewResolver(sf, conflict.Config{}, nil), Stats: stats})
	if err != nil {
		return MemoryRow{}, err
	}
	start := time.Now()
	if err := u.Start(ctx); err != nil {
		return MemoryRow{}, err
	}
	err = waitFor(ctx, 10*time.Minute, func() bool { return stats.Snapshot().Done() >= int64(process) })
	elapsed := time.Since(start)
	peak := heap.stop()
	done := stats.Snapshot().Done()
	_ = u.Stop(context.Background())
	if err != nil {
		return MemoryRow{}, fmt.Errorf("upserter processed %d of %d: %w", stats.Snapshot().Done(), process, err)
	}
	o.logf("  %d pending: processed %d in %s, peak heap %s", pending, done, elapsed.Round(time.Millisecond), mib(peak))
	return MemoryRow{Pending: pending, Processed: done, IdleHeap: heap.idle, PeakHeap: peak,
		Rate: float64(done) / elapsed.Seconds(), Publish: pubTime}, nil
}

// backlogPublisher is the child's side of the memory scenario: it publishes
// generated one-delta contacts, and then keeps the upserter's pending count
// (unprocessed plus unacked, over every partition consumer) at the backlog
// size, so the upserter works against a constant backlog.
type backlogPublisher struct {
	js   jetstream.JetStream
	pub  *producer.Publisher
	next int
}

func (b *backlogPublisher) publish(ctx context.Context, n int) error {
	segments := []string{"emea", "amer", "apac"}
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for range n {
		i := b.next
		b.next++
		d := delta.Delta{Schema: delta.SchemaV1, ExternalID: fmt.Sprintf("MEM_%07d", i), Segment: segments[i%3],
			Version: base.UnixMicro() + int64(i), Source: "bench", EmittedAt: base,
			Fields: map[string]any{"FirstName": "Mem", "LastName": fmt.Sprintf("Backlog %d", i),
				"Email": fmt.Sprintf("mem.%07d@example.com", i), "Title": "Buyer"}}
		if err := b.pub.Publish(ctx, i+1, d); err != nil {
			return err
		}
	}
	c, err := b.pub.Flush(ctx)
	if err != nil {
		return err
	}
	if c.Failed > 0 {
		return fmt.Errorf("backlog: %d publishes failed", c.Failed)
	}
	return nil
}

// backlogPartitions is the default partition count the memory scenario uses.
const backlogPartitions = 16

// pending is what the upserter has not settled yet.
func (b *backlogPublisher) pending(ctx context.Context) (int, error) {
	total := 0
	for p := range backlogPartitions {
		c, err := b.js.Consumer(ctx, bus.StreamContacts, upsert.ConsumerName(p))
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			info, err := b.js.Stream(ctx, bus.StreamContacts)
			if err != nil {
				return 0, err
			}
			return int(info.CachedInfo().State.Msgs), nil
		}
		if err != nil {
			return 0, err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return 0, err
		}
		total += int(info.NumPending) + info.NumAckPending
	}
	return total, nil
}

// topUp keeps pending at target until ctx ends.
func (b *backlogPublisher) topUp(ctx context.Context, target int) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := b.pending(ctx)
		if err != nil || n >= target {
			continue
		}
		_ = b.publish(ctx, target-n)
	}
}

// child is the re-executed bench binary serving JetStream and the emulator.
type child struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	out     *bufio.Scanner
	natsURL string
	sfURL   string
	// recURL serves the same emulator through recordWrites: clients
	// logging in there stay there, and each Contact upsert's records are
	// logged with the time of the response (GET recURL/__bench/writes).
	recURL string
}

// backlog asks the child to publish n deltas and keep that many pending.
func (c *child) backlog(n int) (time.Duration, error) {
	start := time.Now()
	if _, err := fmt.Fprintf(c.stdin, "backlog %d\n", n); err != nil {
		return 0, err
	}
	for c.out.Scan() {
		if line := c.out.Text(); line == "ready" {
			return time.Since(start), nil
		} else if msg, ok := strings.CutPrefix(line, "error "); ok {
			return 0, errors.New(msg)
		}
	}
	return 0, fmt.Errorf("child exited while publishing the backlog: %v", c.out.Err())
}

func startChild(ctx context.Context, dir string) (*child, error) {
	cmd, err := childCommand(ctx, "serve "+dir)
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	for (c.natsURL == "" || c.sfURL == "" || c.recURL == "") && c.out.Scan() {
		k, v, _ := strings.Cut(c.out.Text(), "=")
		switch k {
		case "nats":
			c.natsURL = v
		case "sfsim":
			c.sfURL = v
		case "sfsimrec":
			c.recURL = v
		}
	}
	if c.natsURL == "" || c.sfURL == "" || c.recURL == "" {
		c.stop()
		return nil, errors.New("child server did not print its URLs")
	}
	return c, nil
}

// stop closes the child's stdin (its signal to shut down) and waits for it.
func (c *child) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }() //nolint:errcheck
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill() //nolint:errcheck
		<-done
	}
}

// serveChild is the child's side: a JetStream server storing in dir and an
// emulator at 0 ms, their URLs on out ("nats=…", "sfsim=…", and
// "sfsimrec=…" for the emulator behind recordWrites), until in closes.
func serveChild(dir string, in io.Reader, out io.Writer) error {
	ns, err := bus.StartEmbedded(dir)
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	sim, err := sfsim.New(sfsim.Config{})
	if err != nil {
		return err
	}
	defer sim.Close()
	rec, err := serveRecorded(sim)
	if err != nil {
		return err
	}
	defer rec.Close()
	nc, err := nats.Connect(ns.ClientURL(), nats.Name("bench-backlog-publisher"))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := producer.NewJetStream(nc, 0)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := bus.Ensure(ctx, js, bus.Topology{}); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(out, "nats=%s\nsfsim=%s\nsfsimrec=%s\n", ns.ClientURL(), sim.URL(), rec.URL); err != nil {
		return err
	}
	bp := &backlogPublisher{js: js, pub: producer.NewPublisher(js)}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	sc := bufio.NewScanner(in)
	for sc.Scan() { // until the parent closes stdin
		var n int
		if _, err := fmt.Sscanf(sc.Text(), "backlog %d", &n); err != nil {
			fmt.Fprintf(out, "error bad command %q\n", sc.Text())
			continue
		}
		if err := bp.publish(ctx, n); err != nil {
			fmt.Fprintf(out, "error %v\n", err)
			continue
		}
		fmt.Fprintln(out, "ready")
		wg.Add(1)
		go func() { defer wg.Done(); bp.topUp(ctx, n) }()
	}
	return sc.Err()
}

// waitFor polls cond every 20ms until it holds, ctx ends or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
