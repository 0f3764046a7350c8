package soql

import (
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunConcurrently runs one Query from several goroutines: under -race
// this proves Run does not write to the Query or the rows.
func TestRunConcurrently(t *testing.T) {
	q, err := Parse("SELECT LeadSource, COUNT(Id) FROM Contact WHERE Email LIKE '%example%' OR CreatedDate = LAST_N_DAYS:3 GROUP BY LeadSource ORDER BY COUNT(Id) DESC", testSchema)
	if err != nil {
		t.Fatal(err)
	}
	rows := testRows()
	var wg sync.WaitGroup
	results := make([]int, 8)
	for i := range results {
		wg.Go(func() {
			res, err := q.Run(rows, testNow)
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = res.TotalSize
		})
	}
	wg.Wait()
	for i, n := range results {
		if n != 3 {
			t.Errorf("goroutine %d: %d groups, want 3", i, n)
		}
	}
}
