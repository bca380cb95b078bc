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
	recurrences   *prometheus.CounterVec
	open          *prometheus.Desc
	openSince     *prometheus.Desc
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
		recurrences: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRecurrences, Help: "Andons opened within 30 days after an andon of the same sku and failure type.",
		}, []string{"sku", "type"}),
		open:      prometheus.NewDesc(MetricOpen, "Open andons, by sku and failure type.", []string{"sku", "type"}, nil),
		openSince: prometheus.NewDesc(MetricOpenSince, "When the oldest open andon of the sku was opened: how long the sku has been blocked.", []string{"sku"}, nil),
		blocked:   prometheus.NewDesc("andon_blocked_seconds_total", "Seconds the sku has been blocked by at least one open andon.", []string{"sku"}, nil),
		store:     store,
	}
	for _, t := range FailureTypes {
		m.triggered.WithLabelValues(string(t))
		m.resolved.WithLabelValues(string(t))
	}
	reg.MustRegister(m.triggered, m.resolved, m.timeToResolve, m.recurrences, m)
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.open
	ch <- m.openSince
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
	open, err := listAndons(ctx, m.store, Filter{Status: StatusOpen, Limit: 1 << 20})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(m.openSince, err)
		return
	}
	oldest := map[string]time.Time{}
	for _, a := range open {
		if t, ok := oldest[a.SKU]; !ok || a.OpenedAt.Before(t) {
			oldest[a.SKU] = a.OpenedAt
		}
	}
	for sku, t := range oldest {
		ch <- prometheus.MustNewConstMetric(m.openSince, prometheus.GaugeValue, float64(t.UnixMilli())/1000, sku)
	}
}
