package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one supervised child process (all its incarnations). Each
// incarnation runs in its own process group, so a kill takes its children
// too, and writes stdout and stderr to logs/<name>.<n>.log.
type proc struct {
	name    string
	bin     string
	args    []string
	env     []string
	logDir  string
	healthz string           // URL that answers 200 once the process is ready; "" = none
	exits   chan<- exitEvent // where exits nobody asked for are reported; nil = nowhere

	mu       sync.Mutex
	cmd      *exec.Cmd
	gen      int
	done     chan struct{} // closed when the current incarnation has exited
	killed   bool          // the current incarnation's exit was asked for
	exitErr  error
	logPath  string
	logPaths []string
}

// exitEvent reports an incarnation that ended without being asked to.
type exitEvent struct {
	p       *proc
	gen     int
	err     error
	logPath string
}

func (p *proc) start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !isClosed(p.done) {
		return fmt.Errorf("%s is already running", p.name)
	}
	p.gen++
	p.logPath = filepath.Join(p.logDir, fmt.Sprintf("%s.%d.log", p.name, p.gen))
	p.logPaths = append(p.logPaths, p.logPath)
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, p.bin, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = procAttr()
	cmd.Cancel = func() error { return killGroup(cmd, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.killed, p.exitErr = cmd, done, false, nil
	gen, logPath := p.gen, p.logPath
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.exitErr = err
		killed, exits := p.killed, p.exits
		p.mu.Unlock()
		close(done)
		if !killed && exits != nil && ctx.Err() == nil {
			select {
			case exits <- exitEvent{p: p, gen: gen, err: err, logPath: logPath}:
			default:
			}
		}
	}()
	return nil
}

func isClosed(c chan struct{}) bool {
	if c == nil {
		return true
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// running reports whether the current incarnation is alive.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !isClosed(p.done)
}

func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

func (p *proc) doneChan() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// signal sends sig to the current incarnation's process group and marks its
// exit as expected. It returns the channel closed on exit.
func (p *proc) signal(sig syscall.Signal) (chan struct{}, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || isClosed(p.done) {
		return p.done, errors.New(p.name + " is not running")
	}
	p.killed = true
	return p.done, killGroup(p.cmd, sig)
}

// kill SIGKILLs the process group and waits for the exit.
func (p *proc) kill() {
	done, err := p.signal(syscall.SIGKILL)
	if err == nil {
		<-done
	}
}

// stop sends SIGTERM and waits up to grace, then SIGKILLs.
func (p *proc) stop(grace time.Duration) error {
	done, err := p.signal(syscall.SIGTERM)
	if err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-time.After(grace):
		p.kill()
		return fmt.Errorf("%s ignored SIGTERM for %s; killed", p.name, grace)
	}
}

func killGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	if cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// waitReady waits until the process's health URL answers 200, failing early
// when the process exits.
func (p *proc) waitReady(parent context.Context, timeout time.Duration) error {
	if p.healthz == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	done := p.doneChan()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.healthz, nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited before it was ready (%s): %s", p.name, p.logPath, lastLines(p.logPath, 5))
		case <-parent.Done():
			return errors.New("interrupted")
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s (%s; log %s): %s", p.name, timeout, p.healthz, p.logPath, lastLines(p.logPath, 5))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lastLines returns the last n lines of a log file, joined by " | ".
func lastLines(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			lines = append(lines, t)
			if len(lines) > n {
				lines = lines[1:]
			}
		}
	}
	return strings.Join(lines, " | ")
}

// freePort asks the kernel for a free TCP port on loopback.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ownedEnv are variables the harness decides for every worker (the topology,
// the org and the policy the checks assume); the rest of its environment
// (SYNC_ACK_WAIT, SF_MAX_CONCURRENCY, …) reaches the workers unchanged.
var ownedEnv = map[string]bool{
	"NATS_URL": true, "NATS_REPLICAS": true, "NATS_PARTITIONS": true,
	"SF_LOGIN_URL": true, "SF_AUTH": true, "SF_CLIENT_ID": true, "SF_CLIENT_SECRET": true, "SF_USERNAME": true,
	"SF_PRIVATE_KEY_FILE": true, "SF_AUDIENCE": true, "SF_EXTERNAL_ID_FIELD": true,
	"SYNC_MEMBER": true, "SYNC_ADOPT_UNLINKED": true, "SYNC_OBJECT": true, "METRICS_ADDR": true, "LOG_LEVEL": true,
	"INGEST_TOKEN": true, "INGEST_ADDR": true, "RECONCILER_DURABLE": true, "RECONCILER_OBJECT": true, "RECONCILER_KEY_FIELD": true,
}

// workerEnv is the harness's environment without the variables it sets
// itself, plus extra (KEY=VALUE), plus set.
func workerEnv(extra []string, set map[string]string) []string {
	drop := func(k string) bool {
		if strings.HasPrefix(k, "SYNC_POLICY") || strings.HasPrefix(k, "SFSIM_") || ownedEnv[k] {
			return true
		}
		_, ours := set[k]
		return ours
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop(k) {
			env = append(env, kv)
		}
	}
	env = append(env, extra...)
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return env
}
