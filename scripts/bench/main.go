// Command bench measures contactsync against its targets (issue 4,
// "Measure") in one invocation on one machine, and prints the results as
// markdown tables:
//
//   - the ceiling: raw JetStream publish → consume → ack, no Salesforce;
//   - contactsync end to end (pipeline.Run) against the emulator at 0 ms
//     and 150 ms injected latency, and API calls per 1,000 contacts at
//     100,000 contacts;
//   - the baselines a user would write: one PATCH per contact, and
//     Composite with 25 subrequests per call, at the same concurrency;
//   - upserter memory with 1,000,000 versus 10,000 pending deltas (the
//     JetStream server and the emulator run in a child process, so only the
//     upserter's heap is measured);
//   - the API cost of a batch of 200 deltas with 50 duplicate-rule
//     conflicts, per SYNC_POLICY (issue 5);
//   - steady arrival rates (20, 200, 2,000 deltas/s) against upserters in
//     this process (steady) and against workers/upserter processes fed one
//     delta per POST through a producer serve process (steady-fleet), and
//     the fleet draining a backlog (fleet), issue 9.
//
// Usage:
//
//	go run ./scripts/bench                  # full run, ~3 min on 2 cores
//	go run ./scripts/bench --quick          # small sizes, < 30 s
//	go run ./scripts/bench --out results.md # also write the tables to a file
//	go run ./scripts/bench --only contactsync,fleet --cpu-hog 2 # beside a CPU hog
//
// Progress goes to stderr, the tables to stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
)

func main() {
	var o Options
	var only, out string
	flag.BoolVar(&o.Quick, "quick", false, "small sizes, so the whole run takes under a minute")
	flag.IntVar(&o.Contacts, "contacts", 0, "contacts for the ceiling and contactsync runs (default 100000; 5000 with --quick)")
	flag.IntVar(&o.Runs, "runs", 0, "repetitions of the ceiling and contactsync runs; the median is reported (default 3; 1 with --quick)")
	flag.StringVar(&out, "out", "", "also write the tables to this file")
	flag.BoolVar(&o.SkipMemory, "skip-memory", false, "skip the memory-flatness scenario (it publishes 1,000,000 deltas)")
	flag.StringVar(&only, "only", "", "comma-separated scenarios to run: "+strings.Join(allScenarios, ","))
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	memprofile := flag.String("memprofile", "", "write a heap profile at the end of the run to this file (go tool pprof -sample_index=alloc_space: where the run allocated)")
	flag.IntVar(&o.CPUHog, "cpu-hog", 0, "run N busy-loop goroutines in a separate process for the whole run, to measure on a loaded machine (stated in the report header)")
	if code, ok := runAsChild(); ok { // a re-executed child: JetStream + emulator, or the CPU hog
		os.Exit(code)
	}
	flag.Parse()
	if o.CPUHog < 0 {
		fmt.Fprintln(os.Stderr, "bench: --cpu-hog: want N ≥ 0 busy-loop goroutines")
		os.Exit(2)
	}
	if only != "" {
		o.Only = strings.Split(only, ",")
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: --cpuprofile:", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench: --cpuprofile:", err)
			os.Exit(2)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *memprofile != "" {
		defer writeHeapProfile(*memprofile)
	}
	if err := run(ctx, o, out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(ctx context.Context, o Options, out string) error {
	o.Progress = os.Stderr
	rep, err := Run(ctx, o)
	if err != nil {
		return err
	}
	md := rep.Markdown()
	fmt.Print(md)
	if out != "" {
		if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	return nil
}

// writeHeapProfile writes the heap profile, whose alloc_space and
// alloc_objects samples cover everything the run allocated.
func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: --memprofile:", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, "bench: --memprofile:", err)
	}
}
