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
	"strconv"
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
	Reasons    string // the calls by why they went out, from the members' heartbeats
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
	procs, err := startUpserters(ctx, o, bin, fleetUpserters, "NATS_URL="+child.natsURL, "SF_LOGIN_URL="+child.sfURL)
	if err != nil {
		return row, err
	}
	defer procs.kill()

	var samples []fleetSample
	deadline := time.Now().Add(10 * time.Minute)
	k := 0
	for {
		left, err := unsettled(ctx, js)
		if err == nil {
			k = len(all) - left
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

	calls1, err := upsertCalls(ctx, child.sfURL)
	if err != nil {
		return row, err
	}
	row.Calls = calls1 - calls0
	if c, ok := memberCalls(ctx, js, row.Calls); ok {
		row.Reasons = callReasons(c)
	}
	row.CPUSeconds = procs.stop()
	row.Per1k = 1000 * float64(row.Calls) / float64(len(all))
	row.CPUPer1k = 1000 * row.CPUSeconds / float64(len(all))
	return row, nil
}

// memberCalls is the fleet's upsert calls by why they went out, as the
// members report them in their heartbeats, once those account for want
// calls since the members started (a heartbeat is a couple of seconds
// behind); false if they do not within 15 s.
func memberCalls(ctx context.Context, js jetstream.JetStream, want int64) (upsert.CallSnapshot, bool) {
	kv, err := js.KeyValue(ctx, bus.BucketMembers)
	if err != nil {
		return upsert.CallSnapshot{}, false
	}
	for range 150 {
		var sum upsert.CallSnapshot
		if keys, err := kv.Keys(ctx); err == nil {
			for _, k := range keys {
				var r upsert.MemberReport
				if en, err := kv.Get(ctx, k); err == nil && json.Unmarshal(en.Value(), &r) == nil {
					sum = sum.Plus(r.Calls)
				}
			}
		}
		if sum.Calls == want {
			return sum, true
		}
		select {
		case <-ctx.Done():
			return upsert.CallSnapshot{}, false
		case <-time.After(100 * time.Millisecond):
		}
	}
	return upsert.CallSnapshot{}, false
}

// callReasons is c's calls by reason and their fill ("full 498, drained 2;
// 199.1 records per call"), "" without calls.
func callReasons(c upsert.CallSnapshot) string {
	if c.Calls == 0 {
		return ""
	}
	return fmt.Sprintf("%s; %.1f records per call", c.Reasons(), float64(c.Records)/float64(c.Calls))
}

// callsSince is what after counted beyond before.
func callsSince(after, before upsert.CallSnapshot) upsert.CallSnapshot {
	out := upsert.CallSnapshot{Calls: after.Calls - before.Calls, Records: after.Records - before.Records, ByReason: map[string]int64{}}
	for k, n := range after.ByReason {
		if d := n - before.ByReason[k]; d > 0 {
			out.ByReason[k] = d
		}
	}
	return out
}

// unsettled is what the partition consumers have not settled yet (pending
// plus awaiting ack); a consumer not created yet is a not-found error.
func unsettled(ctx context.Context, js jetstream.JetStream) (int, error) {
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
	return left, nil
}

// procSet is worker processes the bench started (workers/upserter,
// workers/producer), configured by environment as a user deploys them.
type procSet struct {
	cmds []*exec.Cmd
}

// start starts bin with args and the base environment (PATH, HOME, no
// metrics port, errors-only logs) plus env; its stderr goes to the progress
// output under label.
func (s *procSet) start(ctx context.Context, o Options, label, bin string, args []string, env ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "METRICS_ADDR=", "LOG_LEVEL=error"}, env...)
	cmd.Stderr = prefixWriter{o.Progress, "  " + label + ": "}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	s.cmds = append(s.cmds, cmd)
	return nil
}

// startUpserters starts n workers/upserter processes, members
// bench-fleet-1…n, with env (NATS_URL, SF_LOGIN_URL, …) beside the
// emulator's credentials.
func startUpserters(ctx context.Context, o Options, bin string, n int, env ...string) (*procSet, error) {
	s := &procSet{}
	for i := range n {
		e := append([]string{"SF_CLIENT_ID=contactsync", "SF_CLIENT_SECRET=contactsync-secret", "SYNC_MEMBER=" + fleetMember(i)}, env...)
		if err := s.start(ctx, o, fmt.Sprintf("upserter %d", i+1), bin, nil, e...); err != nil {
			s.kill()
			return nil, err
		}
	}
	return s, nil
}

func fleetMember(i int) string { return fmt.Sprintf("bench-fleet-%d", i+1) }

// cpuSeconds is the user + system time the running processes have used so
// far, from /proc/PID/stat (Linux; ticks of 1/100 s, USER_HZ); ok is false
// where it cannot be read.
func (s *procSet) cpuSeconds() (secs float64, ok bool) {
	for _, c := range s.cmds {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Process.Pid))
		if err != nil {
			return 0, false
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if i < 0 || len(f) < 13 {
			return 0, false
		}
		ut, err1 := strconv.ParseInt(f[11], 10, 64)
		st, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			return 0, false
		}
		secs += float64(ut+st) / 100
	}
	return secs, true
}

// stop sends SIGTERM to every process, waits for each (killing it after
// 60 s) and returns their total user + system time.
func (s *procSet) stop() float64 {
	for _, p := range s.cmds {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	var cpu float64
	for _, p := range s.cmds {
		done := make(chan error, 1)
		go func() { done <- p.Wait() }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
		cpu += (p.ProcessState.UserTime() + p.ProcessState.SystemTime()).Seconds()
	}
	return cpu
}

// kill ends the processes not stopped yet (error paths).
func (s *procSet) kill() {
	for _, p := range s.cmds {
		if p.ProcessState == nil {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	}
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
	return buildWorker(ctx, dir, "upserter")
}

// buildWorker builds workers/<name> into dir/<name>.
func buildWorker(ctx context.Context, dir, name string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	bin := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./workers/"+name)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./workers/%s: %v\n%s", name, err, out)
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
