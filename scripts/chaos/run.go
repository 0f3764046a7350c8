package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The JetStream names the workers use (README "JetStream topology"). They
// are the contract, written out here so the harness compiles on its own
// while pkg/ is being changed.
const (
	streamContacts  = "CONTACTS"
	streamConflicts = "CONFLICTS"
	streamDLQ       = "DLQ"
	bucketState     = "contact_state"
	bucketMembers   = "upserter_members"
	headerErrorCode = "Cs-Error-Code"
	headerExtID     = "Cs-External-Id"
)

const (
	sfClientID     = "contactsync"
	sfClientSecret = "contactsync-secret"
)

// harness is one run's moving parts.
type harness struct {
	cfg      Config
	out      io.Writer // progress
	start    time.Time
	dir      string
	binDir   string
	logDir   string
	dataDir  string
	natsURL  string
	nodes    []*natsNode
	sim      *proc
	sf       *sfAPI
	proxy    *proxy
	rec      *recorder
	ups      []*proc
	recon    *proc
	js       jetstream.JetStream
	exits    chan exitEvent
	rnd      *mrand.Rand
	ds       *dataSet
	chunks   []string
	rejects  []map[int]bool
	seedIDs  map[string]string // seeded Contact Id -> key of the contact it collides with
	mu       sync.Mutex        // guards rep's counters written by goroutines
	rep      *Report
	restarts sync.WaitGroup
	ending   chan struct{} // closed when the run stops restarting workers
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.out, "chaos %7.1fs  %s\n", time.Since(h.start).Seconds(), fmt.Sprintf(format, args...))
}

func (h *harness) allProcs() []*proc {
	var ps []*proc
	for _, n := range h.nodes {
		ps = append(ps, n.proc)
	}
	if h.sim != nil {
		ps = append(ps, h.sim)
	}
	ps = append(ps, h.ups...)
	if h.recon != nil {
		ps = append(ps, h.recon)
	}
	return ps
}

// run executes one chaos run. The error is for bad setup (exit 2); broken
// invariants are Report.Violations.
func run(ctx context.Context, cfg Config, progress io.Writer) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h := &harness{cfg: cfg, out: progress, start: time.Now(), rec: newRecorder(), exits: make(chan exitEvent, 64),
		rnd: mrand.New(mrand.NewPCG(cfg.Seed, cfg.Seed*31+7)), ending: make(chan struct{}),
		rep: &Report{Contacts: cfg.Contacts, Upserters: cfg.Upserters, Violations: []string{}}}
	if h.out == nil {
		h.out = io.Discard
	}
	rep := h.rep
	createdDir := false
	h.dir = cfg.Dir
	if h.dir == "" {
		d, err := os.MkdirTemp("", "contactsync-chaos-")
		if err != nil {
			return nil, setupErr("temp dir", err)
		}
		h.dir, createdDir = d, true
	}
	rep.Dir = h.dir
	h.logDir, h.dataDir = filepath.Join(h.dir, "logs"), filepath.Join(h.dir, "data")
	for _, d := range []string{h.logDir, h.dataDir, filepath.Join(h.dir, "nats")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, setupErr("work dir", err)
		}
	}
	// Progress goes to the caller and to logs/chaos.log.
	if f, err := os.Create(filepath.Join(h.logDir, "chaos.log")); err == nil {
		defer f.Close()
		h.out = &syncWriter{w: io.MultiWriter(h.out, f)}
	}
	ctx, cancel := context.WithCancel(ctx)
	failed := true
	defer func() {
		close(h.ending)
		cancel()
		for _, p := range h.allProcs() {
			p.kill()
		}
		h.restarts.Wait()
		if h.proxy != nil {
			_ = h.proxy.Close()
		}
		if failed || len(rep.Violations) > 0 {
			rep.Logs = h.logFiles()
		}
		if createdDir && !cfg.Keep && !failed && len(rep.Violations) == 0 {
			_ = os.RemoveAll(h.dir)
			rep.Dir = ""
		} else if createdDir {
			fmt.Fprintf(h.out, "chaos: work directory kept: %s\n", h.dir)
		}
	}()
	if err := h.setup(ctx); err != nil {
		return rep, err
	}
	if err := h.chaos(ctx); err != nil {
		return rep, err
	}
	if err := h.check(ctx); err != nil {
		return rep, err
	}
	rep.WallMS = time.Since(h.start).Milliseconds()
	failed = false
	return rep, nil
}

func (h *harness) logFiles() []string {
	var out []string
	for _, p := range h.allProcs() {
		p.mu.Lock()
		out = append(out, p.logPaths...)
		p.mu.Unlock()
	}
	if m, _ := filepath.Glob(filepath.Join(h.logDir, "producer.*.log")); len(m) > 0 {
		sort.Strings(m)
		out = append(out, m...)
	}
	return out
}

// setup builds, generates, and starts everything, waiting on each part.
func (h *harness) setup(ctx context.Context) error {
	cfg := h.cfg
	if err := h.build(ctx); err != nil {
		return err
	}

	// Data.
	h.ds = generate(genOptions{Contacts: cfg.Contacts, Seed: cfg.Seed, MaxVersions: cfg.MaxVersions,
		ConflictRate: cfg.ConflictRate, AdoptRate: cfg.AdoptRate, MixedCaseRate: cfg.MixedCaseRate,
		InvalidRate: cfg.InvalidRate, RejectRate: cfg.RejectRate, LateRate: cfg.LateRate, ShuffleWindow: 500})
	events := cfg.UpserterKills + cfg.NodeKills + cfg.ReconcilerRestarts
	span := time.Duration(events+1) * cfg.ChaosInterval
	n := max(1, int(span/cfg.ChunkEvery))
	var err error
	if h.chunks, h.rejects, err = writeChunks(h.dataDir, h.ds.Rows, n); err != nil {
		return setupErr("write input chunks", err)
	}
	rep := h.rep
	rep.Deltas, rep.ValidDeltas, rep.Chunks = len(h.ds.Rows), h.ds.Valid, len(h.chunks)
	rep.RejectedExpected = h.ds.Rejects
	for _, r := range h.ds.Rows {
		if r.Late {
			rep.LateDeltas++
		}
	}
	h.logf("generated %d contacts, %d deltas (%d valid, %d to be refused at ingest) in %d chunks: %d conflicts, %d adoptions, %d mixed-case, %d special IDs, %d refused by Salesforce",
		cfg.Contacts, len(h.ds.Rows), h.ds.Valid, h.ds.Rejects, len(h.chunks), h.ds.Conflicts, h.ds.Adopts, h.ds.Mixed, h.ds.Special, h.ds.Invalid)

	// NATS cluster.
	if h.nodes, err = newCluster(h.dir, filepath.Join(h.binDir, "nats-server"), h.logDir); err != nil {
		return setupErr("NATS cluster config", err)
	}
	for _, n := range h.nodes {
		n.exits = h.exits
		if err := n.start(ctx); err != nil {
			return setupErr("start NATS node "+n.name, err)
		}
	}
	for _, n := range h.nodes {
		if err := n.waitReady(ctx, cfg.StartTimeout); err != nil {
			return setupErr("NATS node "+n.name+" /healthz", err)
		}
	}
	h.natsURL = clusterURL(h.nodes)
	nc, js, err := connectCluster(h.natsURL)
	if err != nil {
		return setupErr("connect to NATS", err)
	}
	go func() { <-ctx.Done(); nc.Close() }()
	h.js = js
	if err := waitJetStream(ctx, js, cfg.StartTimeout); err != nil {
		return setupErr("JetStream cluster", err)
	}
	if err := waitPlacement(ctx, js, cfg.StartTimeout); err != nil {
		return setupErr("JetStream cluster (R3 placement)", err)
	}
	h.logf("NATS cluster up: %s", h.natsURL)

	// Emulator, seeded, then faults.
	simPort, err := freePort()
	if err != nil {
		return setupErr("emulator port", err)
	}
	adminToken := randomHex(16)
	simURL := fmt.Sprintf("http://127.0.0.1:%d", simPort)
	h.sim = &proc{name: "sfsim", bin: filepath.Join(h.binDir, "sfsim"), logDir: h.logDir, healthz: simURL + "/__sfsim/healthz",
		env: workerEnv(nil, map[string]string{"SFSIM_ADDR": fmt.Sprintf("127.0.0.1:%d", simPort), "SFSIM_ADMIN_TOKEN": adminToken,
			"SFSIM_CLIENT_ID": sfClientID, "SFSIM_CLIENT_SECRET": sfClientSecret, "SFSIM_DAILY_LIMIT": "1000000000",
			"SFSIM_SEED": strconv.FormatUint(cfg.Seed, 10), "LOG_LEVEL": cfg.LogLevel})}
	h.sim.exits = h.exits
	if err := h.sim.start(ctx); err != nil {
		return setupErr("start emulator", err)
	}
	if err := h.sim.waitReady(ctx, cfg.StartTimeout); err != nil {
		return setupErr("emulator /__sfsim/healthz", err)
	}
	h.sf = newSFAPI(simURL, sfClientID, sfClientSecret, adminToken)
	if err := h.sf.login(ctx); err != nil {
		return setupErr("emulator OAuth login", err)
	}
	if err := h.seed(ctx); err != nil {
		return setupErr("seed emulator", err)
	}
	faults := map[string]any{"latency_ms": cfg.LatencyMS, "jitter_ms": cfg.JitterMS, "error_rate": cfg.ErrorRate, "errors": cfg.Errors}
	if _, err := h.sf.admin(ctx, "PUT", "/__sfsim/faults", faults); err != nil {
		return setupErr("emulator faults (PUT /__sfsim/faults)", err)
	}
	h.logf("emulator up at %s: seeded %d contacts; faults %v", simURL, len(h.ds.Seeds), faults)

	// Recording proxy.
	if h.proxy, err = startProxy(simURL, h.rec); err != nil {
		return setupErr("recording proxy", err)
	}

	// Upserters, then the reconciler (it needs CONFLICTS, which they create).
	// The first upserter creates the streams and buckets alone; the others
	// start together once it is ready.
	for i := range cfg.Upserters {
		p, err := h.newWorker(fmt.Sprintf("upserter-%d", i), "upserter", map[string]string{"SYNC_MEMBER": fmt.Sprintf("upserter-%d", i)})
		if err != nil {
			return setupErr("upserter port", err)
		}
		h.ups = append(h.ups, p)
	}
	if err := h.startReady(ctx, h.ups[:1]); err != nil {
		return err
	}
	if err := h.startReady(ctx, h.ups[1:]); err != nil {
		return err
	}
	if err := h.checkTopology(ctx); err != nil {
		return setupErr("topology", err)
	}
	if h.recon, err = h.newWorker("reconciler", "reconciler", nil); err != nil {
		return setupErr("reconciler port", err)
	}
	if err := h.startReady(ctx, []*proc{h.recon}); err != nil {
		return err
	}
	h.logf("fleet up: %d upserters, reconciler; Salesforce calls go through the recording proxy %s", cfg.Upserters, h.proxy.URL())
	return nil
}

// startReady starts workers together and waits until each is ready. A
// worker that exits during startup is recorded (Report.Workers) and started
// again, up to five times, a second apart: startup failures are findings,
// not the end of the run.
func (h *harness) startReady(ctx context.Context, ps []*proc) error {
	all := ps
	for attempt := 1; ; attempt++ {
		for _, p := range ps {
			if err := p.start(ctx); err != nil {
				return setupErr("start "+p.name, err)
			}
		}
		var failed []*proc
		for _, p := range ps {
			if err := p.waitReady(ctx, h.cfg.StartTimeout); err != nil {
				if p.running() || attempt == 5 {
					return setupErr(p.name+" /healthz", err)
				}
				h.count(func(r *Report) {
					r.UnexpectedExits++
					r.Workers = append(r.Workers, fmt.Sprintf("startup: %v", err))
				})
				h.logf("startup: %v; starting it again", err)
				failed = append(failed, p)
			}
		}
		if len(failed) == 0 {
			break
		}
		if !h.sleep(ctx, time.Second) {
			return errors.New("interrupted")
		}
		ps = failed
	}
	// From now on an exit nobody asked for is reported to the monitor.
	for _, p := range all {
		p.mu.Lock()
		p.exits = h.exits
		p.mu.Unlock()
	}
	return nil
}

// syncWriter serialises writes from the harness's goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// build compiles the workers and nats-server into DIR/bin.
func (h *harness) build(ctx context.Context) error {
	if h.cfg.BinDir != "" {
		h.binDir = h.cfg.BinDir
		for _, b := range []string{"upserter", "producer", "reconciler", "sfsim", "nats-server"} {
			if _, err := os.Stat(filepath.Join(h.binDir, b)); err != nil {
				return setupErr("--bin", err)
			}
		}
		return nil
	}
	h.binDir = filepath.Join(h.dir, "bin")
	if err := os.MkdirAll(h.binDir, 0o755); err != nil {
		return setupErr("build", err)
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return setupErr("build: find the module root", err)
	}
	t := time.Now()
	for _, args := range [][]string{
		{"build", "-o", h.binDir + "/", "./workers/upserter", "./workers/producer", "./workers/reconciler", "./workers/sfsim"},
		{"build", "-o", filepath.Join(h.binDir, "nats-server"), "github.com/nats-io/nats-server/v2"},
	} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return setupErr("build: go "+strings.Join(args, " "), fmt.Errorf("%w\n%s", err, out))
		}
	}
	h.logf("built workers and nats-server in %s (%s)", h.binDir, time.Since(t).Round(100*time.Millisecond))
	return nil
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the contactsync module (run from the repository)")
	}
	return filepath.Dir(mod), nil
}

// newWorker prepares an upserter or reconciler process.
func (h *harness) newWorker(name, bin string, extra map[string]string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	set := map[string]string{"NATS_URL": h.natsURL, "NATS_REPLICAS": "3", "SF_LOGIN_URL": h.proxy.URL(),
		"SF_CLIENT_ID": sfClientID, "SF_CLIENT_SECRET": sfClientSecret, "SYNC_POLICY": "strict", "SYNC_ADOPT_UNLINKED": "true",
		"METRICS_ADDR": fmt.Sprintf("127.0.0.1:%d", port), "LOG_LEVEL": h.cfg.LogLevel}
	for k, v := range extra {
		set[k] = v
	}
	return &proc{name: name, bin: filepath.Join(h.binDir, bin), logDir: h.logDir, env: workerEnv(h.cfg.WorkerEnv, set),
		healthz: fmt.Sprintf("http://127.0.0.1:%d/healthz", port)}, nil
}

// seed creates the pre-existing Contacts the conflicts and adoptions
// collide with, directly in the emulator (not through the proxy).
func (h *harness) seed(ctx context.Context) error {
	recs := make([]map[string]any, len(h.ds.Seeds))
	for i, s := range h.ds.Seeds {
		recs[i] = s.Fields
	}
	ids, err := h.sf.createContacts(ctx, recs)
	if err != nil {
		return err
	}
	h.seedIDs = map[string]string{}
	for i, id := range ids {
		h.seedIDs[id] = h.ds.Seeds[i].For
	}
	return nil
}

// checkTopology confirms the workers created R3 streams and buckets.
func (h *harness) checkTopology(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	names := []string{streamContacts, streamConflicts, streamDLQ, "KV_" + bucketState, "KV_" + bucketMembers}
	for _, name := range names {
		s, err := h.js.Stream(ctx, name)
		if err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			return fmt.Errorf("stream %s has %d replicas, want 3 (NATS_REPLICAS=3 was not applied)", name, r)
		}
	}
	return nil
}

// chaos runs the schedule (kills, restarts, publishing), then waits for
// quiescence.
func (h *harness) chaos(ctx context.Context) error {
	cfg := h.cfg
	events := h.schedule()
	var pubErr error
	pubDone := make(chan struct{})
	go func() { defer close(pubDone); pubErr = h.publishAll(ctx) }()
	monDone := make(chan struct{})
	mctx, stopMon := context.WithCancel(ctx)
	go func() { defer close(monDone); h.monitor(mctx) }()
	progDone := make(chan struct{})
	pctx, stopProg := context.WithCancel(ctx)
	go func() { defer close(progDone); h.progress(pctx) }()
	defer func() { stopProg(); <-progDone; stopMon(); <-monDone }()

	t0 := time.Now()
	for i, ev := range events {
		at := t0.Add(time.Duration(i+1) * cfg.ChaosInterval)
		select {
		case <-ctx.Done():
			return errors.New("interrupted")
		case <-time.After(time.Until(at)):
		}
		switch ev {
		case "upserter":
			h.killUpserter(ctx)
		case "node":
			h.killNode(ctx)
		case "reconciler":
			h.restartReconciler(ctx)
		}
	}
	<-pubDone
	if pubErr != nil {
		return pubErr
	}
	h.restarts.Wait()
	h.logf("chaos schedule done; waiting for quiescence (nothing pending, no write for %s)", cfg.Quiet)
	h.rep.Quiescent = h.waitQuiescent(ctx)
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	return nil
}

// schedule orders the chaos events: shuffled, and a NATS node kill is
// always followed by an upserter kill (its restart then meets a missing node).
func (h *harness) schedule() []string {
	var ev []string
	for range h.cfg.UpserterKills {
		ev = append(ev, "upserter")
	}
	for range h.cfg.NodeKills {
		ev = append(ev, "node")
	}
	for range h.cfg.ReconcilerRestarts {
		ev = append(ev, "reconciler")
	}
	h.rnd.Shuffle(len(ev), func(i, j int) { ev[i], ev[j] = ev[j], ev[i] })
	for i := 0; i+1 < len(ev); i++ {
		if ev[i] == "node" && ev[i+1] != "upserter" {
			for j := i + 2; j < len(ev); j++ {
				if ev[j] == "upserter" {
					ev[i+1], ev[j] = ev[j], ev[i+1]
					break
				}
			}
		}
	}
	return ev
}

func (h *harness) count(f func(r *Report)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(h.rep)
}

func (h *harness) killUpserter(ctx context.Context) {
	var alive []int
	for i, p := range h.ups {
		if p.running() {
			alive = append(alive, i)
		}
	}
	if len(alive) == 0 {
		h.logf("no upserter running to kill")
		return
	}
	i := alive[h.rnd.IntN(len(alive))]
	p := h.ups[i]
	pid := p.pid()
	p.kill()
	h.count(func(r *Report) { r.UpserterKills++ })
	kills := h.rep.UpserterKills
	member := fmt.Sprintf("upserter-%d", i)
	if h.cfg.MemberNames == "fresh" || h.cfg.MemberNames == "mixed" && kills%2 == 0 {
		member = fmt.Sprintf("upserter-%d-k%d", i, kills)
	}
	h.logf("SIGKILL %s (pid %d); restart in %s as SYNC_MEMBER=%s", p.name, pid, h.cfg.RestartDelay, member)
	h.restarts.Add(1)
	go func() {
		defer h.restarts.Done()
		if !h.sleep(ctx, h.cfg.RestartDelay) {
			return
		}
		p.mu.Lock()
		p.env = append(p.env, "SYNC_MEMBER="+member) // the last one wins
		p.mu.Unlock()
		h.restart(ctx, p, func(r *Report) { r.UpserterRestarts++ })
	}()
}

func (h *harness) killNode(ctx context.Context) {
	var target *natsNode
	what := "a random node"
	if h.cfg.NodeTarget == "leader" {
		leader := streamLeader(ctx, h.js, streamContacts)
		for _, n := range h.nodes {
			if n.name == leader && n.running() {
				target, what = n, "the CONTACTS stream leader"
			}
		}
	}
	if target == nil {
		var alive []*natsNode
		for _, n := range h.nodes {
			if n.running() {
				alive = append(alive, n)
			}
		}
		if len(alive) < 3 {
			h.logf("a NATS node is already down; not killing another")
			return
		}
		target = alive[h.rnd.IntN(len(alive))]
	}
	pid := target.pid()
	target.kill()
	h.count(func(r *Report) { r.NodeKills++ })
	h.logf("SIGKILL NATS node %s (pid %d, %s); restart in %s", target.name, pid, what, h.cfg.NodeDown)
	h.restarts.Add(1)
	go func() {
		defer h.restarts.Done()
		if !h.sleep(ctx, h.cfg.NodeDown) {
			return
		}
		h.restart(ctx, target.proc, func(r *Report) { r.NodeRestarts++ })
	}()
}

func (h *harness) restartReconciler(ctx context.Context) {
	pid := h.recon.pid()
	t := time.Now()
	if err := h.recon.stop(45 * time.Second); err != nil {
		h.logf("reconciler: %v", err)
	}
	h.logf("SIGTERM reconciler (pid %d): exited after %s; restarting", pid, time.Since(t).Round(10*time.Millisecond))
	h.restarts.Add(1)
	go func() {
		defer h.restarts.Done()
		h.restart(ctx, h.recon, func(r *Report) { r.ReconcilerRestarts++ })
	}()
}

// restart starts p again and logs when it is ready.
func (h *harness) restart(ctx context.Context, p *proc, count func(*Report)) {
	t := time.Now()
	if err := p.start(ctx); err != nil {
		h.logf("restart %s: %v", p.name, err)
		return
	}
	h.count(count)
	if err := p.waitReady(ctx, h.cfg.StartTimeout); err != nil {
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		killed := p.killed
		p.mu.Unlock()
		if killed {
			h.logf("restarted %s, killed again before it was ready", p.name)
		} else {
			h.logf("restarted %s but not ready: %v", p.name, err)
		}
		return
	}
	h.logf("restarted %s (pid %d): ready after %s", p.name, p.pid(), time.Since(t).Round(10*time.Millisecond))
}

func (h *harness) sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// monitor restarts workers that exit on their own, and records what they said.
func (h *harness) monitor(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-h.exits:
			last := lastLines(ev.logPath, 3)
			h.count(func(r *Report) {
				r.UnexpectedExits++
				if len(r.Workers) < 30 {
					r.Workers = append(r.Workers, fmt.Sprintf("%s (incarnation %d) exited: %v: %s", ev.p.name, ev.gen, ev.err, last))
				}
			})
			h.logf("%s exited on its own (%v); log %s: %s", ev.p.name, ev.err, ev.logPath, last)
			if ev.p == h.sim {
				h.logf("the emulator died: restarting it would lose its data; the checks will fail")
				continue
			}
			p := ev.p
			h.restarts.Add(1)
			go func() {
				defer h.restarts.Done()
				if !h.sleep(ctx, time.Second) {
					return
				}
				select {
				case <-h.ending:
					return
				default:
				}
				if p.running() {
					return
				}
				count := func(r *Report) {}
				if strings.HasPrefix(p.name, "upserter") {
					count = func(r *Report) { r.UpserterRestarts++ }
				} else if strings.HasPrefix(p.name, "nats-") {
					count = func(r *Report) { r.NodeRestarts++ }
				}
				h.restart(ctx, p, count)
			}()
		}
	}
}

// progress prints a status line every two seconds.
func (h *harness) progress(ctx context.Context) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		h.logf("%s", h.status(ctx))
	}
}

func (h *harness) status(ctx context.Context) string {
	up, nodes := 0, 0
	for _, p := range h.ups {
		if p.running() {
			up++
		}
	}
	for _, n := range h.nodes {
		if n.running() {
			nodes++
		}
	}
	pend, ack, _, err := pendingOf(ctx, h.js, streamContacts)
	cpend, cack, _, cerr := pendingOf(ctx, h.js, streamConflicts)
	writes, _ := h.rec.stats()
	ds := fmt.Sprintf("deltas pending %d (unacked %d)", pend, ack)
	if err != nil {
		ds = "deltas pending ? (" + shortErr(err) + ")"
	}
	cs := fmt.Sprintf("conflicts pending %d", cpend+cack)
	if cerr != nil {
		cs = "conflicts pending ?"
	}
	return fmt.Sprintf("%s, %s, record writes %d; up: upserters %d/%d, nats %d/3, reconciler %v",
		ds, cs, writes, up, len(h.ups), nodes, h.recon.running())
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

// waitQuiescent waits until every process is up, every consumer of
// CONTACTS and CONFLICTS has nothing pending or unacked, and no write has
// been seen for cfg.Quiet; false on --timeout.
func (h *harness) waitQuiescent(ctx context.Context) bool {
	deadline := h.start.Add(h.cfg.Timeout)
	for {
		if h.quiet(ctx) {
			h.logf("quiescent: %s", h.status(ctx))
			return true
		}
		if time.Now().After(deadline) {
			h.logf("not quiescent after --timeout %s: %s", h.cfg.Timeout, h.status(ctx))
			return false
		}
		if !h.sleep(ctx, 500*time.Millisecond) {
			return false
		}
	}
}

func (h *harness) quiet(ctx context.Context) bool {
	for _, p := range h.allProcs() {
		if !p.running() {
			return false
		}
	}
	_, last := h.rec.stats()
	if time.Since(last) < h.cfg.Quiet {
		return false
	}
	for _, s := range []string{streamContacts, streamConflicts} {
		p, a, n, err := pendingOf(ctx, h.js, s)
		if err != nil || p != 0 || a != 0 || n == 0 {
			return false
		}
	}
	_, last2 := h.rec.stats()
	return last2.Equal(last)
}

// publishAll publishes the chunks with the producer, one every ChunkEvery.
func (h *harness) publishAll(ctx context.Context) error {
	t0 := time.Now()
	for i, file := range h.chunks {
		at := t0.Add(time.Duration(i) * h.cfg.ChunkEvery)
		if !h.sleep(ctx, time.Until(at)) {
			return errors.New("interrupted")
		}
		if err := h.publish(ctx, i, file); err != nil {
			return err
		}
	}
	h.logf("published all %d chunks", len(h.chunks))
	return nil
}

// publish runs `producer publish` on one chunk until JetStream has stored
// all of it (re-running is safe: Nats-Msg-Id dedups), then checks that
// exactly the bad lines were refused.
func (h *harness) publish(ctx context.Context, i int, file string) error {
	env := workerEnv(h.cfg.WorkerEnv, map[string]string{"NATS_URL": h.natsURL, "NATS_REPLICAS": "3", "LOG_LEVEL": "warn"})
	for attempt := 1; ; attempt++ {
		logPath := filepath.Join(h.logDir, fmt.Sprintf("producer.%03d.%d.log", i, attempt))
		f, err := os.Create(logPath)
		if err != nil {
			return setupErr("producer log", err)
		}
		var stdout bytes.Buffer
		pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		cmd := exec.CommandContext(pctx, filepath.Join(h.binDir, "producer"), "publish", "--allow-rejects", "--json", file)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, &stdout, f
		cmd.SysProcAttr = procAttr()
		cmd.Cancel = func() error { return killGroup(cmd, syscall.SIGKILL) }
		cmd.WaitDelay = 5 * time.Second
		runErr := cmd.Run()
		cancel()
		f.Close()
		h.count(func(r *Report) { r.ProducerRuns++ })
		var sum struct{ Read, Rejected, Published, Duplicates, Failed int64 }
		jerr := json.Unmarshal(lastLine(stdout.Bytes()), &sum)
		if runErr == nil && jerr == nil && sum.Failed == 0 {
			got := rejectedLines(logPath)
			want := h.rejects[i]
			for ln := range want {
				if _, refused := got[ln]; !refused {
					h.count(func(r *Report) {
						r.violate("%s line %d: the producer accepted a row it must refuse", filepath.Base(file), ln)
					})
				}
			}
			for ln := range got {
				if !want[ln] {
					h.count(func(r *Report) {
						r.violate("%s line %d: the producer refused a valid row: %s", filepath.Base(file), ln, got[ln])
					})
				}
			}
			h.count(func(r *Report) { r.RejectedActual += int(sum.Rejected) })
			if attempt > 1 {
				h.logf("chunk %d stored after %d producer runs", i, attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return errors.New("interrupted")
		}
		if attempt == 1 || attempt%5 == 0 {
			h.logf("producer on chunk %d failed (run %d: %v, failed %d): %s; retrying", i, attempt, runErr, sum.Failed, lastLines(logPath, 2))
		}
		if attempt >= 30 {
			return setupErr("publish chunk "+strconv.Itoa(i), fmt.Errorf("producer failed %d times; last log %s", attempt, logPath))
		}
		if !h.sleep(ctx, time.Second) {
			return errors.New("interrupted")
		}
	}
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

// rejectedLines reads "FILE:LINE: rejected: reason" lines of a producer log.
func rejectedLines(logPath string) map[int]string {
	out := map[int]string{}
	data, err := os.ReadFile(logPath)
	if err != nil {
		return out
	}
	for _, l := range strings.Split(string(data), "\n") {
		head, reason, ok := strings.Cut(l, ": rejected: ")
		if !ok {
			continue
		}
		i := strings.LastIndexByte(head, ':')
		if i < 0 {
			continue
		}
		if n, err := strconv.Atoi(head[i+1:]); err == nil {
			out[n] = reason
		}
	}
	return out
}

// check reads Salesforce and the DLQ and runs every check.
func (h *harness) check(ctx context.Context) error {
	rep := h.rep
	if _, err := h.sf.admin(ctx, "PUT", "/__sfsim/faults", map[string]any{}); err != nil {
		return setupErr("heal emulator faults", err)
	}
	var st finalState
	st.SeedIDs = h.seedIDs
	rows, err := h.sf.query(ctx, "SELECT Id, External_Contact_ID__c, Description, Email FROM Contact")
	if err != nil {
		return setupErr("SOQL Contact", err)
	}
	for _, r := range rows {
		st.Contacts = append(st.Contacts, sfContact{ID: str(r["Id"]), ExtID: str(r[extIDField]), Description: str(r["Description"]), Email: str(r["Email"])})
	}
	rows, err = h.sf.query(ctx, "SELECT Id, Exception_Key__c, Kind__c, Incoming_External_Id__c, Existing_External_Id__c FROM Contact_Sync_Exception__c")
	if err != nil {
		return setupErr("SOQL Contact_Sync_Exception__c", err)
	}
	for _, r := range rows {
		st.Exceptions = append(st.Exceptions, sfException{Key: str(r["Exception_Key__c"]), Kind: str(r["Kind__c"]),
			Incoming: str(r["Incoming_External_Id__c"]), Existing: str(r["Existing_External_Id__c"])})
	}
	if st.DLQ, err = h.readDLQ(ctx); err != nil {
		return setupErr("read DLQ", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := h.js.Stream(sctx, streamContacts)
	if err != nil {
		return setupErr("CONTACTS info", err)
	}
	rep.StreamMessages = int(s.CachedInfo().State.Msgs)

	writes, _ := h.rec.snapshot()
	h.rec.mu.Lock()
	rep.UnparsedWrites = len(h.rec.unparsed)
	for _, u := range h.rec.unparsed {
		rep.example("unparsed write: %s", u)
	}
	rep.ExceptionWrites = h.rec.excWrites
	for route, n := range h.rec.requests {
		if strings.Contains(route, "collection") || route == "upsert" || route == "update" || route == "create" || route == "composite" {
			rep.WriteRequests += n
		}
	}
	h.rec.mu.Unlock()

	idKey := map[string]string{}
	for id, key := range h.seedIDs {
		idKey[id] = key
	}
	for _, c := range st.Contacts {
		if c.ExtID != "" {
			idKey[c.ID] = fold(c.ExtID)
		}
	}
	for _, w := range writes {
		if w.Success && w.ID != "" && w.ExtID != "" {
			idKey[w.ID] = fold(w.ExtID)
		}
	}
	checkWrites(rep, h.ds, writes, idKey)
	checkFinal(rep, h.ds, st, writes)
	checkDLQ(rep, h.ds, st.DLQ)
	checkExceptions(rep, h.ds, st.Exceptions)
	judge(rep)
	return nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// readDLQ reads every message of the DLQ stream by sequence.
func (h *harness) readDLQ(ctx context.Context) ([]dlqEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	s, err := h.js.Stream(ctx, streamDLQ)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []dlqEntry
	if info.State.Msgs == 0 {
		return nil, nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("DLQ seq %d: %w", seq, err)
		}
		e := dlqEntry{Seq: seq, Code: m.Header.Get(headerErrorCode)}
		var d struct {
			Schema     string `json:"schema"`
			ExternalID string `json:"external_id"`
			Version    int64  `json:"version"`
		}
		if json.Unmarshal(m.Data, &d) == nil && d.Schema == "contact.delta/v1" {
			e.Delta, e.ExtID, e.Version = true, d.ExternalID, d.Version
		} else {
			e.ExtID = m.Header.Get(headerExtID)
		}
		out = append(out, e)
	}
	return out, nil
}
