package upsert

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the upserter's Prometheus series (prefix contactsync_).
type Metrics struct {
	deltas     *prometheus.CounterVec
	batch      prometheus.Histogram
	partitions prometheus.Gauge
	delay      prometheus.Gauge
	projected  prometheus.Gauge
	exhausted  prometheus.Gauge
	calls      callMetrics
}

// budget publishes the freshness budget and the API forecast.
func (m *Metrics) budget(f forecast) {
	if m == nil {
		return
	}
	m.delay.Set(f.Delay.Seconds())
	m.projected.Set(f.ProjectedShare)
	m.exhausted.Set(f.ExhaustedIn.Seconds())
}

// NewMetrics registers the upserter's series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		deltas: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "contactsync_deltas_total", Help: "Deltas that reached a final outcome, by segment and outcome.",
		}, []string{"segment", "outcome"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "contactsync_batch_seconds", Help: "Time to process one batch, fetch to ack.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		partitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "contactsync_partitions_owned", Help: "Partitions this process currently consumes.",
		}),
	}
	m.delay = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "contactsync_freshness_budget_seconds", Help: "How long a Salesforce call may wait to fill up now (SYNC_MAX_DELAY, stretched under API pressure).",
	})
	m.projected = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "contactsync_sf_api_projected_daily_ratio", Help: "The org's recent API call rate projected over a day, as a share of the daily allocation.",
	})
	m.exhausted = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "contactsync_sf_api_exhausted_in_seconds", Help: "When the daily API allocation runs out at the recent rate (0 = not in sight).",
	})
	m.calls = newCallMetrics()
	reg.MustRegister(m.deltas, m.batch, m.partitions, m.delay, m.projected, m.exhausted, m.calls.calls, m.calls.records)
	return m
}
