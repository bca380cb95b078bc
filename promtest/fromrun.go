package promtest

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/andon-sre/andon/limits"
	"github.com/andon-sre/andon/rulegen"
)

// Observed is what a load run saw: series sampled on a grid, sample k at k × Interval from the
// start of the run (the harness's recording, see harness.Recording).
type Observed struct {
	Interval time.Duration
	Series   []ObservedSeries
}

// ObservedSeries is one recorded series: its labels with the metric name in __name__, and its
// value at each step of the grid (NaN where it had no sample).
type ObservedSeries struct {
	Labels map[string]string
	Values []float64
}

// FromRunOptions tune FromRun.
type FromRunOptions struct {
	// Labels are added to every observed series that lacks them: what Prometheus would attach
	// at scrape time. By default the spec selector's equality matchers (e.g. job) and
	// "andon-run" for every group_by label (e.g. instance).
	Labels map[string]string
}

// FromRun builds a promtool test from an observed run. The input series are the observed
// samples as they were; the expected alerts are computed from the same values by the simulator
// (Prometheus' rate, histogram_quantile and alert state machine), independently of the rule
// files under test: an alert whose condition held for its `for` must fire at the first
// evaluation the simulator says it does and not one evaluation before; an alert whose condition
// never held must stay silent. It returns the test file and notes on what it could not assert.
func FromRun(res *rulegen.Result, rulesFile string, obs Observed, opts FromRunOptions) (*File, []string, error) {
	spec := res.Spec
	if obs.Interval <= 0 || len(obs.Series) == 0 {
		return nil, nil, fmt.Errorf("the observed run has no series (interval %s)", obs.Interval)
	}
	steps := len(obs.Series[0].Values)
	g := &generator{res: res, spec: spec, tl: timeline{interval: obs.Interval, eval: spec.EvaluationInterval.D()}, group: map[string]string{}}
	extra, err := scrapeLabels(spec, opts.Labels)
	if err != nil {
		return nil, nil, err
	}
	for _, l := range spec.GroupBy {
		g.group[l] = extra[l]
	}
	series := make([]inputSeries, 0, len(obs.Series))
	for i, s := range obs.Series {
		if len(s.Values) != steps {
			return nil, nil, fmt.Errorf("observed series %d has %d samples, the first has %d: all must share the grid", i, len(s.Values), steps)
		}
		in := inputSeries{name: s.Labels[labels.MetricName], labels: map[string]string{}, s: samples(s.Values)}
		for k, v := range s.Labels {
			if k != labels.MetricName {
				in.labels[k] = v
			}
		}
		for k, v := range extra {
			if _, ok := in.labels[k]; !ok {
				in.labels[k] = v
			}
		}
		series = append(series, in)
	}

	var notes []string
	used := map[int]bool{}
	group := Group{Name: fmt.Sprintf("observed run: %d samples every %s", steps, dur(obs.Interval)), Interval: dur(obs.Interval)}
	horizon := time.Duration(steps-1) * obs.Interval
	for i := range res.Alerts {
		a := &res.Alerts[i]
		if a.Kind != rulegen.AlertSignal {
			continue // burn, absent and target-down alerts need more than a load run shows
		}
		cond, idx, err := observedCondition(g, a, series)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: not asserted: %v", a.Name, err))
			continue
		}
		for _, k := range idx {
			used[k] = true
		}
		firing, values := g.tl.run(cond, a.For, a.KeepFiringFor, horizon)
		base := g.recordedLabels()
		if fire := firstFiring(firing); fire >= 0 {
			if fire > 0 {
				before, _ := g.assertAt(a, base, firing, values, fire-1)
				group.AlertRuleTests = append(group.AlertRuleTests, before)
			}
			at, err := g.assertAt(a, base, firing, values, fire)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", a.Name, err)
			}
			group.AlertRuleTests = append(group.AlertRuleTests, at)
			continue
		}
		// Never fired: silent half-way and at the last evaluation.
		last := len(firing) - 1
		for _, k := range []int{last / 2, last} {
			at, _ := g.assertAt(a, base, firing, values, k)
			group.AlertRuleTests = append(group.AlertRuleTests, at)
		}
	}
	if len(group.AlertRuleTests) == 0 {
		return nil, notes, fmt.Errorf("no alert of %s could be asserted on this run (is --scrape-target recorded? are the spec's metric names in it?)", spec.Service)
	}
	var in []inputSeries
	for k, s := range series {
		if used[k] {
			in = append(in, s)
		}
	}
	sort.Slice(in, func(i, j int) bool { return in[i].String() < in[j].String() })
	group.InputSeries = toSeries(in)
	return &File{RuleFiles: []string{rulesFile}, EvaluationInterval: dur(g.tl.eval), Tests: []Group{group}}, notes, nil
}

// scrapeLabels are the labels every observed series gets when it lacks them.
func scrapeLabels(spec *limits.Spec, given map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for _, l := range spec.GroupBy {
		out[l] = "andon-run"
	}
	vs, err := spec.MetricSelector("andon_observed")
	if err != nil {
		return nil, err
	}
	for _, m := range vs.LabelMatchers {
		if m.Type == labels.MatchEqual && m.Name != labels.MetricName {
			out[m.Name] = m.Value
		}
	}
	for k, v := range given {
		out[k] = v
	}
	return out, nil
}

// observedCondition returns alert a's expression evaluated on the observed series, and which
// series it reads: the simulator's own signal data over the observed series (several bucket
// series per le for latency, summed as PromQL does).
func observedCondition(g *generator, a *rulegen.Alert, series []inputSeries) (condition, []int, error) {
	sig, spec := a.Signal, g.spec
	match := func(ref, suffix string) ([]int, error) {
		vs, err := spec.MetricSelector(ref)
		if err != nil {
			return nil, err
		}
		var idx []int
		for k, s := range series {
			if s.name == vs.Name+suffix && matchesAll(vs, s.labels) {
				idx = append(idx, k)
			}
		}
		if len(idx) == 0 {
			return nil, fmt.Errorf("the run recorded no series matching %s%s", vs, suffix)
		}
		return idx, nil
	}
	pick := func(idx []int) []samples {
		out := make([]samples, len(idx))
		for i, k := range idx {
			out[i] = series[k].s
		}
		return out
	}
	switch sig.Kind {
	case limits.KindRatio:
		tot, err := match(sig.Total, "")
		if err != nil {
			return nil, nil, err
		}
		errs, _ := match(sig.Errors, "") // no error series yet: a ratio of 0
		d := &signalData{tl: g.tl, spec: spec, sig: sig, errs: pick(errs), total: pick(tot)}
		return d.condition(a.Level), append(tot, errs...), nil
	case limits.KindLatency:
		if sig.Native {
			return nil, nil, fmt.Errorf("native histograms are not recorded by the harness")
		}
		idx, err := match(sig.Histogram, "_bucket")
		if err != nil {
			return nil, nil, err
		}
		bs := make([]bucket, 0, len(idx))
		for _, k := range idx {
			le, err := strconv.ParseFloat(series[k].labels["le"], 64)
			if err != nil {
				return nil, nil, fmt.Errorf("bucket %s has no numeric le", series[k])
			}
			bs = append(bs, bucket{le: le, s: series[k].s})
		}
		d := &signalData{tl: g.tl, spec: spec, sig: sig, buckets: bs}
		return d.condition(a.Level), idx, nil
	default:
		idx, err := match(sig.Metric, "")
		if err != nil {
			return nil, nil, err
		}
		if len(idx) > 1 {
			return nil, nil, fmt.Errorf("%d series match %s; a load run of one instance records one", len(idx), sig.Metric)
		}
		d := &signalData{tl: g.tl, spec: spec, sig: sig, raw: series[idx[0]].s}
		return d.condition(a.Level), idx, nil
	}
}

func matchesAll(vs *parser.VectorSelector, l map[string]string) bool {
	for _, m := range vs.LabelMatchers {
		if m.Name != labels.MetricName && !m.Matches(l[m.Name]) {
			return false
		}
	}
	return true
}
