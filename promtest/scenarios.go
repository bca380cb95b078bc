package promtest

import (
	"fmt"
	"math"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/andon-sre/andon/limits"
	"github.com/andon-sre/andon/rulegen"
)

// simulate builds sig's input following ps around threshold th and runs the alert of every
// level of sig over it.
func (g *generator) simulate(sig *limits.Signal, th, traffic float64, ps []phase) (*signalData, map[limits.Level][]bool, map[limits.Level][]float64, error) {
	d, err := buildSignal(g.tl, g.spec, sig, g.group, th, traffic, ps)
	if err != nil {
		return nil, nil, nil, err
	}
	horizon := time.Duration(len(ps)-1) * g.tl.interval
	firing, values := map[limits.Level][]bool{}, map[limits.Level][]float64{}
	for _, lv := range sig.Levels() {
		firing[lv], values[lv] = g.tl.run(d.condition(lv), g.spec.For(sig, lv), g.spec.KeepFiringFor(sig, lv), horizon)
	}
	return d, firing, values, nil
}

// signalTests: fires just past the threshold once `for` has elapsed and not one evaluation
// before (and every lower level fires too); silent just inside; silent when past it for less
// than `for`; clears `keep_firing_for` after coming back.
func (g *generator) signalTests(a *rulegen.Alert) ([]Group, error) {
	sig, l := a.Signal, a.Level
	th := a.Threshold
	traffic := g.rps(sig, th)
	long := a.Windows.Long.D()
	if sig.Kind == limits.KindGrowth {
		long = sig.Window.D()
	}
	n := nSamples(g.horizon(a.For+long), g.tl.interval)
	base := g.recordedLabels()

	// 1. Fires, and lower levels with it.
	d, firing, values, err := g.simulate(sig, th, traffic, phases(n, func(int) phase { return beyond }))
	if err != nil {
		return nil, err
	}
	fire := firstFiring(firing[l])
	if fire < 1 {
		return nil, fmt.Errorf("internal error: %s never fires in simulation at %s", a.Name, limits.FormatThreshold(sig, target(sig, th, beyond)))
	}
	last := fire
	for _, lv := range sig.Levels() {
		if f := firstFiring(firing[lv]); f > last {
			last = f
		}
	}
	fires := Group{
		Name: fmt.Sprintf("%s fires just %s its threshold (%s vs %s) once for (%s) has elapsed, not one evaluation before; lower levels fire too",
			a.Name, sig.Direction, limits.FormatThreshold(sig, target(sig, th, beyond)), limits.FormatThreshold(sig, th), dur(a.For)),
		Interval:    dur(g.tl.interval),
		InputSeries: toSeries(trim(d.series, g.sampleAt(last))),
	}
	for _, i := range []int{fire - 1, fire, last} {
		for _, lv := range sig.Levels() {
			at, err := g.assertAt(g.alertFor(sig, lv), base, firing[lv], values[lv], i)
			if err != nil {
				return nil, err
			}
			fires.AlertRuleTests = append(fires.AlertRuleTests, at)
		}
	}

	// 2. Silent just inside the threshold.
	d, firing, values, err = g.simulate(sig, th, traffic, phases(n, func(int) phase { return within }))
	if err != nil {
		return nil, err
	}
	quiet := Group{
		Name:        fmt.Sprintf("%s stays silent just inside its threshold (%s vs %s)", a.Name, limits.FormatThreshold(sig, target(sig, th, within)), limits.FormatThreshold(sig, th)),
		Interval:    dur(g.tl.interval),
		InputSeries: toSeries(trim(d.series, g.sampleAt(last+2))),
	}
	for _, i := range []int{fire, last + 2} {
		at, err := g.assertAt(a, base, firing[l], values[l], i)
		if err != nil {
			return nil, err
		}
		quiet.AlertRuleTests = append(quiet.AlertRuleTests, at)
	}
	if firstFiring(firing[l]) >= 0 {
		return nil, fmt.Errorf("internal error: %s fires in simulation just inside its threshold", a.Name)
	}

	// 3. Past the threshold for less than `for`: the longest excursion that must not fire.
	short, err := g.shortExcursion(a, traffic, n)
	if err != nil {
		return nil, err
	}
	groups := []Group{fires, quiet}
	if short != nil {
		groups = append(groups, *short)
	}

	// 4. Back inside: keeps firing for keep_firing_for, then clears.
	stop := g.sampleAt(fire) + 1
	d, firing, values, err = g.simulate(sig, th, traffic, phases(n+g.samplesIn(a.KeepFiringFor+long), func(k int) phase {
		if k <= stop {
			return beyond
		}
		return calm
	}))
	if err != nil {
		return nil, err
	}
	resolve := -1
	for i := fire; i < len(firing[l]); i++ {
		if !firing[l][i] {
			resolve = i
			break
		}
	}
	if resolve < 0 {
		return nil, fmt.Errorf("internal error: %s never clears in simulation", a.Name)
	}
	clears := Group{
		Name:        fmt.Sprintf("%s keeps firing for keep_firing_for (%s) once back under its threshold, then clears", a.Name, dur(a.KeepFiringFor)),
		Interval:    dur(g.tl.interval),
		InputSeries: toSeries(trim(d.series, g.sampleAt(resolve))),
	}
	for _, i := range []int{resolve - 1, resolve} {
		at, err := g.assertAt(a, base, firing[l], values[l], i)
		if err != nil {
			return nil, err
		}
		clears.AlertRuleTests = append(clears.AlertRuleTests, at)
	}
	return append(groups, clears), nil
}

// shortExcursion finds the longest stay past the threshold, shorter than `for`, after which
// the alert must stay silent, and asserts it does. There is none (nil) when `for` is a single
// scrape interval, or when the signal's rate window stretches every sampled excursion past `for`.
func (g *generator) shortExcursion(a *rulegen.Alert, traffic float64, n int) (*Group, error) {
	sig, l, th := a.Signal, a.Level, a.Threshold
	lead := 2 * g.samplesIn(a.Windows.Long.D()) // a settled, healthy start
	for k := g.samplesIn(a.For) - 1; k >= 1; k-- {
		ps := phases(lead+n, func(i int) phase {
			if i >= lead && i < lead+k {
				return beyond
			}
			return within
		})
		d, firing, values, err := g.simulate(sig, th, traffic, ps)
		if err != nil {
			return nil, err
		}
		if firstFiring(firing[l]) >= 0 {
			continue
		}
		end := len(firing[l]) - 1
		mid := g.evalAt(time.Duration(lead+k)*g.tl.interval + a.For)
		gr := Group{
			Name: fmt.Sprintf("%s stays silent when %s its threshold for %s, less than for (%s)",
				a.Name, sig.Direction, dur(time.Duration(k)*g.tl.interval), dur(a.For)),
			Interval:    dur(g.tl.interval),
			InputSeries: toSeries(d.series),
		}
		for _, i := range []int{min(mid, end), end} {
			at, err := g.assertAt(a, g.recordedLabels(), firing[l], values[l], i)
			if err != nil {
				return nil, err
			}
			gr.AlertRuleTests = append(gr.AlertRuleTests, at)
		}
		return &gr, nil
	}
	return nil, nil
}

// guardTest: a ratio far past every threshold at a trickle of traffic must not alert
// (3 requests with 1 error is not a 33%% outage).
func (g *generator) guardTest(sig *limits.Signal) (*Group, error) {
	ls := sig.Levels()
	if sig.MinRate.Value <= 0 || len(ls) == 0 {
		return nil, nil
	}
	top := ls[len(ls)-1]
	traffic := sig.MinRate.Value / 2
	if math.Round(traffic*g.tl.interval.Seconds()) < 2 {
		return nil, nil // too few requests per scrape to express a trickle with errors
	}
	var longest time.Duration
	for _, l := range ls {
		longest = max(longest, g.spec.For(sig, l)+g.spec.Levels.Get(l).Windows.Long.D())
	}
	n := nSamples(g.horizon(longest), g.tl.interval)
	// Half the requests fail: far past every threshold, but at a trickle.
	d, firing, values, err := g.simulate(sig, 0.5/(1+margin), traffic, phases(n, func(int) phase { return beyond }))
	if err != nil {
		return nil, err
	}
	gr := &Group{
		Name: fmt.Sprintf("%s%s stays silent at low traffic (%s req/s, min_rate %s) with 50%% errors: %s",
			limits.CamelCase(g.spec.Service), limits.CamelCase(sig.Name), limits.FormatNumber(traffic), limits.FormatNumber(sig.MinRate.Value),
			limits.JoinLevels(ls)),
		Interval:    dur(g.tl.interval),
		InputSeries: toSeries(d.series),
	}
	end := len(firing[top]) - 1
	for _, l := range ls {
		if firstFiring(firing[l]) >= 0 {
			return nil, fmt.Errorf("internal error: %s fires at low traffic in simulation", g.alertFor(sig, l).Name)
		}
		at, err := g.assertAt(g.alertFor(sig, l), g.recordedLabels(), firing[l], values[l], end)
		if err != nil {
			return nil, err
		}
		gr.AlertRuleTests = append(gr.AlertRuleTests, at)
	}
	return gr, nil
}

// burnTests: the burn-rate alert of one window pair fires just above its factor and not below.
// Every burn alert shares a name, so each assertion lists all window pairs firing then.
func (g *generator) burnTests(a *rulegen.Alert) ([]Group, error) {
	s, sig := g.spec, a.Signal
	budget := s.SLO.Budget()
	var burns []*rulegen.Alert
	for i := range g.res.Alerts {
		if g.res.Alerts[i].Kind == rulegen.AlertBurn {
			burns = append(burns, &g.res.Alerts[i])
		}
	}
	traffic := max(1e5*max(1, sig.MinRate.Value), g.rps(sig, a.Threshold*budget))
	var out []Group
	var fire int
	for _, p := range []phase{beyond, within} {
		ratio := a.Threshold * budget * map[phase]float64{beyond: 1 + margin, within: 1 - margin}[p]
		n := nSamples(g.horizon(a.For+a.Burn.Short.D()), g.tl.interval)
		// A ratio signal's threshold is given as the ratio wanted: build with threshold = ratio
		// and phase "at" so the input carries exactly that ratio.
		d, err := buildSignal(g.tl, s, sig, g.group, ratio/(1+margin), traffic, phases(n, func(int) phase { return beyond }))
		if err != nil {
			return nil, err
		}
		horizon := time.Duration(n-1) * g.tl.interval
		firing := map[*rulegen.Alert][]bool{}
		values := map[*rulegen.Alert][]float64{}
		for _, b := range burns {
			firing[b], values[b] = g.tl.run(d.burnCondition(b.Burn, budget, b.Threshold), b.For, b.KeepFiringFor, horizon)
		}
		if p == beyond {
			fire = firstFiring(firing[a])
			if fire < 1 {
				return nil, fmt.Errorf("internal error: %s (%s) never fires in simulation", a.Name, limits.BurnWindowName(a.Burn))
			}
		} else if firstFiring(firing[a]) >= 0 {
			return nil, fmt.Errorf("internal error: %s (%s) fires below its factor in simulation", a.Name, limits.BurnWindowName(a.Burn))
		}
		word := map[phase]string{beyond: "fires just above", within: "stays silent just below"}[p]
		gr := Group{
			Name: fmt.Sprintf("%s %s %s %s× burn (error ratio %s)", a.Name, limits.BurnWindowName(a.Burn), word,
				limits.FormatNumber(a.Threshold), limits.FormatNumber(ratio)),
			Interval:    dur(g.tl.interval),
			InputSeries: toSeries(trim(d.series, g.sampleAt(fire+1))),
		}
		times := []int{fire - 1, fire}
		if p == within {
			times = []int{fire, fire + 1}
		}
		for _, i := range times {
			at := AlertTest{EvalTime: dur(time.Duration(i) * g.tl.eval), Alertname: a.Name, ExpAlerts: []ExpAlert{}}
			for _, b := range burns {
				if firing[b][i] {
					e, err := g.expect(b, g.sloLabels(), values[b][i], time.Duration(i)*g.tl.eval)
					if err != nil {
						return nil, err
					}
					at.ExpAlerts = append(at.ExpAlerts, e)
				}
			}
			gr.AlertRuleTests = append(gr.AlertRuleTests, at)
		}
		out = append(out, gr)
	}
	return out, nil
}

// targetDownTests: up turns 0 and the alert fires once for has elapsed.
func (g *generator) targetDownTests(a *rulegen.Alert) ([]Group, error) {
	up, err := g.spec.MetricSelector("up")
	if err != nil {
		return nil, err
	}
	lbls, err := seriesLabels(up, g.group)
	if err != nil {
		return nil, err
	}
	down := 4
	n := nSamples(g.horizon(a.For)+time.Duration(down)*g.tl.interval, g.tl.interval)
	s := make(samples, n)
	for k := range s {
		s[k] = map[bool]float64{true: 1, false: 0}[k < down]
	}
	in := inputSeries{name: "up", labels: lbls, s: s}
	firing, values := g.tl.run(func(t time.Duration) (bool, float64) {
		v, ok := g.tl.last(s, t)
		return ok && v == 0, v
	}, a.For, 0, time.Duration(n-1)*g.tl.interval)
	fire := firstFiring(firing)
	if fire < 1 {
		return nil, fmt.Errorf("internal error: %s never fires in simulation", a.Name)
	}
	gr := Group{
		Name:        fmt.Sprintf("%s fires when up is 0 for %s, not one evaluation before", a.Name, dur(a.For)),
		Interval:    dur(g.tl.interval),
		InputSeries: toSeries([]inputSeries{in}),
	}
	for _, i := range []int{down - 1, fire - 1, fire} {
		at, err := g.assertAt(a, lbls, firing, values, i)
		if err != nil {
			return nil, err
		}
		gr.AlertRuleTests = append(gr.AlertRuleTests, at)
	}
	return []Group{gr}, nil
}

// absentTests: the signal's series vanish and the alert fires once the 5m lookback and for
// have passed.
func (g *generator) absentTests(a *rulegen.Alert) ([]Group, error) {
	sel := a.Selector
	lbls, err := seriesLabels(sel, g.group)
	if err != nil {
		return nil, err
	}
	present := 4
	n := nSamples(g.horizon(lookback+a.For)+time.Duration(present)*g.tl.interval, g.tl.interval)
	s := make(samples, n)
	for k := range s {
		s[k] = math.NaN()
		if k < present {
			s[k] = 1
		}
	}
	firing, values := g.tl.run(func(t time.Duration) (bool, float64) {
		_, ok := g.tl.last(s, t)
		return !ok, 1
	}, a.For, 0, time.Duration(n-1)*g.tl.interval)
	fire := firstFiring(firing)
	if fire < 1 {
		return nil, fmt.Errorf("internal error: %s never fires in simulation", a.Name)
	}
	base := map[string]string{}
	for _, m := range sel.LabelMatchers {
		if m.Type == labels.MatchEqual && m.Name != labels.MetricName { // absent() keeps equality matchers' labels
			base[m.Name] = m.Value
		}
	}
	// Every other absent alert's series stays present, so only this one fires.
	ins := []inputSeries{{name: sel.Name, labels: lbls, s: s}}
	for i := range g.res.Alerts {
		o := &g.res.Alerts[i]
		if o.Kind != rulegen.AlertAbsent || o == a {
			continue
		}
		osel := o.Selector
		ol, err := seriesLabels(osel, g.group)
		if err != nil {
			return nil, err
		}
		ones := make(samples, n)
		for k := range ones {
			ones[k] = 1
		}
		ins = append(ins, inputSeries{name: osel.Name, labels: ol, s: ones})
	}
	gr := Group{
		Name:        fmt.Sprintf("%s fires for %s when its series vanish for the lookback (5m) plus for (%s)", a.Name, sel.Name, dur(a.For)),
		Interval:    dur(g.tl.interval),
		InputSeries: toSeries(ins),
	}
	for _, i := range []int{present, fire - 1, fire} {
		at, err := g.assertAt(a, base, firing, values, i)
		if err != nil {
			return nil, err
		}
		gr.AlertRuleTests = append(gr.AlertRuleTests, at)
	}
	return []Group{gr}, nil
}

func (g *generator) samplesIn(d time.Duration) int { return int(d / g.tl.interval) }

// sampleAt is the index of the last sample at or before eval index i.
func (g *generator) sampleAt(i int) int { return int(time.Duration(i) * g.tl.eval / g.tl.interval) }

// evalAt is the eval index at or after t.
func (g *generator) evalAt(t time.Duration) int { return int((t + g.tl.eval - 1) / g.tl.eval) }

// trim keeps the samples up to index k (inclusive) of every series: shorter test files.
func trim(ins []inputSeries, k int) []inputSeries {
	out := make([]inputSeries, len(ins))
	for i, in := range ins {
		out[i] = in.trim(k)
	}
	return out
}
