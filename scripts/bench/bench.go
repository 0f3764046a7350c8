package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/synth"
	"github.com/contactsync/contactsync/pkg/upsert"
)

// The scenarios --only can pick.
const (
	scCeiling     = "ceiling"      // 1
	scContactsync = "contactsync"  // 2, 3, 6
	scBaseline    = "baseline"     // 4, 5
	scMemory      = "memory"       // 7
	scConflicts   = "conflicts"    // 8
	scSteady      = "steady"       // 9
	scFleet       = "fleet"        // 10
	scSteadyFleet = "steady-fleet" // 11
)

// allScenarios are those a run without --only runs, in order.
var allScenarios = []string{scCeiling, scContactsync, scBaseline, scMemory, scConflicts, scSteady, scFleet, scSteadyFleet}

// Options select and size the scenarios. Zero values take the defaults.
type Options struct {
	Quick      bool
	Contacts   int      // ceiling and contactsync runs; default 100,000 (5,000 quick)
	SkipMemory bool     // skip scenario 7
	Runs       int      // repetitions of scenarios 1-3, median reported; default 3 (1 quick)
	Only       []string // scenario names; empty = all
	CPUHog     int      // busy-loop goroutines in a separate process for the whole run; 0 = none
	Progress   io.Writer
}

// sizes are the per-scenario sizes that follow from Options.
type sizes struct {
	contacts           int // ceiling, contactsync@0, contactsync@150
	callsContacts      int // API calls per 1,000 (target at 100,000)
	patch150, patch0   int // one PATCH per contact
	comp150, comp0     int // Composite 25
	memSmall, memLarge int // pending deltas
	memProcess         int // deltas the upserter processes while sampled
}

func (o Options) sizes() sizes {
	if o.Quick {
		s := sizes{contacts: 5000, callsContacts: 5000, patch150: 300, patch0: 1000, comp150: 2000, comp0: 2000,
			memSmall: 2000, memLarge: 50000, memProcess: 5000}
		if o.Contacts > 0 {
			s.contacts, s.callsContacts = o.Contacts, o.Contacts
		}
		return s
	}
	s := sizes{contacts: 100000, callsContacts: 100000, patch150: 2000, patch0: 5000, comp150: 10000, comp0: 10000,
		memSmall: 10000, memLarge: 1000000, memProcess: 50000}
	if o.Contacts > 0 {
		s.contacts = o.Contacts
	}
	return s
}

func (o Options) want(sc string) bool {
	if sc == scMemory && o.SkipMemory {
		return false
	}
	return len(o.Only) == 0 || slices.Contains(o.Only, sc)
}

func (o Options) logf(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "bench: "+format+"\n", args...)
	}
}

// Run runs the selected scenarios and returns their results.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	for _, sc := range o.Only {
		if !slices.Contains(allScenarios, sc) {
			return nil, fmt.Errorf("--only: unknown scenario %q (want %s)", sc, strings.Join(allScenarios, ", "))
		}
	}
	sz := o.sizes()
	rep := &Report{Machine: machine(), LoadBefore: loadavg(), Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), Quick: o.Quick, CPUHog: o.CPUHog}
	if o.CPUHog > 0 {
		o.logf("--cpu-hog: %d busy-loop goroutines in a separate process for the whole run", o.CPUHog)
		hog, err := startHog(ctx, o.CPUHog)
		if err != nil {
			return nil, err
		}
		defer func() { rep.HogCPUSeconds = hog.stop() }()
	}
	start := time.Now()

	if o.Runs <= 0 {
		o.Runs = 3
		if o.Quick {
			o.Runs = 1
		}
	}
	// Scenarios 1-3 run interleaved (ceiling, 0 ms, 150 ms, then again), so
	// each 0 ms run is compared with the ceiling measured next to it: the
	// ratio then holds up when the box's load changes during the bench.
	var ceilRuns, cs0Runs, cs150Runs []Row
	for i := range o.Runs {
		of := fmt.Sprintf(" (run %d of %d)", i+1, o.Runs)
		if o.want(scCeiling) {
			o.logf("1/11 ceiling: raw JetStream publish → consume → ack, %s contacts%s", thousands(int64(sz.contacts)), of)
			r, err := runCeiling(ctx, o, sz.contacts)
			if err != nil {
				return nil, fmt.Errorf("ceiling: %w", err)
			}
			o.logf("  %s contacts/s", rate(r.Rate))
			ceilRuns = append(ceilRuns, r)
		}
		if o.want(scContactsync) {
			for _, l := range []int{0, 150} {
				o.logf("%d/11 contactsync end to end at %d ms, %s contacts%s", map[int]int{0: 2, 150: 3}[l], l, thousands(int64(sz.contacts)), of)
				r, err := runContactsync(ctx, o, sz.contacts, l)
				if err != nil {
					return nil, fmt.Errorf("contactsync@%dms: %w", l, err)
				}
				o.logf("  %s contacts/s", rate(r.Rate))
				if l == 0 {
					cs0Runs = append(cs0Runs, r)
				} else {
					cs150Runs = append(cs150Runs, r)
				}
			}
		}
	}
	var ceiling, cs0, cs150, patch150 *Row
	if len(ceilRuns) > 0 {
		ceiling = rep.add(median(ceilRuns))
	}
	if len(cs0Runs) > 0 {
		cs0 = rep.add(median(cs0Runs))
		cs150 = rep.add(median(cs150Runs))
	}
	if o.want(scBaseline) {
		for _, b := range []struct {
			kind    string
			latency int
			n       int
		}{{kindPatch, 150, sz.patch150}, {kindPatch, 0, sz.patch0}, {kindComposite, 150, sz.comp150}, {kindComposite, 0, sz.comp0}} {
			o.logf("4-5/11 baseline %s at %d ms, %d contacts", b.kind, b.latency, b.n)
			r, err := runBaseline(ctx, o, b.kind, b.n, b.latency)
			if err != nil {
				return nil, fmt.Errorf("baseline %s@%dms: %w", b.kind, b.latency, err)
			}
			row := rep.add(r)
			if b.kind == kindPatch && b.latency == 150 {
				patch150 = row
			}
		}
	}

	// Throughput targets (issue 9) compare sustained rates, each contactsync
	// run against the ceiling measured next to it.
	if ceiling != nil && cs0 != nil {
		var ratios []float64
		var each []string
		for i := range ceilRuns {
			r := cs0Runs[i].Sustained / ceilRuns[i].Sustained
			ratios = append(ratios, r)
			each = append(each, fmt.Sprintf("%.1f%%", 100*r))
		}
		slices.Sort(ratios)
		ratio := ratios[len(ratios)/2]
		fig := fmt.Sprintf("%.1f%%", 100*ratio)
		if len(ratios) > 1 {
			fig += fmt.Sprintf(" (median of the runs' ratios %s)", strings.Join(each, ", "))
		} else {
			fig += fmt.Sprintf(" (%.0f / %.0f contacts/s)", cs0.Sustained, ceiling.Sustained)
		}
		rep.Targets = append(rep.Targets, Target{Name: "contactsync@0ms / raw JetStream ceiling, sustained", Figure: fig, Target: "≥ 40%", Met: ratio >= 0.40})
	}
	if cs150 != nil && patch150 != nil {
		ratio := cs150.Sustained / patch150.Rate
		rep.Targets = append(rep.Targets, Target{Name: "contactsync@150ms sustained / one-PATCH@150ms",
			Figure: fmt.Sprintf("%.1f× (%.0f / %.1f contacts/s; ceiling 200×)", ratio, cs150.Sustained, patch150.Rate), Target: "≥ 100×", Met: ratio >= 100})
	}
	if cs150 != nil {
		rep.Targets = append(rep.Targets, Target{Name: fmt.Sprintf("API calls per 1,000 contacts at %s contacts, 150 ms", thousands(cs150.Contacts)),
			Figure: fmt.Sprintf("%.2f (%d calls)", cs150.CallsPer1k, cs150.Calls), Target: "≤ 5.1 (limit 5.0)", Met: cs150.CallsPer1k <= 5.1})
	}
	if o.want(scContactsync) {
		// 3b: the per-record latency model (a 200-record call takes 1.15 s),
		// one run: what a real org's duplicate-rule-laden upsert is assumed
		// to cost (see sfsim.Faults.Latency).
		o.logf("3b/11 contactsync end to end at 150 ms + 5 ms per record, %s contacts", thousands(int64(sz.contacts/2)))
		r, err := runContactsyncModel(ctx, o, sz.contacts/2, 150, 5)
		if err != nil {
			return nil, fmt.Errorf("contactsync per-record model: %w", err)
		}
		r3b := rep.add(r)
		callLatency := 0.150 + 0.005*200
		bound := float64(salesforce.DefaultMaxConcurrency) * 200 / callLatency
		rep.Targets = append(rep.Targets, Target{Name: "contactsync, 150 ms + 5 ms per record, sustained / (SF_MAX_CONCURRENCY × 200 / call latency)",
			Figure: fmt.Sprintf("%.0f%% (%.0f / %.0f contacts/s; whole run %.0f)", 100*r3b.Sustained/bound, r3b.Sustained, bound, r3b.Rate), Target: "≥ 80%", Met: r3b.Sustained >= 0.8*bound})
		// 6: API calls per 1,000 contacts at 100,000 contacts, no conflicts.
		calls := cs0
		if sz.callsContacts != sz.contacts {
			o.logf("6/11 API calls per 1,000 at %d contacts (0 ms)", sz.callsContacts)
			r, err := runContactsync(ctx, o, sz.callsContacts, 0)
			if err != nil {
				return nil, fmt.Errorf("api calls at %d: %w", sz.callsContacts, err)
			}
			r.Scenario = "6. contactsync, API calls at " + thousands(int64(sz.callsContacts)) + " contacts, 0 ms latency"
			calls = rep.add(r)
		}
		t := Target{Name: fmt.Sprintf("API calls per 1,000 contacts at %s contacts, no conflicts", thousands(calls.Contacts)),
			Figure: fmt.Sprintf("%.2f (%d calls)", calls.CallsPer1k, calls.Calls), Target: "≤ 5.1 (limit 5.0)", Met: calls.CallsPer1k <= 5.1}
		if calls.Contacts < 100000 {
			t.Name += " (target is at 100,000)"
		}
		rep.Targets = append(rep.Targets, t)
	}
	if o.want(scMemory) {
		o.logf("7/11 memory: upserter heap with %d vs %d pending deltas", sz.memLarge, sz.memSmall)
		m, err := runMemory(ctx, o, sz.memSmall, sz.memLarge, sz.memProcess)
		if err != nil {
			return nil, fmt.Errorf("memory: %w", err)
		}
		rep.Memory = m
		ratio := float64(m[1].PeakHeap) / float64(m[0].PeakHeap)
		rep.Targets = append(rep.Targets, Target{
			Name:   fmt.Sprintf("upserter peak heap, %s pending / %s pending", thousands(int64(m[1].Pending)), thousands(int64(m[0].Pending))),
			Figure: fmt.Sprintf("%.2f× (%s / %s)", ratio, mib(m[1].PeakHeap), mib(m[0].PeakHeap)), Target: "≤ 1.2×", Met: ratio <= 1.2})
	}
	if o.want(scConflicts) {
		o.logf("8/11 conflicts: a batch of 200 deltas with 50 conflicts, per policy")
		cs, err := runConflicts(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("conflicts: %w", err)
		}
		rep.Conflicts = cs
		for _, c := range cs {
			rep.Targets = append(rep.Targets, Target{
				Name:   fmt.Sprintf("conflict batch, policy %s, %s: calls beyond the upsert", c.Policy, c.Segments),
				Figure: fmt.Sprintf("%d (+%d by the reconciler)", c.Beyond, c.Reconciler), Target: "≤ 3", Met: c.Beyond <= 3})
		}
	}
	if o.want(scFleet) {
		// 10: the fleet as deployed: separate upserter processes, their CPU
		// time per 1,000 deltas, the stale path on the hot path.
		for _, l := range []int{0, 150} {
			o.logf("10/11 fleet: %d upserter processes draining %s contacts (+10%% older versions), emulator at %d ms", fleetUpserters, thousands(int64(sz.contacts)), l)
			r, err := runFleet(ctx, o, sz.contacts, l)
			if err != nil {
				return nil, fmt.Errorf("fleet@%dms: %w", l, err)
			}
			o.logf("  %s deltas/s sustained, %.2f calls and %.2f CPU s per 1,000 deltas", rate(r.Sustained), r.Per1k, r.CPUPer1k)
			rep.Fleet = append(rep.Fleet, r)
		}
	}
	if o.want(scSteady) {
		// The same arrival rates with a freshness budget of 1 ms (each
		// partition's batch goes out alone, as before shared calls) and of
		// the default, in one run, so the ratio compares like with like.
		dur := steadyDuration(o)
		var rows []SteadyRow
		for _, rate := range steadyRates {
			for _, md := range []time.Duration{time.Millisecond, upsert.DefaultMaxDelay} {
				o.logf("9/11 steady arrival: %d deltas/s for %v, 2 upserters, emulator at 50 ms, SYNC_MAX_DELAY %v", rate, dur, md)
				r, err := runSteady(ctx, rate, dur, md, 50)
				if err != nil {
					return nil, fmt.Errorf("steady %d/s: %w", rate, err)
				}
				o.logf("  %.1f calls per 1,000 deltas, p99 %v", r.Per1k, r.P99)
				rows = append(rows, r)
			}
		}
		rep.Steady = append(rep.Steady, rows...)
		rep.Targets = append(rep.Targets, steadyTargets(rows, "")...)
	}
	if o.want(scSteadyFleet) {
		// 11: the same rates against the fleet as deployed: workers/upserter
		// processes, each delta POSTed to a producer serve process.
		rows, err := runSteadyFleet(ctx, o, steadyRates, steadyDuration(o), 50)
		if err != nil {
			return nil, fmt.Errorf("steady-fleet: %w", err)
		}
		rep.Steady = append(rep.Steady, rows...)
		rep.Targets = append(rep.Targets, steadyTargets(rows, ", upserter processes, one POST per delta")...)
	}
	rep.Elapsed = time.Since(start)
	rep.LoadAfter = loadavg()
	return rep, nil
}

// median returns the run with the median rate, noting the range of all.
func median(rows []Row) Row {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b Row) int { return cmp.Compare(a.Rate, b.Rate) })
	m := rows[len(rows)/2]
	if len(rows) > 1 {
		m.Note = fmt.Sprintf("median of %d runs (%s–%s contacts/s); ", len(rows), rate(rows[0].Rate), rate(rows[len(rows)-1].Rate)) + m.Note
	}
	return m
}

// cleanDeltas generates n contacts with exactly one valid delta each (no
// updates, invalid rows, conflicts or unlinked contacts), the payloads every
// throughput scenario uses.
func cleanDeltas(n int) ([]delta.Delta, error) {
	set := synth.Generate(cleanSynth(n))
	out := make([]delta.Delta, 0, len(set.Rows))
	for i, r := range set.Rows {
		d, err := delta.Decode(r.Data)
		if err != nil {
			return nil, fmt.Errorf("synth row %d: %w", i, err)
		}
		out = append(out, d)
	}
	return out, nil
}

func cleanSynth(n int) synth.Options {
	return synth.Options{Contacts: n, MaxUpdates: -1, InvalidRate: -1, ConflictRate: -1, UnlinkedRate: -1}
}

// machine describes where the numbers come from.
func machine() string {
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				_, cpu, _ = strings.Cut(l, ":")
				cpu = strings.TrimSpace(cpu)
				break
			}
		}
	}
	nproc := strconv.Itoa(runtime.NumCPU())
	if out, err := exec.Command("nproc").Output(); err == nil {
		nproc = strings.TrimSpace(string(out))
	}
	s := fmt.Sprintf("nproc %s, GOMAXPROCS %d, %s %s/%s", nproc, runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if cpu != "" {
		s += ", " + cpu
	}
	return s
}

// loadavg is the 1-minute load average: the box may be shared.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}
