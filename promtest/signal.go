package promtest

import (
	"fmt"
	"math"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/andon-sre/andon/limits"
)

// signalData is the synthetic input of one signal and how to read its value back the way the
// generated recording rules do.
type signalData struct {
	tl      timeline
	spec    *limits.Spec
	sig     *limits.Signal
	series  []inputSeries
	errs    []samples // ratio: series matching the errors selector
	total   []samples // ratio: series matching the total selector
	buckets []bucket  // latency
	raw     samples   // gauge, rate, growth

	noEventGuard bool // simulate the alerts without their min_events guard: what it prevents
}

// target gives the signal's intended value for a phase, around threshold t.
func target(sig *limits.Signal, t float64, p phase) float64 {
	up := sig.Direction == limits.Above
	switch p {
	case beyond:
		if t == 0 {
			return map[bool]float64{true: 1, false: -1}[up]
		}
		return t * map[bool]float64{true: 1 + margin, false: 1 - margin}[up]
	case within:
		return t * map[bool]float64{true: 1 - margin, false: 1 + margin}[up]
	}
	if sig.Kind == limits.KindRatio || sig.Kind == limits.KindGrowth {
		return 0
	}
	return t * map[bool]float64{true: 0.5, false: 1.5}[up]
}

// buildSignal makes the input series of sig following ps around threshold t, with traffic rps
// requests per second where the signal counts requests.
func buildSignal(tl timeline, spec *limits.Spec, sig *limits.Signal, group map[string]string, t, rps float64, ps []phase) (*signalData, error) {
	d := &signalData{tl: tl, spec: spec, sig: sig}
	// Whole requests per interval: integer counters expand exactly in promtool.
	perInterval := math.Max(1, math.Round(rps*tl.interval.Seconds()))
	mask := func(s samples) samples {
		for k, p := range ps {
			if p == gone {
				s[k] = math.NaN()
			}
		}
		return s
	}
	add := func(ref string, s samples, name string) (*parser.VectorSelector, error) {
		vs, err := spec.MetricSelector(ref)
		if err != nil {
			return nil, err
		}
		lbls, err := seriesLabels(vs, group)
		if err != nil {
			return nil, err
		}
		if name == "" {
			name = vs.Name
		}
		d.series = append(d.series, inputSeries{name: name, labels: lbls, s: mask(s)})
		return vs, nil
	}
	switch sig.Kind {
	case limits.KindRatio:
		errInc, totInc := make([]float64, len(ps)), make([]float64, len(ps))
		for k, p := range ps {
			totInc[k] = perInterval
			errInc[k] = math.Round(target(sig, t, p) * perInterval)
		}
		if err := d.addRatio(group, errInc, totInc, mask); err != nil {
			return nil, err
		}
	case limits.KindLatency:
		les := []float64{0.7 * t, 0.9 * t, 1.1 * t, 1.3 * t, math.Inf(1)}
		pick := map[phase]int{beyond: 2, within: 1, calm: 0}
		if sig.Direction == limits.Below {
			pick = map[phase]int{beyond: 1, within: 2, calm: 3}
		}
		vs, err := spec.MetricSelector(sig.Histogram)
		if err != nil {
			return nil, err
		}
		native := &nativeBuckets{bounds: les[:len(les)-1]}
		for i, le := range les {
			incs := make([]float64, len(ps))
			for k, p := range ps {
				if pick[p] <= i {
					incs[k] = perInterval
				}
			}
			s := mask(counter(counterBase, incs))
			d.buckets = append(d.buckets, bucket{le: le, s: s})
			native.cum = append(native.cum, s)
			if sig.Native {
				continue
			}
			lbls, err := seriesLabels(vs, group)
			if err != nil {
				return nil, err
			}
			lbls["le"] = limits.FormatNumber(le)
			d.series = append(d.series, inputSeries{name: vs.Name + "_bucket", labels: lbls, s: s})
		}
		if sig.Native {
			// One native histogram series with the same buckets: histogram_quantile interpolates
			// custom buckets linearly, as it does classic ones, so the simulation is the same.
			lbls, err := seriesLabels(vs, group)
			if err != nil {
				return nil, err
			}
			d.series = append(d.series, inputSeries{name: vs.Name, labels: lbls, s: native.cum[len(les)-1], native: native})
		}
	case limits.KindGauge:
		s := make(samples, len(ps))
		for k, p := range ps {
			s[k] = target(sig, t, p)
		}
		if _, err := add(sig.Metric, s, ""); err != nil {
			return nil, err
		}
		d.raw = s
	case limits.KindRate:
		perSec := map[limits.Unit]float64{limits.UnitPercent: sig.Cores / 100, limits.UnitRatio: sig.Cores}[sig.Unit]
		if perSec == 0 {
			perSec = 1
		}
		incs := make([]float64, len(ps))
		for k, p := range ps {
			incs[k] = target(sig, t, p) * perSec * tl.interval.Seconds()
		}
		s := counter(counterBase, incs)
		if _, err := add(sig.Metric, s, ""); err != nil {
			return nil, err
		}
		d.raw = s
	case limits.KindGrowth:
		incs := make([]float64, len(ps))
		for k, p := range ps {
			incs[k] = target(sig, t, p) * tl.interval.Seconds()
		}
		s := counter(gaugeBase, incs)
		if _, err := add(sig.Metric, s, ""); err != nil {
			return nil, err
		}
		d.raw = s
	}
	return d, nil
}

// buildRatio makes the input series of ratio signal sig from per-interval increments of its
// errors and total counters.
func buildRatio(tl timeline, spec *limits.Spec, sig *limits.Signal, group map[string]string, errInc, totInc []float64) (*signalData, error) {
	d := &signalData{tl: tl, spec: spec, sig: sig}
	return d, d.addRatio(group, errInc, totInc, func(s samples) samples { return s })
}

// addRatio adds the counters of a ratio signal. Errors and total with different metric names are
// two series; where errors are a subset of total (one metric, a label tells failures apart) they
// are one series of failures and one of successes.
func (d *signalData) addRatio(group map[string]string, errInc, totInc []float64, mask func(samples) samples) error {
	spec, sig := d.spec, d.sig
	errS, totS := counter(counterBase/100, errInc), counter(counterBase, totInc)
	errVS, err := spec.MetricSelector(sig.Errors)
	if err != nil {
		return err
	}
	totVS, err := spec.MetricSelector(sig.Total)
	if err != nil {
		return err
	}
	errLabels, err := seriesLabels(errVS, group)
	if err != nil {
		return err
	}
	d.series = append(d.series, inputSeries{name: errVS.Name, labels: errLabels, s: mask(errS)})
	if errVS.Name != totVS.Name {
		totLabels, err := seriesLabels(totVS, group)
		if err != nil {
			return err
		}
		d.series = append(d.series, inputSeries{name: totVS.Name, labels: totLabels, s: mask(totS)})
		d.errs, d.total = []samples{errS}, []samples{totS}
		return nil
	}
	okS := make(samples, len(totS))
	for k := range totS {
		okS[k] = totS[k] - errS[k]
	}
	okLabels, ok := violates(errVS, errLabels)
	if !ok {
		return fmt.Errorf("signal %s: cannot build a successful-request series that the errors selector %s does not match", sig.Name, sig.Errors)
	}
	d.series = append(d.series, inputSeries{name: totVS.Name, labels: okLabels, s: mask(okS)})
	d.errs, d.total = []samples{errS}, []samples{errS, okS}
	return nil
}

func (d *signalData) sumRates(ss []samples, t, w time.Duration) (float64, bool) {
	sum, any := 0.0, false
	for _, s := range ss {
		if r, ok := d.tl.rate(s, t, w); ok {
			sum, any = sum+r, true
		}
	}
	return sum, any
}

// value is the recorded value of the signal at t over window w (w unused for gauges).
func (d *signalData) value(t, w time.Duration) (float64, bool) {
	sig := d.sig
	switch sig.Kind {
	case limits.KindRatio:
		tot, ok := d.sumRates(d.total, t, w)
		if !ok || tot <= 0 {
			return 0, false
		}
		errs, _ := d.sumRates(d.errs, t, w)
		return errs / tot, true
	case limits.KindLatency:
		return d.tl.quantile(sig.Quantile, d.buckets, t, w)
	case limits.KindGauge:
		return d.tl.last(d.raw, t)
	case limits.KindRate:
		r, ok := d.tl.rate(d.raw, t, w)
		switch sig.Unit {
		case limits.UnitPercent:
			r = r * 100 / sig.Cores
		case limits.UnitRatio:
			r /= sig.Cores
		}
		return r, ok
	case limits.KindGrowth:
		return d.tl.deriv(d.raw, t, sig.Window.D())
	}
	return 0, false
}

func beyondThreshold(sig *limits.Signal, v, t float64) bool {
	if sig.Direction == limits.Below {
		return v < t
	}
	return v > t
}

// condition is the generated alert expression of sig at level l, on this input.
func (d *signalData) condition(l limits.Level) condition {
	sig, spec := d.sig, d.spec
	th := sig.Thresholds.Get(l).Value.Value
	if !sig.Windowed() {
		return func(t time.Duration) (bool, float64) {
			v, ok := d.value(t, 0)
			return ok && beyondThreshold(sig, v, th), v
		}
	}
	ws := spec.Levels.Get(l).Windows
	return func(t time.Duration) (bool, float64) {
		short, ok1 := d.value(t, ws.Short.D())
		long, ok2 := d.value(t, ws.Long.D())
		holds := ok1 && ok2 && beyondThreshold(sig, short, th) && beyondThreshold(sig, long, th)
		if holds && sig.Kind == limits.KindRatio {
			holds = d.evidence(t, ws.Long.D(), sig.MinEvents.Value)
		}
		return holds, short
	}
}

// evidence is the significance guard of a ratio or burn alert over long window w: traffic at
// min_rate or more, and at least minEvents failures seen (the errors' rate × the window's sampled
// span, rounded as PromQL's round() does).
func (d *signalData) evidence(t, w time.Duration, minEvents float64) bool {
	tot, ok := d.sumRates(d.total, t, w)
	if !ok || tot < d.sig.MinRate.Value {
		return false
	}
	if d.noEventGuard {
		return true
	}
	errs, _ := d.sumRates(d.errs, t, w)
	return math.Floor(errs*d.spec.SampledSpan(w).Seconds()+0.5) >= minEvents
}

// burnCondition is the burn-rate alert of window bw on this input (a ratio signal).
func (d *signalData) burnCondition(bw *limits.BurnWindow, budget, factor float64) condition {
	return func(t time.Duration) (bool, float64) {
		long, ok1 := d.value(t, bw.Long.D())
		short, ok2 := d.value(t, bw.Short.D())
		burnLong, burnShort := long/budget, short/budget
		return ok1 && ok2 && burnLong > factor && burnShort > factor && d.evidence(t, bw.Long.D(), d.spec.SLO.MinEvents.Value), burnLong
	}
}
