package soql

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParseRunIn200 measures the emulator's hot path: one batched
// lookup, WHERE Email IN (200 values), parsed and run over 10,000 contacts.
func BenchmarkParseRunIn200(b *testing.B) {
	rows := make([]map[string]any, 10000)
	for i := range rows {
		rows[i] = map[string]any{
			"Id":                     fmt.Sprintf("003%015d", i),
			"Email":                  fmt.Sprintf("user%d@example.com", i),
			"External_Contact_ID__c": fmt.Sprintf("ext-%d", i),
		}
	}
	vals := make([]string, 200)
	for i := range vals {
		vals[i] = "'" + escape(fmt.Sprintf("USER%d@example.com", i*50), false) + "'"
	}
	q := "SELECT Id, Email, External_Contact_ID__c FROM Contact WHERE Email IN (" + strings.Join(vals, ",") + ")"
	b.ReportAllocs()
	for b.Loop() {
		pq, err := Parse(q, testSchema)
		if err != nil {
			b.Fatal(err)
		}
		res, err := pq.Run(rows, testNow)
		if err != nil {
			b.Fatal(err)
		}
		if res.TotalSize != 200 {
			b.Fatalf("matched %d rows, want 200", res.TotalSize)
		}
	}
}
