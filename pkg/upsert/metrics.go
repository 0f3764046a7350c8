package upsert

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the upserter's Prometheus series (prefix contactsync_).
type Metrics struct {
	deltas     *prometheus.CounterVec
	batch      prometheus.Histogram
	partitions prometheus.Gauge
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
	reg.MustRegister(m.deltas, m.batch, m.partitions)
	return m
}
