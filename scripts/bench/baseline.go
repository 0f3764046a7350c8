package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
)

const (
	kindPatch     = "one PATCH per contact"
	kindComposite = "Composite, 25 per request"

	baselineConcurrency = 24 // the client's default MaxConcurrency, as contactsync runs
	extIDField          = "External_Contact_ID__c"
)

// runBaseline writes n contacts the way the usual advice says, straight from
// memory (no JetStream: the baselines get the easiest possible input), with
// 24 goroutines through one client capped at 24 requests in flight: either
// one PATCH by external ID per contact, or Composite calls of 25 such
// PATCH subrequests.
func runBaseline(ctx context.Context, o Options, kind string, n, latencyMS int) (Row, error) {
	ds, err := cleanDeltas(n)
	if err != nil {
		return Row{}, err
	}
	// PATCH /sobjects/Contact/External_Contact_ID__c/{value} cannot address
	// a value with '/' (2% of the generated IDs): give those a slash-free ID.
	for i := range ds {
		ds[i].ExternalID = strings.ReplaceAll(ds[i].ExternalID, "/", "_")
	}
	heap := sampleHeap()
	srv, err := sfsim.New(sfsim.Config{Faults: sfsim.Faults{LatencyMS: latencyMS}})
	if err != nil {
		return Row{}, err
	}
	defer srv.Close()
	sf, err := salesforce.New(ctx, salesforce.Config{LoginURL: srv.URL(), ClientID: "contactsync",
		ClientSecret: "contactsync-secret", MaxConcurrency: baselineConcurrency})
	if err != nil {
		return Row{}, err
	}
	defer sf.Close()

	// Work units: one contact (PATCH) or 25 (Composite).
	unit := 1
	if kind == kindComposite {
		unit = salesforce.MaxCompositeSubrequests
	}
	work := make(chan []delta.Delta, n/unit+1)
	for i := 0; i < len(ds); i += unit {
		work <- ds[i:min(i+unit, len(ds))]
	}
	close(work)

	var failed atomic.Int64
	var firstErr atomic.Value
	var mu sync.Mutex
	var callLat []time.Duration
	calls0 := sf.APICalls()
	start := time.Now()
	var wg sync.WaitGroup
	for range baselineConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			for chunk := range work {
				t := time.Now()
				bad, err := writeChunk(ctx, sf, kind, chunk)
				local = append(local, time.Since(t))
				failed.Add(int64(bad))
				if err != nil {
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
			mu.Lock()
			callLat = append(callLat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	calls := sf.APICalls() - calls0
	peak := heap.stop()
	if f := failed.Load(); f > 0 {
		return Row{}, fmt.Errorf("%d of %d contacts failed; first error: %v", f, n, firstErr.Load())
	}
	p50, p99 := percentiles(callLat)
	return Row{
		Scenario: fmt.Sprintf("%d. baseline: %s, %d ms latency", map[string]int{kindPatch: 4, kindComposite: 5}[kind], kind, latencyMS),
		Contacts: int64(n), Rate: float64(n) / elapsed.Seconds(),
		Calls: calls, CallsPer1k: 1000 * float64(calls) / float64(n), PeakHeap: peak,
		Note: fmt.Sprintf("direct from memory, %d goroutines, one client (MaxConcurrency %d); %d API calls; per call p50 %s, p99 %s",
			baselineConcurrency, baselineConcurrency, calls, ms(p50), ms(p99)),
	}, nil
}

// writeChunk writes one work unit and returns how many of its contacts failed.
func writeChunk(ctx context.Context, sf *salesforce.Client, kind string, chunk []delta.Delta) (int, error) {
	if kind == kindPatch {
		d := chunk[0]
		r, err := sf.Upsert(ctx, "Contact", extIDField, d.ExternalID, salesforce.Record(d.Fields), salesforce.WriteOptions{})
		if err != nil {
			return 1, err
		}
		if !r.Success {
			return 1, fmt.Errorf("%v", r.Errors)
		}
		return 0, nil
	}
	subs := make([]salesforce.Subrequest, len(chunk))
	for i, d := range chunk {
		subs[i] = salesforce.Subrequest{Method: "PATCH", ReferenceID: fmt.Sprintf("c%d", i),
			URL:  "sobjects/Contact/" + extIDField + "/" + url.PathEscape(d.ExternalID),
			Body: d.Fields}
	}
	res, err := sf.Composite(ctx, false, subs)
	if err != nil {
		return len(chunk), err
	}
	if len(res) != len(chunk) {
		return len(chunk), fmt.Errorf("%d subresponses for %d subrequests", len(res), len(chunk))
	}
	bad := 0
	var first error
	for _, r := range res {
		if err := r.Err(); err != nil {
			bad++
			if first == nil {
				first = err
			}
		}
	}
	return bad, first
}
