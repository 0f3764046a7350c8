package salesforce_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
)

// BenchmarkUpsertCollection10k upserts 10,000 contacts (50 collections
// requests) through the client and the in-process emulator. Each iteration
// uses fresh external IDs, so every record is an insert. allocs/record counts
// client and emulator together (one process).
func BenchmarkUpsertCollection10k(b *testing.B) {
	const n = 10000
	e := newEnv(b, sfsim.Config{DuplicateAction: "off"}, nil)
	ctx := context.Background()
	var ms0, ms1 runtime.MemStats
	var records, mallocs uint64
	for it := 0; b.Loop(); it++ {
		b.StopTimer()
		recs := make([]salesforce.Record, n)
		for i := range recs {
			recs[i] = salesforce.Record{
				extField:    fmt.Sprintf("B%d-%05d", it, i),
				"LastName":  "Bench",
				"FirstName": "Mark",
				"Email":     fmt.Sprintf("b%d.%05d@example.com", it, i),
			}
		}
		runtime.ReadMemStats(&ms0)
		b.StartTimer()
		res, err := e.c.UpsertCollection(ctx, contact, extField, recs, salesforce.WriteOptions{})
		b.StopTimer()
		runtime.ReadMemStats(&ms1)
		mallocs += ms1.Mallocs - ms0.Mallocs
		b.StartTimer()
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if !r.Success {
				b.Fatalf("record failed: %+v", r.Errors)
			}
		}
		records += n
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(mallocs)/float64(records), "allocs/record")
}
