package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/producer"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/upsert"
)

// FleetRow is one run of the real fleet: separate upserter processes (the
// workers/upserter binary, configured by environment as a user deploys it)
// draining a backlog, with JetStream and the emulator in a third process.
type FleetRow struct {
	Upserters  int
	LatencyMS  int
	Contacts   int
	Deltas     int   // published, older versions included
	Older      int   // older versions published after the newer one (the stale path)
	Calls      int64 // Collections upserts (the start-up checks excluded)
	Per1k      float64
	Whole      float64 // deltas settled per second, upserters' start to drained
	Sustained  float64 // 10th → 90th percentile of the settled count
	CPUSeconds float64 // user + system time of the upserter processes
	CPUPer1k   float64
}

// fleetUpserters is the fleet size of the process runs.
const fleetUpserters = 2

// runFleet publishes n contacts (one delta each, and for every tenth an
// older version published after it) to a JetStream server in a child
// process, then starts fleetUpserters upserter processes against the
// emulator in the same child at latencyMS per call, waits until every
// delta is settled, stops the upserters with SIGTERM and reads their CPU
// time from the kernel.
func runFleet(ctx context.Context, o Options, n, latencyMS int) (FleetRow, error) {
	row := FleetRow{Upserters: fleetUpserters, LatencyMS: latencyMS, Contacts: n}
	dir, err := os.MkdirTemp("", "bench-fleet-")
	if err != nil {
		return row, err
	}
	defer os.RemoveAll(dir)
	bin, err := buildUpserter(ctx, dir)
	if err != nil {
		return row, err
	}
	child, err := startChild(ctx, filepath.Join(dir, "store"))
	if err != nil {
		return row, err
	}
	defer child.stop()
	if err := putFaults(ctx, child.sfURL, sfsim.Faults{LatencyMS: latencyMS}); err != nil {
		return row, err
	}

	ds, err := cleanDeltas(n)
	if err != nil {
		return row, err
	}
	var all []delta.Delta
	for i, d := range ds {
		all = append(all, d)
		if i%10 == 0 && d.Version > 1 {
			old := d
			old.Version = d.Version - 1
			old.Fields = map[string]any{"LastName": "stale version"}
			all = append(all, old)
			row.Older++
		}
	}
	row.Deltas = len(all)
	nc, err := nats.Connect(child.natsURL, nats.Name("bench-fleet-publisher"))
	if err != nil {
		return row, err
	}
	defer nc.Close()
	js, err := producer.NewJetStream(nc, 0)
	if err != nil {
		return row, err
	}
	pub := producer.NewPublisher(js)
	for i, d := range all {
		if err := pub.Publish(ctx, i+1, d); err != nil {
			return row, err
		}
	}
	if counts, err := pub.Flush(ctx); err != nil || counts.Published != int64(len(all)) {
		return row, fmt.Errorf("published %d of %d: %v", counts.Published, len(all), err)
	}
	o.logf("  %s deltas published (%d older versions after newer ones); starting %d upserter processes", thousands(int64(len(all))), row.Older, fleetUpserters)
	calls0, err := upsertCalls(ctx, child.sfURL)
	if err != nil {
		return row, err
	}

	start := time.Now()
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			if p.ProcessState == nil {
				_ = p.Process.Kill()
				_ = p.Wait()
			}
		}
	}()
	for i := range fleetUpserters {
		cmd := exec.CommandContext(ctx, bin)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
			"NATS_URL=" + child.natsURL, "SF_LOGIN_URL=" + child.sfURL,
			"SF_CLIENT_ID=contactsync", "SF_CLIENT_SECRET=contactsync-secret",
			"METRICS_ADDR=", "LOG_LEVEL=error", fmt.Sprintf("SYNC_MEMBER=bench-fleet-%d", i+1)}
		cmd.Stderr = prefixWriter{o.Progress, fmt.Sprintf("  upserter %d: ", i+1)} // errors only (LOG_LEVEL=error)
		if err := cmd.Start(); err != nil {
			return row, err
		}
		procs = append(procs, cmd)
	}

	// Settled = published − (pending + awaiting ack) over the partitions.
	var samples []fleetSample
	settled := func() (int, error) {
		left := 0
		for p := range upsert.DefaultPartitions {
			c, err := js.Consumer(ctx, bus.StreamContacts, upsert.ConsumerName(p))
			if err != nil {
				return 0, err
			}
			info, err := c.Info(ctx)
			if err != nil {
				return 0, err
			}
			left += int(info.NumPending) + info.NumAckPending
		}
		return len(all) - left, nil
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		k, err := settled()
		if err == nil {
			samples = append(samples, fleetSample{time.Now(), k})
			if k == len(all) {
				break
			}
		} else if !isNotFound(err) {
			return row, err
		}
		if time.Now().After(deadline) {
			return row, fmt.Errorf("only %d of %d deltas settled after 10m", k, len(all))
		}
		select {
		case <-ctx.Done():
			return row, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	end := samples[len(samples)-1].at
	row.Whole = float64(len(all)) / end.Sub(start).Seconds()
	row.Sustained = sampledRate(samples, len(all))

	for _, p := range procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		done := make(chan error, 1)
		go func() { done <- p.Wait() }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
		row.CPUSeconds += (p.ProcessState.UserTime() + p.ProcessState.SystemTime()).Seconds()
	}
	calls1, err := upsertCalls(ctx, child.sfURL)
	if err != nil {
		return row, err
	}
	row.Calls = calls1 - calls0
	row.Per1k = 1000 * float64(row.Calls) / float64(len(all))
	row.CPUPer1k = 1000 * row.CPUSeconds / float64(len(all))
	return row, nil
}

type fleetSample struct {
	at      time.Time
	settled int
}

// sampledRate is the settled rate between the first samples at or past 10%
// and 90% of total (the same window as sustained).
func sampledRate(s []fleetSample, total int) float64 {
	var lo, hi *fleetSample
	for i := range s {
		if lo == nil && s[i].settled >= total/10 {
			lo = &s[i]
		}
		if hi == nil && s[i].settled >= total*9/10 {
			hi = &s[i]
		}
	}
	if lo == nil || hi == nil || !hi.at.After(lo.at) {
		return 0
	}
	return float64(hi.settled-lo.settled) / hi.at.Sub(lo.at).Seconds()
}

func isNotFound(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "not found") || err == jetstream.ErrConsumerNotFound)
}

// buildUpserter builds workers/upserter into dir, from the module this
// bench belongs to.
func buildUpserter(ctx context.Context, dir string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	bin := filepath.Join(dir, "upserter")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./workers/upserter")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./workers/upserter: %v\n%s", err, out)
	}
	return bin, nil
}

func putFaults(ctx context.Context, sfURL string, f sfsim.Faults) error {
	b, _ := json.Marshal(f)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, sfURL+"/__sfsim/faults", bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT /__sfsim/faults: %s", resp.Status)
	}
	return nil
}

// upsertCalls is the emulator's count of Collections upserts so far.
func upsertCalls(ctx context.Context, sfURL string) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sfURL+"/__sfsim/stats", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st sfsim.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, err
	}
	return st.Routes["PATCH /composite/sobjects/{type}/{field}"], nil
}
