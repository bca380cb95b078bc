package harness

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// LatencyBuckets are fine enough for loopback latencies and include the
// seed's thresholds (85 ms, 150 ms, 250 ms, 280 ms, 1 s) as exact bounds.
var LatencyBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.085,
	0.1, 0.15, 0.2, 0.25, 0.28, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 10, 30,
}

// liveMetrics is what a Prometheus scraping the harness during a run sees
// (names in docs/contracts.md). Its registry is also what the recorder samples.
// The request counters and gauges read the run's stats, so they are never
// counted twice.
type liveMetrics struct {
	reg      *prometheus.Registry
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec

	mu        sync.RWMutex
	observers map[obsKey]prometheus.Observer
}

type obsKey struct {
	op    opKey
	class string
}

func newLiveMetrics(s *stats) *liveMetrics {
	m := &liveMetrics{
		reg: prometheus.NewRegistry(),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mcp_client_operation_duration_seconds",
			Help:    "MCP request duration seen by the harness, from the intended start (coordinated-omission corrected).",
			Buckets: LatencyBuckets,
		}, []string{"mcp_method_name", "gen_ai_tool_name", "error_type", "tier"}),
		errors:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "andon_harness_errors_total", Help: "Failed requests by error class."}, []string{"class"}),
		observers: map[obsKey]prometheus.Observer{},
	}
	counter := func(name, help string, v *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	gauge := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	m.reg.MustRegister(m.duration,
		counter("andon_harness_requests_intended_total", "Requests the schedule asked for.", &s.intended),
		counter("andon_harness_requests_sent_total", "Requests actually sent.", &s.sent),

		counter("andon_harness_requests_late_total", "Requests sent later than the late threshold after their intended start.", &s.late),
		m.errors,
		gauge("andon_harness_in_flight", "Requests sent and not yet answered.", &s.inFlight),
		gauge("andon_harness_active_sessions", "Open MCP sessions (logical clients in the stateless era).", &s.sessions),
		gauge("andon_harness_open_connections", "TCP connections the harness holds open to the target.", &s.conns))
	for i, reason := range DropReasons {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "andon_harness_requests_dropped_total",
			Help:        "Scheduled requests never sent, by reason; intended = sent + dropped.",
			ConstLabels: prometheus.Labels{"reason": reason}}, func() float64 { return float64(s.dropped[i].Load()) }))
	}
	return m
}

// observe records one call; label lookups are cached per request class.
func (m *liveMetrics) observe(k opKey, d time.Duration, class string) {
	ok := obsKey{k, class}
	m.mu.RLock()
	o := m.observers[ok]
	m.mu.RUnlock()
	if o == nil {
		o = m.duration.WithLabelValues(k.Method, k.Name, class, tierLabel(k.Tier))
		m.mu.Lock()
		m.observers[ok] = o
		m.mu.Unlock()
	}
	o.Observe(d.Seconds())
	if class != "" {
		m.errors.WithLabelValues(class).Inc()
	}
}

// Handler serves the live metrics in the Prometheus text format.
func (m *liveMetrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
