package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/upsert"
)

func TestProgressLineHasRateAndETA(t *testing.T) {
	s := upsert.Snapshot{Created: 300, StaleSkipped: 100}
	for _, tc := range []struct {
		published int64
		elapsed   time.Duration
		paused    bool
		want      []string
	}{
		{1000, 4 * time.Second, false, []string{"400/1000 deltas done (40.0%)", "100/s", "ETA 6s"}},
		{400, 2 * time.Second, false, []string{"400/400", "200/s", "ETA 0s"}},
		{1000, 4 * time.Second, true, []string{"ETA: paused, daily API limit reached"}},
	} {
		got := progressLine(s, tc.published, tc.elapsed, tc.paused)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("progressLine(%d, %s, paused %v) = %q, want %q in it", tc.published, tc.elapsed, tc.paused, got, w)
			}
		}
	}
}
