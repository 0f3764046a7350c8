package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// childEnv, when set, makes this binary (or the test binary, see TestMain)
// one of the bench's child processes instead of the bench: "serve DIR" (a
// JetStream server storing in DIR and an emulator, see serveChild) or
// "hog N" (N busy loops, see hogChild). Children exit when stdin closes.
const childEnv = "CONTACTSYNC_BENCH_CHILD"

// runAsChild runs the child role named by childEnv, if any, and returns the
// exit code; ok is false when this process is not a child.
func runAsChild() (code int, ok bool) {
	role := os.Getenv(childEnv)
	if role == "" {
		return 0, false
	}
	kind, arg, _ := strings.Cut(role, " ")
	var err error
	switch kind {
	case "serve":
		err = serveChild(arg, os.Stdin, os.Stdout)
	case "hog":
		n, aerr := strconv.Atoi(arg)
		if aerr != nil || n < 1 {
			err = fmt.Errorf("%s=%q: want \"hog N\" with N ≥ 1", childEnv, role)
			break
		}
		err = hogChild(n, os.Stdin)
	default:
		err = fmt.Errorf("%s=%q: unknown role (want \"serve DIR\" or \"hog N\")", childEnv, role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench child:", err)
		return 1, true
	}
	return 0, true
}

// childCommand re-executes this binary in role (see childEnv).
func childCommand(ctx context.Context, role string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childEnv+"="+role)
	cmd.Stderr = os.Stderr
	return cmd, nil
}

// hogChild spins n goroutines in tight loops (GOMAXPROCS at least n) until
// in closes: another program competing for the CPU, outside the measured
// processes.
func hogChild(n int, in io.Reader) error {
	if runtime.GOMAXPROCS(0) < n {
		runtime.GOMAXPROCS(n)
	}
	var stop atomic.Bool
	for range n {
		go func() {
			x := uint64(1)
			for !stop.Load() {
				for range 1 << 16 {
					x = x*6364136223846793005 + 1442695040888963407
				}
			}
			_ = x
		}()
	}
	_, err := io.Copy(io.Discard, in)
	stop.Store(true)
	return err
}

// cpuHog is a running hog child.
type cpuHog struct {
	n     int
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func startHog(ctx context.Context, n int) (*cpuHog, error) {
	cmd, err := childCommand(ctx, fmt.Sprintf("hog %d", n))
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("--cpu-hog: %w", err)
	}
	return &cpuHog{n: n, cmd: cmd, stdin: stdin}, nil
}

// stop ends the hog and returns the CPU seconds it used.
func (h *cpuHog) stop() float64 {
	h.stdin.Close()
	done := make(chan struct{})
	go func() { _ = h.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = h.cmd.Process.Kill()
		<-done
	}
	if h.cmd.ProcessState == nil {
		return 0
	}
	return (h.cmd.ProcessState.UserTime() + h.cmd.ProcessState.SystemTime()).Seconds()
}
