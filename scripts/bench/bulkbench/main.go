// Command bulkbench measures a segment backfill and an external-ID export
// through Bulk API 2.0 against the emulator, next to sObject Collections and
// paged SOQL: API calls (counted by the client) and wall time.
//
//	go run ./scripts/bench/bulkbench -n 1000000 -rows-per-second 2000 -latency-ms 150
//
// Every call waits -latency-ms on the emulator (a network round trip to an
// org), so the 500 pages of a paged SOQL export and the Bulk job's calls pay
// it alike.
//
// The emulator's Bulk processing time (n / rows-per-second) is accounted on
// a virtual clock instead of being waited for, so the run stays short; the
// status polls the client would make over that time are added from its
// backoff schedule (1 s doubling to 1 min). Wall time = measured time of the
// uploads, result downloads and emulator work + the virtual processing time.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"sync/atomic"
	"time"

	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
)

func main() {
	n := flag.Int("n", 1000000, "contacts")
	speed := flag.Int("rows-per-second", 2000, "emulated Bulk processing speed (an assumption, see README)")
	latency := flag.Int("latency-ms", 150, "latency added to every Salesforce call (network round trip)")
	flag.Parse()
	if err := run(*n, *speed, *latency); err != nil {
		log.Fatal(err)
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

func run(n, speed, latency int) error {
	var virtual atomic.Int64
	srv, err := sfsim.New(sfsim.Config{DuplicateAction: sfsim.ActionOff, BulkRowsPerSecond: speed, DailyLimit: 10000000,
		Faults: sfsim.Faults{LatencyMS: latency},
		Sleep:  func(_ context.Context, d time.Duration) { virtual.Add(int64(d)) }})
	if err != nil {
		return err
	}
	defer srv.Close()
	ctx := context.Background()
	c, err := salesforce.New(ctx, salesforce.Config{LoginURL: srv.URL(), ClientID: sfsim.DefaultClientID, ClientSecret: sfsim.DefaultClientSecret})
	if err != nil {
		return err
	}
	defer c.Close()
	fields := []string{"External_Contact_ID__c", "Sync_Version__c", "LastName", "FirstName", "Email"}
	recs := make([]salesforce.Record, n)
	for i := range recs {
		recs[i] = salesforce.Record{"External_Contact_ID__c": fmt.Sprintf("MC-%07d", i), "Sync_Version__c": int64(1732615200000000 + i),
			"LastName": fmt.Sprintf("Last%d", i), "FirstName": "First", "Email": fmt.Sprintf("c%d@example.com", i)}
	}
	fast := salesforce.BulkOptions{PollInterval: time.Millisecond, MaxPollInterval: time.Millisecond}
	before, start := c.APICalls(), time.Now()
	run, err := c.RunIngest(ctx, salesforce.IngestSpec{Object: "Contact", Operation: "upsert", ExternalIDField: "External_Contact_ID__c"}, fields, recs, 0, fast)
	if err != nil {
		return err
	}
	measured := time.Since(start)
	ok := 0
	for _, o := range run.Outcomes {
		if o.Err == nil && o.Rejected == nil && !o.Unprocessed {
			ok++
		}
	}
	proc := time.Duration(virtual.Swap(0))
	// Calls: the measured ones without the immediate status reads, plus the
	// polls over each job's processing time.
	calls := c.APICalls() - before
	perJob := proc / time.Duration(len(run.Jobs))
	measuredPolls := srv.Stats().Routes["GET /jobs/ingest/{id}"]
	modelled := calls - measuredPolls + int64(len(run.Jobs)*polls(perJob))
	fmt.Fprintf(os.Stdout, "latency %d ms per call; Bulk processing %d rows/s (virtual clock)\n", latency, speed)
	fmt.Fprintf(os.Stdout, "Bulk backfill: %d contacts, %d written, %d jobs, %d API calls (%d polls modelled over the processing time), wall %s (%s client+emulator, %s Bulk processing at %d rows/s)\n",
		n, ok, len(run.Jobs), modelled, len(run.Jobs)*polls(perJob), (measured + proc).Round(time.Second), measured.Round(time.Millisecond), proc.Round(time.Second), speed)
	coll := int64((n + 199) / 200)
	fmt.Fprintf(os.Stdout, "Collections backfill: %d API calls (%d records per call); Bulk uses %.0f× fewer\n", coll, 200, float64(coll)/float64(modelled))

	// Export of external IDs: Bulk query vs paged SOQL.
	before, start = c.APICalls(), time.Now()
	it := c.BulkQuery(ctx, "SELECT External_Contact_ID__c FROM Contact", salesforce.BulkQueryOptions{BulkOptions: fast})
	rows := 0
	for it.Next() {
		rows++
	}
	if err := it.Err(); err != nil {
		return err
	}
	qm, qproc := time.Since(start), time.Duration(virtual.Swap(0))
	qcalls := c.APICalls() - before - srv.Stats().Routes["GET /jobs/query/{id}"] + int64(polls(qproc))
	qwall := qm + qproc
	fmt.Fprintf(os.Stdout, "Bulk query export: %d rows, %d API calls (%d of them status polls over %s processing), wall %s (%s client+emulator)\n",
		rows, qcalls, polls(qproc), qproc.Round(time.Second), qwall.Round(time.Millisecond), qm.Round(time.Millisecond))
	before, start = c.APICalls(), time.Now()
	rows = 0
	q := c.Query(ctx, "SELECT External_Contact_ID__c FROM Contact")
	for q.Next() {
		rows++
	}
	if err := q.Err(); err != nil {
		return err
	}
	scalls, swall := c.APICalls()-before, time.Since(start)
	fmt.Fprintf(os.Stdout, "Paged SOQL export: %d rows, %d API calls, wall %s\n", rows, scalls, swall.Round(time.Millisecond))
	fmt.Fprintf(os.Stdout, "export ratios (paged SOQL / Bulk query): calls %.1f×, wall time %.2f× (Bulk time rests on the assumed rows/s)\n",
		float64(scalls)/float64(qcalls), float64(swall)/float64(qwall))
	if left := swall - qm; left > 0 {
		fmt.Fprintf(os.Stdout, "the Bulk query export is also faster in wall time where Salesforce runs the query at more than %.0f rows/s\n",
			float64(rows)/left.Seconds())
	}
	return nil
}
