package sfsim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

// BenchmarkCollectionsUpsert sends 200-record collections upserts over HTTP
// with the default duplicate rule on (Allow+alert, email matching): half
// of each batch creates, half updates existing contacts. Reports records/s.
//
//	go test -run '^$' -bench CollectionsUpsert -benchtime 200x ./pkg/sfsim/
func BenchmarkCollectionsUpsert(b *testing.B) {
	o := start(b, sfsim.Config{})
	const batch = 200
	bodies := make([][]byte, 0, 64)
	for n := range 64 {
		recs := make([]any, batch)
		for i := range recs {
			k := n*batch + i
			if i%2 == 1 {
				k = i // the same keys every batch: updates after the first
			}
			recs[i] = map[string]any{"attributes": map[string]any{"type": "Contact"},
				extField: fmt.Sprintf("B-%07d", k), "LastName": fmt.Sprint("Bench", k), "FirstName": "Ann",
				"Email": fmt.Sprintf("bench.%07d@example.com", k), "Title": "Engineer", "MailingCity": "Lyon"}
		}
		data, err := json.Marshal(map[string]any{"allOrNone": false, "records": recs})
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, data)
	}
	url := o.srv.URL() + collUpsert
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n := 0
		for pb.Next() {
			req, _ := http.NewRequest("PATCH", url, bytes.NewReader(bodies[n%len(bodies)]))
			n++
			req.Header.Set("Authorization", "Bearer "+o.token)
			req.Header.Set("Content-Type", "application/json")
			res, err := o.hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
	if b.N >= len(bodies) && o.srv.Stats().Records["Contact"] < len(bodies)*batch/2 {
		b.Errorf("only %d contacts stored: records were refused", o.srv.Stats().Records["Contact"])
	}
}
