package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/fleet"
	"github.com/contactsync/contactsync/pkg/producer"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/upsert"
)

// ingestToken is the bearer token of the bench's producer serve process.
const ingestToken = "bench-ingest-token"

// runSteadyFleet measures steady arrival against the fleet as deployed.
// For each SYNC_MAX_DELAY (1 ms, then the default) it starts a child
// process (JetStream, and the emulator at latencyMS per call behind
// recordWrites), a producer serve process and steadyUpserters
// workers/upserter processes; once every partition is leased by the member
// that should own it, each rate runs in turn for d, one delta (steadyDelta)
// per POST /v1/deltas, and then until every delta is settled. Per rate:
// Contact upsert calls, publish (the POST being sent) → Salesforce write
// (the upsert carrying that version or a newer one being answered), and the
// upserter processes' CPU time from the rate's start to its last settle.
func runSteadyFleet(ctx context.Context, o Options, rates []int, d time.Duration, latencyMS int) ([]SteadyRow, error) {
	dir, err := os.MkdirTemp("", "bench-steady-fleet-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	upBin, err := buildWorker(ctx, dir, "upserter")
	if err != nil {
		return nil, err
	}
	prodBin, err := buildWorker(ctx, dir, "producer")
	if err != nil {
		return nil, err
	}
	var rows []SteadyRow
	for i, md := range []time.Duration{time.Millisecond, upsert.DefaultMaxDelay} {
		r, err := steadyFleetRun(ctx, o, upBin, prodBin, filepath.Join(dir, fmt.Sprintf("store-%d", i)), md, rates, d, latencyMS)
		if err != nil {
			return nil, fmt.Errorf("SYNC_MAX_DELAY %v: %w", md, err)
		}
		rows = append(rows, r...)
	}
	slices.SortStableFunc(rows, func(a, b SteadyRow) int {
		return cmp.Or(cmp.Compare(a.Rate, b.Rate), cmp.Compare(a.MaxDelay, b.MaxDelay))
	})
	return rows, nil
}

func steadyFleetRun(ctx context.Context, o Options, upBin, prodBin, store string, maxDelay time.Duration, rates []int, d time.Duration, latencyMS int) ([]SteadyRow, error) {
	child, err := startChild(ctx, store)
	if err != nil {
		return nil, err
	}
	defer child.stop()
	if err := putFaults(ctx, child.sfURL, sfsim.Faults{LatencyMS: latencyMS}); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	callsStart, err := upsertCalls(ctx, child.sfURL)
	if err != nil {
		return nil, err
	}
	var reasons0 upsert.CallSnapshot
	prod := &procSet{}
	defer prod.kill()
	if err := prod.start(ctx, o, "producer serve", prodBin, []string{"serve"},
		"NATS_URL="+child.natsURL, "INGEST_ADDR="+addr, "INGEST_TOKEN="+ingestToken); err != nil {
		return nil, err
	}
	ups, err := startUpserters(ctx, o, upBin, steadyUpserters,
		"NATS_URL="+child.natsURL, "SF_LOGIN_URL="+child.recURL, "SYNC_MAX_DELAY="+maxDelay.String())
	if err != nil {
		return nil, err
	}
	defer ups.kill()
	nc, err := nats.Connect(child.natsURL, nats.Name("bench-steady-fleet"))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := bus.NewJetStream(nc)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: steadyPostsInFlight}}
	defer hc.CloseIdleConnections()
	if err := waitFor(ctx, time.Minute, func() bool { return healthy(ctx, hc, "http://"+addr+"/healthz") }); err != nil {
		return nil, fmt.Errorf("producer serve at %s not healthy: %w", addr, err)
	}
	var members []string
	for i := range steadyUpserters {
		members = append(members, fleetMember(i))
	}
	if err := waitFor(ctx, 2*time.Minute, func() bool { return leasedAsAssigned(ctx, js, members) }); err != nil {
		return nil, fmt.Errorf("partitions not leased by their members: %w", err)
	}

	var rows []SteadyRow
	for _, rate := range rates {
		o.logf("11/11 steady-fleet: %d deltas/s for %v, one POST each to producer serve, %d workers/upserter processes, emulator at %d ms, SYNC_MAX_DELAY %v",
			rate, d, steadyUpserters, latencyMS, maxDelay)
		row := SteadyRow{Rate: rate, MaxDelay: maxDelay, LatencyMS: latencyMS, Processes: true}
		calls0, err := upsertCalls(ctx, child.sfURL)
		if err != nil {
			return nil, err
		}
		cpu0, cpuOK := ups.cpuSeconds()
		sends, err := postSteady(ctx, hc, "http://"+addr+"/v1/deltas", fmt.Sprintf("SF%d", rate), rate, d)
		if err != nil {
			return nil, err
		}
		err = waitFor(ctx, 2*time.Minute, func() bool { left, err := unsettled(ctx, js); return err == nil && left == 0 })
		if err != nil {
			return nil, fmt.Errorf("%d/s: deltas not settled: %w", rate, err)
		}
		cpu1, cpuOK1 := ups.cpuSeconds()
		calls1, err := upsertCalls(ctx, child.sfURL)
		if err != nil {
			return nil, err
		}
		writes, err := fetchWrites(ctx, hc, child.recURL)
		if err != nil {
			return nil, err
		}
		lat, sentAt, missing := publishToWrite(sends, writes)
		if missing > 0 {
			return nil, fmt.Errorf("%d/s: %d of %d deltas settled without a Contact write of their version or a newer one", rate, missing, len(sends))
		}
		row.Deltas = len(sends)
		row.Calls = calls1 - calls0
		row.Per1k = 1000 * float64(row.Calls) / float64(row.Deltas)
		row.P50, row.P99 = percentiles(lat)
		row.P99Fifths = p99ByFifth(lat, sentAt)
		if c, ok := memberCalls(ctx, js, calls1-callsStart); ok {
			row.Reasons = callReasons(callsSince(c, reasons0))
			reasons0 = c
		}
		if cpuOK && cpuOK1 {
			row.CPUSeconds = cpu1 - cpu0
			row.CPUPer1k = 1000 * row.CPUSeconds / float64(row.Deltas)
		}
		o.logf("  %s deltas, %.1f calls per 1,000, p99 %s, %.3f upserter CPU s per 1,000", thousands(int64(row.Deltas)), row.Per1k, ms(row.P99), row.CPUPer1k)
		rows = append(rows, row)
	}
	ups.stop()
	prod.stop()
	return rows, nil
}

// steadyPostsInFlight bounds the POSTs awaiting their answer; the driver
// waits (and the rate falls behind) when they are all out.
const steadyPostsInFlight = 256

// sendRec is one delta POSTed: its contact, version and when it was sent.
type sendRec struct {
	ID      string
	Version int64
	At      time.Time
}

// postSteady POSTs rate deltas per second for d to url, one per request,
// and returns what it sent once every request is answered 202 with the
// delta stored.
func postSteady(ctx context.Context, hc *http.Client, url, prefix string, rate int, d time.Duration) ([]sendRec, error) {
	var (
		mu    sync.Mutex
		sends []sendRec
		first error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, steadyPostsInFlight)
	failed := func() error { mu.Lock(); defer mu.Unlock(); return first }
	_, err := driveSteady(ctx, rate, d, func(n int) error {
		if err := failed(); err != nil {
			return err
		}
		dl := steadyDelta(prefix, n)
		body, err := json.Marshal(dl)
		if err != nil {
			return err
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			at := time.Now()
			err := postDelta(ctx, hc, url, body)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				first = cmp.Or(first, fmt.Errorf("POST %s (delta %d): %w", url, n, err))
				return
			}
			sends = append(sends, sendRec{ID: dl.ExternalID, Version: dl.Version, At: at})
		}()
		return nil
	})
	wg.Wait()
	if err == nil {
		err = failed()
	}
	return sends, err
}

func postDelta(ctx context.Context, hc *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+ingestToken)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r producer.IngestResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("%s: %w", resp.Status, err)
	}
	if resp.StatusCode != http.StatusAccepted || r.Accepted != 1 {
		return fmt.Errorf("%s: accepted %d, rejected %d, failed %d: %s %v", resp.Status, r.Accepted, r.Rejected, r.Failed, r.Error, r.Errors)
	}
	return nil
}

// publishToWrite pairs each delta sent with the first Contact write after
// it of its version or a newer one (several versions of a contact in one
// batch fold into one write of the newest). A delta sent after a newer
// version of its contact is left out: it is skipped as stale, not written.
// missing counts the deltas with no such write.
func publishToWrite(sends []sendRec, writes []writeRec) (lat []time.Duration, sentAt []time.Time, missing int) {
	byID := map[string][]writeRec{}
	for _, w := range writes {
		byID[w.ID] = append(byID[w.ID], w)
	}
	for _, ws := range byID {
		slices.SortFunc(ws, func(a, b writeRec) int { return cmp.Compare(a.At, b.At) })
	}
	sentByID := map[string][]sendRec{}
	for _, s := range sends {
		sentByID[s.ID] = append(sentByID[s.ID], s)
	}
	for _, s := range sends {
		stale := slices.ContainsFunc(sentByID[s.ID], func(o sendRec) bool { return o.Version > s.Version && o.At.Before(s.At) })
		if stale {
			continue
		}
		i := slices.IndexFunc(byID[s.ID], func(w writeRec) bool { return w.Version >= s.Version && w.At >= s.At.UnixNano() })
		if i < 0 {
			missing++
			continue
		}
		lat = append(lat, time.Duration(byID[s.ID][i].At-s.At.UnixNano()))
		sentAt = append(sentAt, s.At)
	}
	return lat, sentAt, missing
}

// p99ByFifth is the p99 of lat among the deltas sent in each fifth of the
// span of sentAt (sentAt[i] is when lat[i]'s delta was sent).
func p99ByFifth(lat []time.Duration, sentAt []time.Time) [5]time.Duration {
	var out [5]time.Duration
	if len(lat) == 0 {
		return out
	}
	first, last := slices.MinFunc(sentAt, time.Time.Compare), slices.MaxFunc(sentAt, time.Time.Compare)
	span := last.Sub(first)
	var by [5][]time.Duration
	for i, l := range lat {
		k := 0
		if span > 0 {
			k = min(4, int(5*sentAt[i].Sub(first)/span))
		}
		by[k] = append(by[k], l)
	}
	for k := range by {
		_, out[k] = percentiles(by[k])
	}
	return out
}

func fetchWrites(ctx context.Context, hc *http.Client, recURL string) ([]writeRec, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, recURL+"/__bench/writes", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ws []writeRec
	if err := json.NewDecoder(resp.Body).Decode(&ws); err != nil {
		return nil, fmt.Errorf("GET /__bench/writes: %w", err)
	}
	return ws, nil
}

// leasedAsAssigned reports whether every partition's lease is held by the
// member fleet.Assign gives it among members (the fleet has settled, so no
// handover falls into a measurement), and every partition's consumer exists.
func leasedAsAssigned(ctx context.Context, js jetstream.JetStream, members []string) bool {
	kv, err := js.KeyValue(ctx, bus.BucketState)
	if err != nil {
		return false
	}
	owner := map[int]string{}
	for _, m := range members {
		for _, p := range fleet.Assign(members, upsert.DefaultPartitions, m) {
			owner[p] = m
		}
	}
	for p := range upsert.DefaultPartitions {
		e, err := kv.Get(ctx, fleet.LeaseKey(p))
		if err != nil {
			return false
		}
		var v struct {
			Member string `json:"member"`
		}
		if json.Unmarshal(e.Value(), &v) != nil || v.Member != owner[p] {
			return false
		}
	}
	_, err = unsettled(ctx, js)
	return err == nil
}

func healthy(ctx context.Context, hc *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// freeAddr is a loopback address with a port free a moment ago, for a
// process that takes its listen address from the environment.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
