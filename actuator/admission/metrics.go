package admission

import (
	"github.com/prometheus/client_golang/prometheus"
)

// DurationBuckets of the per-tier histograms start at 100µs so loopback
// latencies are resolved, and have edges at the tier objectives (100ms, 500ms).
var DurationBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1,
	0.15, 0.2, 0.25, 0.3, 0.5, 0.75, 1, 2.5, 5, 10,
}

// metrics are the andon_admission_* series of docs/contracts.md. Request
// counters are resolved once so the request path does not allocate.
type metrics struct {
	results    [numTiers + 1][numResults]prometheus.Counter
	queueWait  [numTiers + 1]prometheus.Observer
	duration   [numTiers + 1]prometheus.Observer
	queueDepth prometheus.Gauge
	inFlight   prometheus.Gauge
}

func (m *metrics) init(c *Controller, reg prometheus.Registerer) error {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "andon_admission_requests_total",
		Help: "Requests seen by the admission middleware, by priority tier and decision.",
	}, []string{"tier", "result"})
	queueWait := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "andon_admission_queue_wait_seconds",
		Help:    "Time admitted requests waited for a concurrency slot (0 when one was free), by priority tier.",
		Buckets: DurationBuckets,
	}, []string{"tier"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "andon_admission_request_duration_seconds",
		Help:    "Time from arrival to the end of the handler for admitted requests (queue wait included), by priority tier.",
		Buckets: DurationBuckets,
	}, []string{"tier"})
	for t := TierCritical; t <= TierBatch; t++ {
		tier := string('0' + byte(t))
		for r := Result(0); r < numResults; r++ {
			m.results[t][r] = requests.WithLabelValues(tier, r.String())
		}
		m.queueWait[t] = queueWait.WithLabelValues(tier)
		m.duration[t] = duration.WithLabelValues(tier)
	}
	m.queueDepth = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "andon_admission_queue_depth",
		Help: "Requests waiting for a concurrency slot.",
	})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "andon_admission_in_flight",
		Help: "Requests being served.",
	})
	if reg == nil {
		return nil
	}
	for _, col := range []prometheus.Collector{requests, queueWait, duration, m.queueDepth, m.inFlight, settingsCollector{c}} {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}

var (
	shedFractionDesc = prometheus.NewDesc("andon_admission_shed_fraction",
		"Fraction of total traffic being shed (0 when shedding is off).", nil, nil)
	settingActiveDesc = prometheus.NewDesc("andon_admission_setting_active",
		"1 when the admission setting is on.", []string{"setting"}, nil)
	settingExpiryDesc = prometheus.NewDesc("andon_admission_setting_expiry_timestamp_seconds",
		"Unix time at which the setting reverts unless renewed; 0 when off.", []string{"setting"}, nil)
)

// settingsCollector reads the settings at scrape time, so expired ones read as off
// even when no request passed since they expired.
type settingsCollector struct{ c *Controller }

func (s settingsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- shedFractionDesc
	ch <- settingActiveDesc
	ch <- settingExpiryDesc
}

func (s settingsCollector) Collect(ch chan<- prometheus.Metric) {
	st := s.c.State()
	fraction := 0.0
	var shed *Setting
	if st.Shed != nil {
		fraction, shed = st.Shed.Fraction, &st.Shed.Setting
	}
	ch <- prometheus.MustNewConstMetric(shedFractionDesc, prometheus.GaugeValue, fraction)
	for _, set := range []struct {
		name string
		s    *Setting
	}{{"shed", shed}, {"reject_new", st.RejectNew}, {"drain", st.Drain}} {
		active, expiry := 0.0, 0.0
		if set.s != nil {
			active, expiry = 1, float64(set.s.ExpiresAt.UnixNano())/1e9
		}
		ch <- prometheus.MustNewConstMetric(settingActiveDesc, prometheus.GaugeValue, active, set.name)
		ch <- prometheus.MustNewConstMetric(settingExpiryDesc, prometheus.GaugeValue, expiry, set.name)
	}
}
