package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/upsert"
)

// embeddedNATS starts a JetStream server on a temp dir and connects to it;
// stop closes both and removes the dir.
func embeddedNATS(name string) (*bus.Embedded, *nats.Conn, func(), error) {
	dir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		return nil, nil, nil, err
	}
	ns, err := bus.StartEmbedded(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, nil, err
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.Name(name))
	if err != nil {
		ns.Shutdown()
		os.RemoveAll(dir)
		return nil, nil, nil, err
	}
	return ns, nc, func() { nc.Close(); ns.Shutdown(); os.RemoveAll(dir) }, nil
}

// SteadyRow is one steady-arrival run: deltas published at a fixed rate,
// as users' sources send them, instead of a backlog.
type SteadyRow struct {
	Rate      int           // deltas per second
	MaxDelay  time.Duration // SYNC_MAX_DELAY of the run
	Deltas    int
	Calls     int64 // Contact upserts (the start-up check excluded)
	Per1k     float64
	P50, P99  time.Duration // publish → Salesforce write
	LatencyMS int
	// Processes: the upserters were workers/upserter processes fed through
	// a producer serve process (scenario steady-fleet), not in this process.
	Processes  bool
	CPUSeconds float64 // of the upserter processes while this rate ran; Processes only
	CPUPer1k   float64
	// P99Fifths is the p99 of the deltas sent in each fifth of the rate's
	// sending time, and Reasons the calls by why they went out (Processes
	// only): where a high p99 comes from.
	P99Fifths [5]time.Duration
	Reasons   string
}

// steadyDuration is how long each steady rate runs.
func steadyDuration(o Options) time.Duration {
	if o.Quick {
		return 5 * time.Second
	}
	return 30 * time.Second
}

// steadyRates are the arrival rates of issue 9, deltas per second.
var steadyRates = []int{20, 200, 2000}

// steadyDelta is the n-th delta of a steady run, contacts prefix-NNNNNN:
// every contact gets two versions, the second published first a tenth of
// the time, so the stale path is exercised.
func steadyDelta(prefix string, n int) delta.Delta {
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	c := n / 2
	v := int64(n%2 + 1)
	if c%10 == 0 { // a tenth of the contacts: v2 before v1
		v = 3 - v
	}
	return delta.Delta{Schema: delta.SchemaV1, ExternalID: fmt.Sprintf("%s-%06d", prefix, c), Segment: "emea", Version: base + v,
		Fields: map[string]any{"LastName": "Steady", "Title": fmt.Sprintf("v%d", v)}}
}

// driveSteady calls send(0), send(1), … at rate per second for d, on a
// 10 ms tick, keeping to the schedule rather than to the ticks: each tick
// sends what rate × elapsed time says is due, so a tick delayed on a busy
// machine is made up by the next and the run sends rate × d in all. It
// returns how many it sent.
func driveSteady(ctx context.Context, rate int, d time.Duration, send func(n int) error) (int, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	total := int(float64(rate) * d.Seconds())
	n := 0
	for n < total {
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-tick.C:
		}
		due := min(total, int(float64(rate)*time.Since(start).Seconds()))
		for ; n < due; n++ {
			if err := send(n); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// steadyTargets checks issue 9's steady targets on rows holding, for each
// rate, a run at 1 ms and one at the default SYNC_MAX_DELAY; what names
// the setup ("" for the upserters in the bench process).
func steadyTargets(rows []SteadyRow, what string) []Target {
	var out []Target
	for _, rate := range []int{20, 200} { // no target at 2,000/s: the row shows the curve
		var one, def *SteadyRow
		for i := range rows {
			switch r := &rows[i]; {
			case r.Rate == rate && r.MaxDelay == time.Millisecond:
				one = r
			case r.Rate == rate && r.MaxDelay == upsert.DefaultMaxDelay:
				def = r
			}
		}
		if one == nil || def == nil {
			continue
		}
		out = append(out, Target{
			Name:   fmt.Sprintf("steady %d deltas/s%s: calls per 1,000 deltas, SYNC_MAX_DELAY %v vs 1ms", rate, what, upsert.DefaultMaxDelay),
			Figure: fmt.Sprintf("%.1f vs %.1f (%.1f× fewer); p99 %s", def.Per1k, one.Per1k, one.Per1k/max(def.Per1k, 0.001), ms(def.P99)),
			Target: map[int]string{20: "≤ 25", 200: "≤ 6"}[rate] + ", p99 ≤ SYNC_MAX_DELAY + 1 s",
			Met:    def.Per1k <= map[int]float64{20: 25, 200: 6}[rate] && def.P99 <= upsert.DefaultMaxDelay+time.Second})
	}
	return out
}

// steadyUpserters is the fleet size of the steady runs: two members, as a
// small deployment runs.
const steadyUpserters = 2

// runSteady publishes rate deltas per second for d (steadyDelta) to 2
// upserters in this process against the emulator
// at latencyMS per call, and counts the API calls per 1,000 deltas.
func runSteady(ctx context.Context, rate int, d, maxDelay time.Duration, latencyMS int) (SteadyRow, error) {
	row := SteadyRow{Rate: rate, MaxDelay: maxDelay, LatencyMS: latencyMS}
	ns, nc, stop, err := embeddedNATS("bench-steady")
	if err != nil {
		return row, err
	}
	defer stop()
	js, err := bus.NewJetStream(nc)
	if err != nil {
		return row, err
	}
	if err := bus.Ensure(ctx, js, bus.Topology{}); err != nil {
		return row, err
	}
	srv, err := sfsim.New(sfsim.Config{Faults: sfsim.Faults{LatencyMS: latencyMS}})
	if err != nil {
		return row, err
	}
	defer srv.Close()
	sf, err := salesforce.New(ctx, salesforce.Config{LoginURL: srv.URL(), ClientID: "contactsync", ClientSecret: "contactsync-secret"})
	if err != nil {
		return row, err
	}
	defer sf.Close()
	stats, lat := &upsert.Stats{}, &upsert.Latencies{}
	for i := range steadyUpserters {
		unc, err := nats.Connect(ns.ClientURL(), nats.Name(fmt.Sprintf("bench-steady-upserter-%d", i)))
		if err != nil {
			return row, err
		}
		defer unc.Close()
		u, err := upsert.New(upsert.Config{Member: fmt.Sprintf("steady-%d", i), MaxDelay: maxDelay},
			upsert.Deps{NATS: unc, Salesforce: sf, Resolver: conflict.NewResolver(sf, conflict.Config{}, nil), Stats: stats, Latencies: lat})
		if err != nil {
			return row, err
		}
		if err := u.Start(ctx); err != nil {
			return row, err
		}
		defer func() { _ = u.Stop(context.Background()) }()
	}
	routes0 := srv.Stats().Routes
	n, err := driveSteady(ctx, rate, d, func(n int) error {
		dl := steadyDelta("ST", n)
		b, _ := json.Marshal(dl)
		_, err := js.PublishAsync(dl.Subject(), b, jetstream.WithMsgID(dl.MsgID()))
		return err
	})
	if err != nil {
		return row, err
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		return row, fmt.Errorf("publishes not acknowledged")
	}
	if err := waitFor(ctx, 2*time.Minute, func() bool { return stats.Snapshot().Done() >= int64(n) }); err != nil {
		return row, fmt.Errorf("%d of %d done: %w", stats.Snapshot().Done(), n, err)
	}
	routes1 := srv.Stats().Routes
	const upsertRoute = "PATCH /composite/sobjects/{type}/{field}"
	row.Deltas = n
	row.Calls = routes1[upsertRoute] - routes0[upsertRoute]
	row.Per1k = 1000 * float64(row.Calls) / float64(n)
	row.P50, row.P99 = lat.Percentile(0.5), lat.Percentile(0.99)
	return row, nil
}
