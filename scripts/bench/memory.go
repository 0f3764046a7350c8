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
	"time"

	"github.com/nats-io/nats.go"

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
// run in a child process (this binary re-executed with --serve), so what is
// sampled here is the upserter, its NATS connection and its Salesforce
// client only.
func runMemory(ctx context.Context, o Options, small, large, process int) ([]MemoryRow, error) {
	var rows []MemoryRow
	for _, pending := range []int{small, large} {
		r, err := memoryRun(ctx, o, pending, min(process, pending))
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

	o.logf("  publishing a backlog of %d deltas to the child server", pending)
	pubTime, err := publishBacklog(ctx, child.natsURL, pending)
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
	u.Stop()
	if err != nil {
		return MemoryRow{}, fmt.Errorf("upserter processed %d of %d: %w", stats.Snapshot().Done(), process, err)
	}
	done := stats.Snapshot().Done()
	o.logf("  %d pending: processed %d in %s, peak heap %s", pending, done, elapsed.Round(time.Millisecond), mib(peak))
	return MemoryRow{Pending: pending, Processed: done, IdleHeap: heap.idle, PeakHeap: peak,
		Rate: float64(done) / elapsed.Seconds(), Publish: pubTime}, nil
}

// publishBacklog publishes n one-delta contacts, generated as it goes so the
// backlog never sits in this process's memory.
func publishBacklog(ctx context.Context, url string, n int) (time.Duration, error) {
	nc, err := nats.Connect(url, nats.Name("bench-memory-publisher"))
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := producer.NewJetStream(nc, 0)
	if err != nil {
		return 0, err
	}
	if err := bus.Ensure(ctx, js, bus.Topology{}); err != nil {
		return 0, err
	}
	start := time.Now()
	pub := producer.NewPublisher(js)
	segments := []string{"emea", "amer", "apac"}
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		d := delta.Delta{Schema: delta.SchemaV1, ExternalID: fmt.Sprintf("MEM_%07d", i), Segment: segments[i%3],
			Version: base.UnixMicro() + int64(i), Source: "bench", EmittedAt: base,
			Fields: map[string]any{"FirstName": "Mem", "LastName": fmt.Sprintf("Backlog %d", i),
				"Email": fmt.Sprintf("mem.%07d@example.com", i), "Title": "Buyer"}}
		if err := pub.Publish(ctx, i+1, d); err != nil {
			return 0, err
		}
	}
	c, err := pub.Flush(ctx)
	if err != nil {
		return 0, err
	}
	if c.Published != int64(n) {
		return 0, fmt.Errorf("backlog: published %d of %d (duplicates %d, failed %d)", c.Published, n, c.Duplicates, c.Failed)
	}
	return time.Since(start), nil
}

// child is the re-executed bench binary serving JetStream and the emulator.
type child struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	natsURL string
	sfURL   string
}

func startChild(ctx context.Context, dir string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "--serve", dir)
	cmd.Stderr = os.Stderr
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
	c := &child{cmd: cmd, stdin: stdin}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && (c.natsURL == "" || c.sfURL == "") {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "nats":
			c.natsURL = v
		case "sfsim":
			c.sfURL = v
		}
		if c.natsURL != "" && c.sfURL != "" {
			break
		}
	}
	if c.natsURL == "" || c.sfURL == "" {
		c.stop()
		return nil, errors.New("child server did not print its URLs")
	}
	go io.Copy(io.Discard, stdout) //nolint:errcheck // drain until the child exits
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
// emulator at 0 ms, their URLs on out ("nats=…", "sfsim=…"), until in closes.
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
	if _, err := fmt.Fprintf(out, "nats=%s\nsfsim=%s\n", ns.ClientURL(), sim.URL()); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, in)
	return err
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
