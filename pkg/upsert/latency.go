package upsert

import (
	"slices"
	"sync"
	"time"
)

// Latencies records the time from publish (the JetStream stored timestamp)
// to the Salesforce write being acknowledged, for benchmarks and summaries.
// It keeps at most Cap samples (reservoir-free: later samples are dropped).
type Latencies struct {
	Cap int // default 1,000,000

	mu      sync.Mutex
	samples []time.Duration
	at      []time.Time // when each sample's write settled
}

func (l *Latencies) record(d time.Duration) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.Cap
	if c == 0 {
		c = 1_000_000
	}
	if len(l.samples) < c {
		l.samples = append(l.samples, d)
		l.at = append(l.at, now)
	}
}

// Times returns when each recorded write settled, in order.
func (l *Latencies) Times() []time.Time {
	l.mu.Lock()
	s := slices.Clone(l.at)
	l.mu.Unlock()
	slices.SortFunc(s, time.Time.Compare)
	return s
}

// Percentile returns the q-quantile (0..1) of the recorded latencies.
func (l *Latencies) Percentile(q float64) time.Duration {
	l.mu.Lock()
	s := slices.Clone(l.samples)
	l.mu.Unlock()
	if len(s) == 0 {
		return 0
	}
	slices.Sort(s)
	i := int(q * float64(len(s)-1))
	return s[i]
}

// Count is the number of samples.
func (l *Latencies) Count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.samples)
}
