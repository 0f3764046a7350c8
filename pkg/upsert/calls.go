package upsert

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// callReason says why a shared Collections call went out when it did: the
// vocabulary of `syncctl status`, the standalone summary, the benchmark and
// contactsync_sf_upsert_calls_total. Only full calls are free of waste; the
// others are the price of freshness (due), of a backlog's end (drained), of
// a shutdown (stopping) or of a refusal (isolated).
type callReason int

const (
	callFull     callReason = iota // size records were queued
	callDue                        // its oldest delta had waited the freshness budget
	callDrained                    // a backlog call nothing else at work could fill
	callHeldOut                    // a backlog call held for filling until holdMax ran out
	callStopping                   // the upserter is stopping: everything went out at once
	callIsolated                   // one part of a combined call Salesforce refused as a whole, sent alone
	numCallReasons
)

var callReasonNames = [numCallReasons]string{"full", "due", "drained", "held_out", "stopping", "isolated"}

func (r callReason) String() string { return callReasonNames[r] }

// callStats counts the shared calls a member sent and the records they
// carried. Safe for concurrent use; Stats holds one for its whole fleet.
type callStats struct {
	calls   [numCallReasons]atomic.Int64
	records atomic.Int64
}

func (s *callStats) add(r callReason, records int) {
	s.calls[r].Add(1)
	s.records.Add(int64(records))
}

// CallSnapshot is a point-in-time copy of the shared calls' counts.
type CallSnapshot struct {
	// ByReason counts calls by why they went out (callReason names).
	ByReason map[string]int64 `json:"by_reason,omitempty"`
	Calls    int64            `json:"calls"`
	Records  int64            `json:"records"`
}

// Fill is the records per call as a share of size (0 when no call yet).
func (c CallSnapshot) Fill(size int) float64 {
	if c.Calls == 0 || size <= 0 {
		return 0
	}
	return float64(c.Records) / float64(c.Calls) / float64(size)
}

// Reasons lists the calls by why they went out, in CallReasons order:
// "full 498, drained 2".
func (c CallSnapshot) Reasons() string {
	var parts []string
	for _, k := range callReasonNames {
		if n := c.ByReason[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	return strings.Join(parts, ", ")
}

// Plus is the sum of c and d (several members' counts).
func (c CallSnapshot) Plus(d CallSnapshot) CallSnapshot {
	out := CallSnapshot{Calls: c.Calls + d.Calls, Records: c.Records + d.Records}
	for _, m := range []map[string]int64{c.ByReason, d.ByReason} {
		for k, n := range m {
			if out.ByReason == nil {
				out.ByReason = map[string]int64{}
			}
			out.ByReason[k] += n
		}
	}
	return out
}

func (s *callStats) snapshot() CallSnapshot {
	out := CallSnapshot{Records: s.records.Load()}
	for r := range numCallReasons {
		if n := s.calls[r].Load(); n > 0 {
			if out.ByReason == nil {
				out.ByReason = map[string]int64{}
			}
			out.ByReason[r.String()] = n
			out.Calls += n
		}
	}
	return out
}

// callMetrics are the Prometheus series of shared calls.
type callMetrics struct {
	calls   *prometheus.CounterVec
	records prometheus.Histogram
}

func newCallMetrics() callMetrics {
	return callMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "contactsync_sf_upsert_calls_total",
			Help: "Collections upsert calls, by why they went out (full, due, drained, held_out, stopping, isolated).",
		}, []string{"reason"}),
		records: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "contactsync_sf_upsert_call_records",
			Help:    "Records per Collections upsert call (batch fill; at most SYNC_BATCH_SIZE).",
			Buckets: []float64{1, 10, 50, 100, 150, 190, 199, 200},
		}),
	}
}

// call counts one call on m (nil = no metrics).
func (m *Metrics) call(r callReason, records int) {
	if m == nil {
		return
	}
	m.calls.calls.WithLabelValues(r.String()).Inc()
	m.calls.records.Observe(float64(records))
}
