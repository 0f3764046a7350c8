package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
)

// ShuffledFile writes n contacts with 1–3 versions each, lines shuffled so a
// contact's versions can arrive v1, v3, v2; Title is "v<version>". It
// returns each contact's newest Title.
func shuffledFile(t testing.TB, path string, n int, seed uint64) map[string]string {
	r := rand.New(rand.NewPCG(seed, 2))
	newest := map[string]string{}
	var lines [][]byte
	for i := range n {
		id := fmt.Sprintf("SH-%05d", i)
		versions := 1 + r.IntN(3)
		for v := 1; v <= versions; v++ {
			d := delta.Delta{Schema: delta.SchemaV1, ExternalID: id, Segment: "emea", Version: int64(1_700_000_000_000_000 + v),
				Fields: map[string]any{"LastName": "Shuffle", "Title": "v" + strconv.Itoa(v)}}
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, b)
		}
		newest[id] = "v" + strconv.Itoa(versions)
	}
	r.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		_, _ = f.Write(append(l, '\n'))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return newest
}

// The user's report: 3,000 contacts with shuffled versions through the
// standalone pipeline, four upserters, an emulator of its own over HTTP
// (not the embedded one), some latency. Every contact must end at its
// newest version. Run it many times with -count=N (see README).
func TestShuffledVersionsEndAtTheNewest(t *testing.T) {
	srv := sfsimtest.Start(t, sfsim.Config{Faults: sfsim.Faults{LatencyMS: 5, JitterMS: 20}})
	path := filepath.Join(t.TempDir(), "shuffled.ndjson")
	seed := uint64(time.Now().UnixNano()) // a new order every run; printed on failure
	newest := shuffledFile(t, path, 3000, seed)
	sum, err := pipeline.Run(context.Background(), pipeline.Config{
		Upserters: 4, Input: path, Timeout: 5 * time.Minute, // the default upserter settings, as the user ran it
		SF: srv.Config,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Gaps) > 0 {
		t.Fatalf("gaps: %v", sum.Gaps)
	}
	stale := 0
	seen := map[string]bool{}
	for _, c := range srv.Records("Contact") {
		id, _ := c["External_Contact_ID__c"].(string)
		if seen[id] {
			t.Errorf("contact %s twice", id)
		}
		seen[id] = true
		if c["Title"] != newest[id] {
			stale++
		}
	}
	if stale > 0 || len(seen) != len(newest) {
		t.Fatalf("seed %d: %d contacts at an older version, %d of %d contacts present", seed, stale, len(seen), len(newest))
	}
}
