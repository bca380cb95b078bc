package admission

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the andon_admission_* series of docs/contracts.md. Request
// counters are resolved once so the request path does not allocate.
type metrics struct {
	results    [numTiers + 1][numResults]prometheus.Counter
	queueDepth prometheus.Gauge
	inFlight   prometheus.Gauge
}

func (m *metrics) init(c *Controller, reg prometheus.Registerer) error {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "andon_admission_requests_total",
		Help: "Requests seen by the admission middleware, by priority tier and decision.",
	}, []string{"tier", "result"})
	for t := TierCritical; t <= TierBatch; t++ {
		for r := Result(0); r < numResults; r++ {
			m.results[t][r] = requests.WithLabelValues(string('0'+byte(t)), r.String())
		}
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
	for _, col := range []prometheus.Collector{requests, m.queueDepth, m.inFlight, settingsCollector{c}} {
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
