package andon

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the ledger's series (names in docs/contracts.md). Open andons
// and blocked seconds are read from the store at scrape time, so they are
// right after a restart and include changes made by the CLI.
type Metrics struct {
	triggered     *prometheus.CounterVec
	resolved      *prometheus.CounterVec
	timeToResolve prometheus.Histogram
	open          *prometheus.Desc
	blocked       *prometheus.Desc
	store         Store
}

// NewMetrics registers the ledger metrics for store on reg.
func NewMetrics(reg prometheus.Registerer, store Store) *Metrics {
	m := &Metrics{
		triggered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "andon_triggered_total", Help: "Andons opened, by failure type."}, []string{"type"}),
		resolved:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "andon_resolved_total", Help: "Andons resolved, by failure type."}, []string{"type"}),
		timeToResolve: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "andon_time_to_resolve_seconds", Help: "Time from opening an andon to its resolution.",
			Buckets: []float64{60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400},
		}),
		open:    prometheus.NewDesc("andon_open", "Open andons, by sku and failure type.", []string{"sku", "type"}, nil),
		blocked: prometheus.NewDesc("andon_blocked_seconds_total", "Seconds the sku has been blocked by at least one open andon.", []string{"sku"}, nil),
		store:   store,
	}
	for _, t := range FailureTypes {
		m.triggered.WithLabelValues(string(t))
		m.resolved.WithLabelValues(string(t))
	}
	reg.MustRegister(m.triggered, m.resolved, m.timeToResolve, m)
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.open
	ch <- m.blocked
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := m.store.Stats(ctx, time.Now())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(m.open, err)
		return
	}
	for _, c := range st.Open {
		ch <- prometheus.MustNewConstMetric(m.open, prometheus.GaugeValue, float64(c.Count), c.SKU, string(c.Type))
	}
	for sku, s := range st.Blocked {
		ch <- prometheus.MustNewConstMetric(m.blocked, prometheus.CounterValue, s, sku)
	}
}
