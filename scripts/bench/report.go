package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

// Row is one throughput scenario.
type Row struct {
	Scenario   string
	Contacts   int64
	Rate       float64 // contacts/s over the whole run
	Sustained  float64 // contacts/s between 10% and 90% of the writes (see sustained); 0 = not measured
	Calls      int64   // Salesforce API calls; -1 = not applicable
	CallsPer1k float64
	Latency    bool // P50/P99 are meaningful
	P50, P99   time.Duration
	PeakHeap   uint64 // max sampled runtime.MemStats.HeapInuse
	Note       string
}

// Target is one figure checked against the target.
type Target struct {
	Name, Figure, Target string
	Met                  bool
}

// ConflictRow is the API cost of one conflict batch.
type ConflictRow struct {
	Policy     string
	Segments   string // "1 segment" | "3 segments"
	Deltas     int
	Conflicts  int
	Batches    int64
	Upserts    int64  // the collections upsert(s) of the batch
	Beyond     int64  // upserter calls beyond the one upsert
	Reconciler int64  // calls by the reconciler writing the exceptions
	Outcomes   string // summary counts
	Calls      string // by route
}

// MemoryRow is one backlog size of the memory scenario.
type MemoryRow struct {
	Pending   int
	Processed int64
	IdleHeap  uint64 // HeapInuse after GC, before the upserter started
	PeakHeap  uint64
	Rate      float64
	Publish   time.Duration
}

// Report is everything one invocation measured.
type Report struct {
	Machine               string
	LoadBefore, LoadAfter string // 1-minute load average
	Date                  string
	Quick                 bool
	CPUHog                int     // busy-loop goroutines in a separate process during the run
	HogCPUSeconds         float64 // CPU time the hog used
	Rows                  []Row
	Targets               []Target
	Memory                []MemoryRow
	Conflicts             []ConflictRow
	Steady                []SteadyRow
	Fleet                 []FleetRow
	Elapsed               time.Duration
}

func (r *Report) add(row Row) *Row {
	r.Rows = append(r.Rows, row)
	return &r.Rows[len(r.Rows)-1]
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	mode := "full"
	if r.Quick {
		mode = "quick"
	}
	fmt.Fprintf(&b, "### contactsync benchmark (%s run)\n\n%s · %s · took %s · load average %s before, %s after\n\n",
		mode, r.Date, r.Machine, r.Elapsed.Round(time.Second), r.LoadBefore, r.LoadAfter)
	if r.CPUHog > 0 {
		fmt.Fprintf(&b, "**Loaded machine:** `--cpu-hog %d`: %d busy-loop goroutines in a separate process ran beside the whole run (%.0f CPU s, %.0f%% of the run's wall time × cores); the load average above includes it.\n\n",
			r.CPUHog, r.CPUHog, r.HogCPUSeconds, 100*r.HogCPUSeconds/max(r.Elapsed.Seconds()*float64(runtime.NumCPU()), 0.001))
	}
	if len(r.Rows) > 0 {
		b.WriteString("| scenario | contacts | contacts/s, whole run | contacts/s, sustained | API calls / 1,000 | p50 publish→write | p99 publish→write | peak heap | notes |\n")
		b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|---|\n")
		for _, x := range r.Rows {
			calls, p50, p99, sus := "—", "—", "—", "—"
			if x.Sustained > 0 {
				sus = rate(x.Sustained)
			}
			if x.Calls >= 0 {
				calls = fmt.Sprintf("%.2f", x.CallsPer1k)
			}
			if x.Latency {
				p50, p99 = ms(x.P50), ms(x.P99)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", x.Scenario, thousands(x.Contacts),
				rate(x.Rate), sus, calls, p50, p99, mib(x.PeakHeap), x.Note)
		}
		b.WriteString("\ncontacts/s, whole run: ceiling = first publish to last ack; contactsync = published deltas over pipeline.Run's whole duration " +
			"(setup, publishing and draining included, and the last partial calls waiting out SYNC_MAX_DELAY); baselines = first to last write. " +
			"Sustained: writes (ceiling: acks) between the 10th and 90th percentile of their times, per second — the rate a long run settles at; " +
			"the throughput targets compare sustained rates. Latency: JetStream stored time to the " +
			"Salesforce write (ceiling: to the ack); with the whole input published at once it is mostly time spent queued. " +
			"Peak heap: max `HeapInuse` of the bench process sampled every 50 ms, so it includes the embedded NATS server, " +
			"the emulator's records and the generated input.\n\n")
	}
	if len(r.Targets) > 0 {
		b.WriteString("| target | measured | wanted | met |\n|---|---|---|---|\n")
		for _, t := range r.Targets {
			met := "**no**"
			if t.Met {
				met = "yes"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.Name, t.Figure, t.Target, met)
		}
		b.WriteString("\n")
	}
	if len(r.Memory) > 0 {
		b.WriteString("The JetStream server and the emulator run in a child process; the child keeps the upserter's pending count (unprocessed + unacked) at the backlog size, topping up every 50 ms. Heap = `runtime.MemStats.HeapInuse` of the upserter's process, sampled every 50 ms.\n\n")
		b.WriteString("| pending deltas | processed while sampled | heap before start | peak upserter heap | deltas/s | backlog publish time |\n|--:|--:|--:|--:|--:|--:|\n")
		for _, m := range r.Memory {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", thousands(int64(m.Pending)), thousands(m.Processed),
				mib(m.IdleHeap), mib(m.PeakHeap), rate(m.Rate), m.Publish.Round(time.Millisecond))
		}
		b.WriteString("\n")
	}
	if len(r.Conflicts) > 0 {
		b.WriteString("| policy | segments in the batch | deltas / conflicts | batches | upsert calls | upserter calls beyond the upsert | reconciler calls | outcomes | calls by route (upserter + reconciler) |\n|---|---|--:|--:|--:|--:|--:|---|---|\n")
		for _, c := range r.Conflicts {
			fmt.Fprintf(&b, "| %s | %s | %d / %d | %d | %d | %d | %d | %s | %s |\n", c.Policy, c.Segments, c.Deltas, c.Conflicts,
				c.Batches, c.Upserts, c.Beyond, c.Reconciler, c.Outcomes, c.Calls)
		}
		b.WriteString("\n")
	}
	var inProc, procs []SteadyRow
	for _, s := range r.Steady {
		if s.Processes {
			procs = append(procs, s)
		} else {
			inProc = append(inProc, s)
		}
	}
	if len(inProc) > 0 {
		b.WriteString("| arrival rate | SYNC_MAX_DELAY | deltas | Contact upsert calls | per 1,000 deltas | p50 / p99 publish → write | a 100,000/day allocation lasts |\n|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, s := range inProc {
			fmt.Fprintf(&b, "| %d/s | %v | %s | %d | %.1f | %s / %s | %s |\n", s.Rate, s.MaxDelay, thousands(int64(s.Deltas)), s.Calls, s.Per1k, ms(s.P50), ms(s.P99), s.lasts())
		}
		b.WriteString("\n")
	}
	if len(procs) > 0 {
		b.WriteString("Steady arrival against the fleet as deployed (scenario steady-fleet): 2 workers/upserter processes, each delta POSTed alone to a producer serve process, JetStream and the emulator in a third process.\n\n")
		b.WriteString("| arrival rate (processes) | SYNC_MAX_DELAY | deltas | Contact upsert calls | per 1,000 deltas | p50 / p99 POST → write | p99 by fifth of the sending time | a 100,000/day allocation lasts | upserter CPU s | CPU s per 1,000 deltas | calls by why they went out |\n|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
		for _, s := range procs {
			var fifths []string
			for _, f := range s.P99Fifths {
				fifths = append(fifths, ms(f))
			}
			fmt.Fprintf(&b, "| %d/s | %v | %s | %d | %.1f | %s / %s | %s | %s | %.2f | %.3f | %s |\n", s.Rate, s.MaxDelay, thousands(int64(s.Deltas)), s.Calls, s.Per1k,
				ms(s.P50), ms(s.P99), strings.Join(fifths, " · "), s.lasts(), s.CPUSeconds, s.CPUPer1k, s.Reasons)
		}
		b.WriteString("\nPOST → write: from the POST being sent to the emulator answering the Contact upsert that carried the delta's version or a newer one " +
			"(deltas sent after a newer version of their contact are skipped as stale and left out). CPU: user + system time of the upserter processes " +
			"(/proc) from a rate's first POST to its last delta settled.\n\n")
	}
	if len(r.Fleet) > 0 {
		b.WriteString("| upserter processes | Salesforce latency | contacts | deltas (older versions) | Contact upsert calls | per 1,000 deltas | deltas/s, whole run | deltas/s, sustained | upserter CPU s | CPU s per 1,000 deltas | calls by why they went out |\n|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
		for _, f := range r.Fleet {
			fmt.Fprintf(&b, "| %d | %d ms | %s | %s (%s) | %d | %.2f | %s | %s | %.1f | %.3f | %s |\n", f.Upserters, f.LatencyMS, thousands(int64(f.Contacts)),
				thousands(int64(f.Deltas)), thousands(int64(f.Older)), f.Calls, f.Per1k, rate(f.Whole), rate(f.Sustained), f.CPUSeconds, f.CPUPer1k, f.Reasons)
		}
		b.WriteString("\nThe workers/upserter binary run as a user deploys it (environment only), two processes, JetStream and the emulator in a third; " +
			"CPU = user + system time of the upserter processes from start to the end of their SIGTERM shutdown; whole run = their start to the last delta settled.\n\n")
	}
	return b.String()
}

// lasts is how long a 100,000-call daily allocation lasts at this row's
// rate and cost.
func (s SteadyRow) lasts() string {
	if s.Per1k <= 0 {
		return "—"
	}
	perHour := float64(s.Rate) * 3600 * s.Per1k / 1000
	return fmt.Sprintf("%.1f h", 100000/perHour)
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
}

func mib(n uint64) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func rate(r float64) string {
	if r >= 100 {
		return thousands(int64(r + 0.5))
	}
	return fmt.Sprintf("%.1f", r)
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
