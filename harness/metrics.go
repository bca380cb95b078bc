package harness

import (
	"net/http"
	"sync"
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
type liveMetrics struct {
	reg      *prometheus.Registry
	duration *prometheus.HistogramVec
	intended prometheus.Counter
	sent     prometheus.Counter
	dropped  prometheus.Counter
	late     prometheus.Counter
	errors   *prometheus.CounterVec
	inFlight prometheus.GaugeFunc
	sessions prometheus.GaugeFunc

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
		intended:  prometheus.NewCounter(prometheus.CounterOpts{Name: "andon_harness_requests_intended_total", Help: "Requests the schedule asked for."}),
		sent:      prometheus.NewCounter(prometheus.CounterOpts{Name: "andon_harness_requests_sent_total", Help: "Requests actually sent."}),
		dropped:   prometheus.NewCounter(prometheus.CounterOpts{Name: "andon_harness_requests_dropped_total", Help: "Scheduled requests never sent: later than the timeout or the run ended."}),
		late:      prometheus.NewCounter(prometheus.CounterOpts{Name: "andon_harness_requests_late_total", Help: "Requests sent later than the late threshold after their intended start."}),
		errors:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "andon_harness_errors_total", Help: "Failed requests by error class."}, []string{"class"}),
		observers: map[obsKey]prometheus.Observer{},
	}
	m.inFlight = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "andon_harness_in_flight", Help: "Requests sent and not yet answered."},
		func() float64 { return float64(s.inFlight.Load()) })
	m.sessions = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "andon_harness_active_sessions", Help: "Open MCP sessions (logical clients in the stateless era)."},
		func() float64 { return float64(s.sessions.Load()) })
	m.reg.MustRegister(m.duration, m.intended, m.sent, m.dropped, m.late, m.errors, m.inFlight, m.sessions)
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
