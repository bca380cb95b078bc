package promtest

import (
	"math"
	"sort"
	"time"
)

// The simulator evaluates, on the synthetic input of one test, what Prometheus will compute: the
// rate of counters (with Prometheus' extrapolation), histogram quantiles, derivatives, gauges
// under the 5m lookback, and the alert state machine with `for` and `keep_firing_for`. The
// generator asserts what the simulator predicts and promtool checks it against the real engine,
// so a wrong rule or a wrong simulator both fail `andon test`.

const lookback = 5 * time.Minute

// samples holds one series' values at k × interval; NaN is a missing sample.
type samples []float64

// timeline is the sampling and evaluation clock of one test.
type timeline struct {
	interval time.Duration // input series interval
	eval     time.Duration // rule evaluation interval
}

// window returns the indexes of the samples of s in the left-open window (t−w, t].
func (tl timeline) window(s samples, t, w time.Duration) []int {
	var idx []int
	for k, v := range s {
		ts := time.Duration(k) * tl.interval
		if ts > t {
			break
		}
		if ts > t-w && !math.IsNaN(v) {
			idx = append(idx, k)
		}
	}
	return idx
}

// rate is Prometheus' extrapolatedRate for a counter; ok is false with fewer than two samples in
// the window. A drop is a counter reset (a restarted process): the value before it is added back.
func (tl timeline) rate(s samples, t, w time.Duration) (float64, bool) {
	idx := tl.window(s, t, w)
	if len(idx) < 2 {
		return 0, false
	}
	first, last := idx[0], idx[len(idx)-1]
	delta := s[last] - s[first]
	for i := 1; i < len(idx); i++ {
		if prev := s[idx[i-1]]; s[idx[i]] < prev {
			delta += prev
		}
	}
	firstT, lastT := secs(time.Duration(first)*tl.interval), secs(time.Duration(last)*tl.interval)
	start, end := secs(t-w), secs(t)
	sampled := lastT - firstT
	avg := sampled / float64(len(idx)-1)
	toStart, toEnd := firstT-start, end-lastT
	threshold := avg * 1.1
	if toStart >= threshold {
		toStart = avg / 2
	}
	if delta > 0 && s[first] >= 0 {
		if toZero := sampled * (s[first] / delta); toZero < toStart {
			toStart = toZero
		}
	}
	if toEnd >= threshold {
		toEnd = avg / 2
	}
	return delta * ((sampled + toStart + toEnd) / sampled) / secs(w), true
}

// deriv is the least-squares slope per second of the samples in the window.
func (tl timeline) deriv(s samples, t, w time.Duration) (float64, bool) {
	idx := tl.window(s, t, w)
	if len(idx) < 2 {
		return 0, false
	}
	var n, sx, sy, sxx, sxy float64
	for _, k := range idx {
		x, y := secs(time.Duration(k)*tl.interval-t), s[k]
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx), true
}

// last is the value of a gauge at t: its newest sample within the lookback.
func (tl timeline) last(s samples, t time.Duration) (float64, bool) {
	idx := tl.window(s, t, lookback)
	if len(idx) == 0 {
		return 0, false
	}
	return s[idx[len(idx)-1]], true
}

// bucket is one cumulative histogram bucket series.
type bucket struct {
	le float64
	s  samples
}

// quantile is histogram_quantile(q, sum by (le) (rate(bucket[w]))) over classic bucket series,
// one or more per le: rates are taken per series, then summed per le, as PromQL does.
func (tl timeline) quantile(q float64, bs []bucket, t, w time.Duration) (float64, bool) {
	byLe := map[float64]float64{}
	for _, b := range bs {
		if r, ok := tl.rate(b.s, t, w); ok {
			byLe[b.le] += r
		}
	}
	rates := make([]leRate, 0, len(byLe))
	for le, r := range byLe {
		rates = append(rates, leRate{le, r})
	}
	return quantileOfRates(q, rates)
}

type leRate struct{ le, rate float64 }

// quantileOfRates interpolates a quantile in cumulative bucket rates the way
// histogram_quantile does; without a +Inf bucket or traffic there is no value (NaN in PromQL).
func quantileOfRates(q float64, rates []leRate) (float64, bool) {
	sort.Slice(rates, func(i, j int) bool { return rates[i].le < rates[j].le })
	n := len(rates)
	if n < 2 || !math.IsInf(rates[n-1].le, 1) || rates[n-1].rate == 0 {
		return 0, false
	}
	rank := q * rates[n-1].rate
	i := sort.Search(n-1, func(i int) bool { return rates[i].rate >= rank })
	if i == n-1 {
		return rates[n-2].le, true
	}
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = rates[i-1].le, rates[i-1].rate
	}
	if in := rates[i].rate - below; in > 0 {
		return lower + (rates[i].le-lower)*((rank-below)/in), true
	}
	return rates[i].le, true
}

func secs(d time.Duration) float64 { return d.Seconds() }

// condition is an alert's expression at eval time t: whether it holds, and its $value.
type condition func(t time.Duration) (bool, float64)

// alertState is Prometheus' alert state machine for one alert (one label set).
type alertState struct {
	forDur, keepFiring time.Duration

	activeAt, keepSince time.Duration
	active, firing      bool
	value               float64
}

// step advances the alert to eval time t and reports whether it fires there.
func (a *alertState) step(t time.Duration, holds bool, v float64) bool {
	if holds {
		a.keepSince = -1
		a.value = v
		if !a.active {
			a.active, a.activeAt = true, t
		}
		if !a.firing && t-a.activeAt >= a.forDur {
			a.firing = true
		}
		return a.firing
	}
	if a.firing && a.keepFiring > 0 {
		if a.keepSince < 0 {
			a.keepSince = t
		}
		if t-a.keepSince < a.keepFiring {
			return true
		}
	}
	a.active, a.firing = false, false
	return false
}

// run evaluates cond at every eval time up to horizon and returns, per eval index, whether the
// alert fires and its $value.
func (tl timeline) run(cond condition, forDur, keepFiring, horizon time.Duration) ([]bool, []float64) {
	return tl.runFrom(cond, forDur, keepFiring, 0, horizon)
}

// runFrom is run from eval time from on, with the alert inactive there (the caller knows the
// condition cannot hold before): long histories need not be simulated from their start.
// Index i of the results is eval time from + i × eval.
func (tl timeline) runFrom(cond condition, forDur, keepFiring, from, horizon time.Duration) ([]bool, []float64) {
	st := &alertState{forDur: forDur, keepFiring: keepFiring, keepSince: -1}
	var firing []bool
	var values []float64
	for t := from; t <= horizon; t += tl.eval {
		holds, v := cond(t)
		firing = append(firing, st.step(t, holds, v))
		values = append(values, st.value)
	}
	return firing, values
}
