// Package promtest turns a spec into promtool unit tests that prove every generated alert fires
// where it should and stays quiet where it should, and runs them with the real promtool.
package promtest

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/template"
	"gopkg.in/yaml.v3"

	"github.com/andon-sre/andon/limits"
	"github.com/andon-sre/andon/rulegen"
)

// File is a promtool test file.
type File struct {
	RuleFiles          []string `yaml:"rule_files"`
	EvaluationInterval string   `yaml:"evaluation_interval"`
	// GroupEvalOrder is the rule file's group order: promtool otherwise evaluates the groups of a
	// step in map order, and an alert reading another group's recording (the SLO's long windows)
	// would see this step's value or the last one at random.
	GroupEvalOrder []string `yaml:"group_eval_order,omitempty"`
	Tests          []Group  `yaml:"tests"`
}

// Group is one promtool test group: its own input series and assertions.
type Group struct {
	Name     string `yaml:"name"`
	Interval string `yaml:"interval"`
	// StartTimestamp is where the group's time 0 is (promtool's default: the Unix epoch).
	StartTimestamp string      `yaml:"start_timestamp,omitempty"`
	InputSeries    []Series    `yaml:"input_series"`
	AlertRuleTests []AlertTest `yaml:"alert_rule_test"`
}

// Series is one input series.
type Series struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

// AlertTest asserts the firing alerts of one name at one time.
type AlertTest struct {
	EvalTime  string     `yaml:"eval_time"`
	Alertname string     `yaml:"alertname"`
	ExpAlerts []ExpAlert `yaml:"exp_alerts"`
}

// ExpAlert is one expected firing alert, with all its labels and annotations.
type ExpAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

// Generate builds the tests of every alert of res. rulesFile is the rule file's path as the test
// file will refer to it (relative to the test file).
func Generate(res *rulegen.Result, rulesFile string) (*File, error) {
	return GenerateWith(res, rulesFile, Options{History: DefaultHistory})
}

// Options tune the generated tests.
type Options struct {
	// History is the steady traffic before the one failed request of the significance tests.
	History time.Duration
}

// GenerateWith is Generate with options.
func GenerateWith(res *rulegen.Result, rulesFile string, o Options) (*File, error) {
	s := res.Spec
	g := &generator{res: res, spec: s, tl: timeline{interval: s.ScrapeInterval.D(), eval: s.EvaluationInterval.D()}, group: map[string]string{}, history: o.History}
	for _, l := range s.GroupBy {
		g.group[l] = "andon-test"
	}
	if s.SLO != nil {
		for _, l := range s.SLO.GroupBy {
			g.group[l] = "andon-test"
		}
	}
	f := &File{RuleFiles: []string{rulesFile}, EvaluationInterval: model.Duration(g.tl.eval).String()}
	for _, rg := range res.Groups {
		f.GroupEvalOrder = append(f.GroupEvalOrder, rg.Name)
	}
	for i := range res.Alerts {
		a := &res.Alerts[i]
		var groups []Group
		var err error
		switch a.Kind {
		case rulegen.AlertSignal:
			groups, err = g.signalTests(a)
		case rulegen.AlertBurn:
			groups, err = g.burnTests(a)
		case rulegen.AlertTargetDown:
			groups, err = g.targetDownTests(a)
		case rulegen.AlertAbsent:
			groups, err = g.absentTests(a)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.Name, err)
		}
		f.Tests = append(f.Tests, groups...)
	}
	for _, sig := range s.Signals {
		if sig.Kind == limits.KindRatio {
			gr, err := g.guardTest(sig)
			if err != nil {
				return nil, err
			}
			if gr != nil {
				f.Tests = append(f.Tests, *gr)
			}
		}
	}
	if s.SLO != nil {
		groups, err := g.significanceTests(s.Signal(s.SLO.Signal))
		if err != nil {
			return nil, err
		}
		f.Tests = append(f.Tests, groups...)
	}
	return f, nil
}

// YAML renders the test file deterministically.
func (f *File) YAML(header string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

type generator struct {
	res     *rulegen.Result
	spec    *limits.Spec
	tl      timeline
	group   map[string]string
	history time.Duration
}

// horizon is long enough for any alert of the spec to fire from a standing start.
func (g *generator) horizon(extra time.Duration) time.Duration {
	return extra + 10*g.tl.eval + 2*g.tl.interval
}

func dur(d time.Duration) string { return model.Duration(d).String() }

// firstFiring returns the eval index at which the alert first fires (-1: never).
func firstFiring(firing []bool) int {
	for i, f := range firing {
		if f {
			return i
		}
	}
	return -1
}

// expect builds the expected alert of rule a on result labels base with value v, expanding the
// annotation templates with Prometheus' own template engine, as the rule manager does.
func (g *generator) expect(a *rulegen.Alert, base map[string]string, v float64, at time.Duration) (ExpAlert, error) {
	lbls := map[string]string{}
	for k, val := range base {
		lbls[k] = val
	}
	for k, val := range a.Rule.Labels {
		lbls[k] = val
	}
	data := template.AlertTemplateData(base, nil, "", promql.Sample{F: v, Metric: labels.FromMap(base)})
	defs := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"
	anns := map[string]string{}
	for k, text := range a.Rule.Annotations {
		exp := template.NewTemplateExpander(context.Background(), defs+text, "__alert_"+a.Name, data,
			model.TimeFromUnixNano(int64(at)), nil, &url.URL{}, nil)
		out, err := exp.Expand()
		if err != nil {
			return ExpAlert{}, fmt.Errorf("annotation %s: %w", k, err)
		}
		anns[k] = out
	}
	return ExpAlert{ExpLabels: lbls, ExpAnnotations: anns}, nil
}

// recordedLabels are the labels of a recorded series: the group labels and service.
func (g *generator) recordedLabels() map[string]string { return g.labelsBy(g.spec.GroupBy) }

// sloLabels are the labels of the SLO's recorded series: service and the slo.group_by labels.
func (g *generator) sloLabels() map[string]string { return g.labelsBy(g.spec.SLO.GroupBy) }

func (g *generator) labelsBy(by []string) map[string]string {
	out := map[string]string{limits.LabelService: g.spec.Service}
	for _, k := range by {
		out[k] = g.group[k]
	}
	return out
}

func toSeries(ins []inputSeries) []Series {
	out := make([]Series, len(ins))
	for i, in := range ins {
		out[i] = Series{Series: in.String(), Values: in.values()}
	}
	return out
}

// assertAt asserts alert a at eval index i of a simulation: firing with its value, or silent.
func (g *generator) assertAt(a *rulegen.Alert, base map[string]string, firing []bool, values []float64, i int) (AlertTest, error) {
	t := time.Duration(i) * g.tl.eval
	at := AlertTest{EvalTime: dur(t), Alertname: a.Name, ExpAlerts: []ExpAlert{}}
	if i < len(firing) && firing[i] {
		e, err := g.expect(a, base, values[i], t)
		if err != nil {
			return at, err
		}
		at.ExpAlerts = append(at.ExpAlerts, e)
	}
	return at, nil
}

func (g *generator) alertFor(sig *limits.Signal, l limits.Level) *rulegen.Alert {
	for i := range g.res.Alerts {
		a := &g.res.Alerts[i]
		if a.Kind == rulegen.AlertSignal && a.Signal == sig && a.Level == l {
			return a
		}
	}
	return nil
}

// rps is the traffic of a test: enough that the errors at threshold t are ~1000 whole
// requests per interval, so rounding to whole requests moves the ratio by 0.1% at most.
func (g *generator) rps(sig *limits.Signal, t float64) float64 {
	r := 10.0
	if sig.MinRate != nil {
		r = max(r, 10*sig.MinRate.Value)
	}
	if sig.Kind == limits.KindRatio && t > 0 {
		r = max(r, 1000/(t*g.tl.interval.Seconds()))
	}
	return r
}
