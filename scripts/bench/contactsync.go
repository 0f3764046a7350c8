package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/upsert"
)

// runContactsync runs the whole pipeline in process (embedded JetStream,
// embedded emulator with latencyMS injected per request, 4 upserters, the
// reconciler) on n generated contacts with one delta each. Throughput is
// published deltas over the run's whole duration, setup included.
func runContactsync(ctx context.Context, o Options, n, latencyMS int) (Row, error) {
	return runContactsyncModel(ctx, o, n, latencyMS, 0)
}

// runContactsyncModel is runContactsync with perRecordMS added per record
// written (the emulator's per-record latency model).
func runContactsyncModel(ctx context.Context, o Options, n, latencyMS, perRecordMS int) (Row, error) {
	lat := &upsert.Latencies{}
	heap := sampleHeap()
	cpu0 := processCPU()
	sum, err := pipeline.Run(ctx, pipeline.Config{
		Upserters: 4,
		Synth:     cleanSynth(n),
		Sim:       sfsim.Config{Faults: sfsim.Faults{LatencyMS: latencyMS, LatencyPerRecordMS: perRecordMS}},
		Latencies: lat,
		Timeout:   15 * time.Minute,
		Progress:  prefixWriter{o.Progress, "  "},
	})
	cpu := processCPU() - cpu0
	peak := heap.stop()
	if err != nil {
		return Row{}, err
	}
	if len(sum.Gaps) > 0 {
		return Row{}, fmt.Errorf("run did not account for every delta: %s", strings.Join(sum.Gaps, "; "))
	}
	if sum.Published == 0 || sum.DurationMS == 0 {
		return Row{}, fmt.Errorf("nothing published (read %d, rejected %d)", sum.Read, sum.Rejected)
	}
	secs := float64(sum.DurationMS) / 1000
	name := fmt.Sprintf("%d. contactsync end to end, %d ms latency", map[int]int{0: 2, 150: 3}[latencyMS], latencyMS)
	if perRecordMS > 0 {
		name = fmt.Sprintf("3b. contactsync end to end, %d ms + %d ms per record", latencyMS, perRecordMS)
	}
	return Row{
		Scenario: name,
		Contacts: sum.Published, Rate: float64(sum.Published) / secs, Sustained: sustained(lat.Times()),
		Calls: sum.APICalls, CallsPer1k: 1000 * float64(sum.APICalls) / float64(sum.Published),
		Latency: true, P50: lat.Percentile(0.5), P99: lat.Percentile(0.99), PeakHeap: peak,
		Note: fmt.Sprintf("pipeline.Run, 4 upserters, 16 partitions; process CPU %.3f s per 1,000 deltas (JetStream, emulator and producer included); %d API calls (upserts: %s); created %d, updated %d, stale %d, held %d, dlq %d; wall clock incl. setup %.1f s",
			1000*cpu.Seconds()/float64(sum.Published), sum.APICalls, callReasons(sum.UpsertCalls), sum.Created, sum.Updated, sum.StaleSkipped, sum.Held, sum.DeadLettered, secs),
	}, nil
}

// percentiles returns the 50th and 99th percentiles of ds.
func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(0.5*float64(len(s)-1))], s[int(0.99*float64(len(s)-1))]
}

// prefixWriter indents the pipeline's progress lines under the bench's own.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if p.w == nil {
		return len(b), nil
	}
	if _, err := io.WriteString(p.w, p.prefix); err != nil {
		return 0, err
	}
	return p.w.Write(b)
}

// sustained is the rate of writes between the 10th and the 90th percentile
// of their times: the throughput a long run settles at, without the start
// (setup, leases, the first fetches) and the end (the last partial calls
// wait out SYNC_MAX_DELAY, which is freshness, not throughput) that a
// 100,000-contact run cannot amortise. The ceiling is measured the same way.
func sustained(times []time.Time) float64 {
	if len(times) < 10 {
		return 0
	}
	lo, hi := len(times)/10, len(times)*9/10
	d := times[hi].Sub(times[lo]).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(hi-lo) / d
}

// processCPU is the user and system CPU time this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
