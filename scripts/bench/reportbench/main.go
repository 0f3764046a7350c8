// Command reportbench measures `syncctl report --daily` (pkg/report) on an
// emulated org of n contacts, all of them written by the fleet (their
// contact state and fingerprints in an embedded JetStream), a sample edited
// by hand: API calls (counted by the client) and wall time, for the
// candidate (the contacts read by one Bulk API 2.0 query job, the default
// from SYNC_BULK_THRESHOLD) and the baseline (paged SOQL, 2,000 a page) in
// the same run, against a lower bound: the calls one Bulk query job needs to
// export the external IDs once.
//
//	go run ./scripts/bench/reportbench -n 100000,1000000 -latency-ms 150 -rows-per-second 2000
//
// As in bulkbench, every call waits -latency-ms (a round trip to an org),
// and the emulator's Bulk processing (n / rows-per-second) runs on a virtual
// clock; the status polls the client would make over that time are modelled
// from its backoff (1 s doubling to 1 min) and added to the calls, and the
// processing time to the wall time.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/report"
	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/upsert"
)

func main() {
	sizes := flag.String("n", "100000,1000000", "org sizes (contacts), comma-separated")
	speed := flag.Int("rows-per-second", 2000, "emulated Bulk processing speed (an assumption, see README)")
	latency := flag.Int("latency-ms", 150, "latency added to every Salesforce call (network round trip)")
	edited := flag.Float64("edited", 0.001, "share of contacts edited by hand after the sync (drift)")
	flag.Parse()
	fmt.Printf("latency %d ms per call; Bulk processing %d rows/s (virtual clock); %.1f%% edited by hand\n\n", *latency, *speed, *edited*100)
	fmt.Println("| contacts | read | API calls | wall time | rows in report 3 (drift) |")
	fmt.Println("|--:|---|--:|--:|--:|")
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			log.Fatalf("-n %q: %v", s, err)
		}
		if err := run(n, *speed, *latency, *edited); err != nil {
			log.Fatal(err)
		}
	}
}

// polls is how many status reads WaitBulkJob makes while a job runs d.
func polls(d time.Duration) int {
	wait, total, k := time.Second, time.Duration(0), 1
	for total < d {
		total += wait
		wait = min(2*wait, salesforce.DefaultBulkMaxPollInterval)
		k++
	}
	return k
}

func run(n, speed, latency int, edited float64) error {
	ctx := context.Background()
	var virtual atomic.Int64
	srv, err := sfsim.New(sfsim.Config{DuplicateAction: sfsim.ActionOff, BulkRowsPerSecond: speed, DailyLimit: 10000000,
		Faults: sfsim.Faults{LatencyMS: latency},
		Sleep:  func(_ context.Context, d time.Duration) { virtual.Add(int64(d)) }})
	if err != nil {
		return err
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "reportbench-js-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ns, err := bus.StartEmbedded(dir)
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return err
	}
	if err := bus.Ensure(ctx, js, bus.Topology{}); err != nil {
		return err
	}
	kv, err := js.KeyValue(ctx, bus.BucketState)
	if err != nil {
		return err
	}

	// The org as the fleet left it, and its state; every 1/edited-th
	// contact was edited by hand since (its fingerprint is of the value the
	// fleet wrote, the org holds another).
	seedStart := time.Now()
	every := 0
	if edited > 0 {
		every = int(1 / edited)
	}
	for i := 0; i < n; i++ {
		ext := fmt.Sprintf("MC-%07d", i)
		f := map[string]any{"External_Contact_ID__c": ext, "Sync_Version__c": float64(1732615200000000 + i),
			"LastName": fmt.Sprintf("Last%d", i), "FirstName": "First", "Email": fmt.Sprintf("c%d@example.com", i)}
		written := map[string]any{"Sync_Version__c": f["Sync_Version__c"], "LastName": f["LastName"], "FirstName": "First", "Email": f["Email"]}
		if every > 0 && i%every == 0 {
			f["LastName"] = "Edited by hand"
		}
		id, err := srv.Insert("Contact", f)
		if err != nil {
			return err
		}
		st := fmt.Sprintf(`{"id":%q,"v":%d,"fp":%q}`, id, 1732615200000000+i, upsert.Fingerprint(written))
		if _, err := js.PublishAsync("$KV."+bus.BucketState+"."+delta.ContactKey(ext), []byte(st)); err != nil {
			return err
		}
		if i%2000 == 1999 {
			<-js.PublishAsyncComplete() // keep the pending publishes under the cap
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(10 * time.Minute):
		return fmt.Errorf("state publishes not confirmed")
	}
	fmt.Fprintf(os.Stderr, "n=%d seeded in %s\n", n, time.Since(seedStart).Round(time.Second))

	c, err := salesforce.New(ctx, salesforce.Config{LoginURL: srv.URL(), ClientID: sfsim.DefaultClientID, ClientSecret: sfsim.DefaultClientSecret})
	if err != nil {
		return err
	}
	defer c.Close()

	var bulkCalls int64
	for _, tc := range []struct {
		name      string
		threshold int
	}{{"candidate: Bulk query job (default threshold)", 0}, {"baseline: paged SOQL", -1}} {
		var statusReads atomic.Int64
		cfg := report.Config{BulkThreshold: tc.threshold}
		cfg.Bulk.PollInterval, cfg.Bulk.MaxPollInterval = time.Millisecond, time.Millisecond
		cfg.Bulk.Progress = func(salesforce.BulkJob) { statusReads.Add(1) }
		virtual.Store(0)
		start := time.Now()
		res, err := report.Run(ctx, c, report.Inputs{State: kv}, cfg)
		if err != nil {
			return err
		}
		measured := time.Since(start)
		proc := time.Duration(virtual.Load())
		calls := res.TotalCalls()
		if sr := statusReads.Load(); sr > 0 {
			calls += int64(polls(proc)) - sr // the polls a real client makes over the processing time
		}
		if tc.threshold == 0 {
			bulkCalls = calls
		}
		ratio := ""
		if tc.threshold < 0 && bulkCalls > 0 {
			ratio = fmt.Sprintf(" (%.0f× the candidate)", float64(calls)/float64(bulkCalls))
		}
		t := res.Totals()
		fmt.Printf("| %d | %s | %d%s | %s (%s measured + %s Bulk processing) | %d (%d) |\n", n, tc.name, calls, ratio,
			(measured + proc).Round(time.Second), measured.Round(time.Second), proc.Round(time.Second), t.SourceGaps, t.Drift)
		if t.Drift != (n+every-1)/max(every, 1) && every > 0 {
			return fmt.Errorf("drift rows %d, want %d", t.Drift, (n+every-1)/every)
		}
	}
	// Lower bound: one Bulk query job exporting the external IDs once
	// (create, the status polls over the processing time, one results
	// download).
	lower := 1 + polls(time.Duration(n)*time.Second/time.Duration(speed)) + 1
	fmt.Printf("| %d | lower bound: one Bulk query of the external IDs | %d | %s Bulk processing |  |\n", n, lower,
		(time.Duration(n) * time.Second / time.Duration(speed)).Round(time.Second))
	return nil
}
