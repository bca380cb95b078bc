// Package rulegen compiles a limits.Spec into Prometheus recording and alerting rules, an
// Alertmanager routing snippet and a PrometheusRule custom resource.
package rulegen

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/andon-sre/andon/limits"
)

// AlertKind says what an alert is about.
type AlertKind string

const (
	AlertSignal     AlertKind = "signal"      // a signal beyond its level's threshold
	AlertBurn       AlertKind = "burn"        // SLO error budget burning too fast
	AlertTargetDown AlertKind = "target_down" // up == 0
	AlertAbsent     AlertKind = "absent"      // the signal's series vanished
)

// Alert describes one generated alerting rule for the packages that test and draw it.
type Alert struct {
	Kind          AlertKind
	Name          string
	Signal        *limits.Signal         // AlertSignal, AlertAbsent
	Level         limits.Level           //
	Threshold     float64                // AlertSignal: in the signal's unit; AlertBurn: the burn factor
	Windows       limits.Windows         // AlertSignal on a windowed signal
	Burn          *limits.BurnWindow     // AlertBurn
	Selector      *parser.VectorSelector // AlertAbsent: the raw series watched
	For           time.Duration
	KeepFiringFor time.Duration
	Rule          rulefmt.Rule
}

// Result is everything rulegen makes of a spec.
type Result struct {
	Spec   *limits.Spec
	Groups []rulefmt.RuleGroup
	Alerts []Alert
}

// GroupName returns the name of one of the service's rule groups.
func GroupName(spec *limits.Spec, part string) string { return "andon:" + spec.Service + ":" + part }

// Generate compiles spec into rule groups. It never mutates spec.
func Generate(spec *limits.Spec) (*Result, error) {
	g := &gen{spec: spec, res: &Result{Spec: spec}, recorded: map[string]bool{}, selectors: map[string]*parser.VectorSelector{}}
	if err := g.signals(); err != nil {
		return nil, err
	}
	g.slo()
	g.limitsInfo()
	if err := parseBack(g.res.Groups); err != nil {
		return nil, err
	}
	return g.res, nil
}

type gen struct {
	spec      *limits.Spec
	res       *Result
	cur       *rulefmt.RuleGroup
	recorded  map[string]bool
	selectors map[string]*parser.VectorSelector // by metric reference: each is parsed once
}

func (g *gen) group(part string, interval time.Duration) {
	g.res.Groups = append(g.res.Groups, rulefmt.RuleGroup{Name: GroupName(g.spec, part), Interval: model.Duration(interval)})
	g.cur = &g.res.Groups[len(g.res.Groups)-1]
}

// record adds a recording rule of series name{service, extra…} once; the same series may be
// needed by several levels, and the info series share a name told apart by extra labels.
func (g *gen) record(name string, e parser.Expr, extra map[string]string) {
	key := name
	if extra != nil {
		key += labels.FromMap(extra).String()
	}
	if g.recorded[key] {
		return
	}
	g.recorded[key] = true
	lbls := make(map[string]string, 1+len(extra))
	lbls[limits.LabelService] = g.spec.Service
	for k, v := range extra {
		lbls[k] = v
	}
	g.cur.Rules = append(g.cur.Rules, rulefmt.Rule{Record: name, Expr: e.String(), Labels: lbls})
}

func (g *gen) alert(a Alert, e parser.Expr) {
	a.Rule.Alert, a.Rule.Expr = a.Name, e.String()
	a.Rule.For, a.Rule.KeepFiringFor = model.Duration(a.For), model.Duration(a.KeepFiringFor)
	g.cur.Rules = append(g.cur.Rules, a.Rule)
	g.res.Alerts = append(g.res.Alerts, a)
}

// signals: recording rules per signal and window, then one alert per signal × level, then the
// no-data alerts. One group, so every alert sees the recordings of the same evaluation.
func (g *gen) signals() error {
	g.group("signals", g.spec.EvaluationInterval.D())
	for _, sig := range g.spec.Signals {
		for _, w := range g.windows(sig) {
			if err := g.recordSignal(sig, w); err != nil {
				return err
			}
		}
	}
	for _, sig := range g.spec.Signals {
		for _, l := range sig.Levels() {
			g.signalAlert(sig, l, sig.Thresholds.Get(l))
		}
	}
	g.noData()
	return nil
}

// windows lists the rate windows a signal is recorded over (none for gauges and growth).
func (g *gen) windows(sig *limits.Signal) []time.Duration {
	if !sig.Windowed() {
		return []time.Duration{0}
	}
	var ws []time.Duration
	for _, l := range sig.Levels() {
		lw := g.spec.Levels.Get(l).Windows
		ws = append(ws, lw.Short.D(), lw.Long.D())
	}
	slices.Sort(ws)
	return slices.Compact(ws)
}

func (g *gen) by() []string { return slices.Clone(g.spec.GroupBy) }

// selector is the parsed metric reference with the spec's selector added. The AST nodes built
// from it share it and never change it.
func (g *gen) selector(ref string) *parser.VectorSelector {
	if vs, ok := g.selectors[ref]; ok {
		return vs
	}
	vs, _ := g.spec.MetricSelector(ref) // validated by limits.Load
	g.selectors[ref] = vs
	return vs
}

func (g *gen) recordSignal(sig *limits.Signal, w time.Duration) error {
	s := g.spec
	switch sig.Kind {
	case limits.KindRatio:
		g.recordRatio(sig, w, g.signalRatio(sig, w))
	case limits.KindLatency:
		g.record(s.QuantileSeries(sig, w), g.quantileExpr(sig, w), nil)
	case limits.KindGauge:
		g.record(s.GaugeSeries(sig), aggr(sig.Aggregate, g.selector(sig.Metric), g.by()), nil)
	case limits.KindRate:
		e := aggr(sig.Aggregate, rangeFn("rate", g.selector(sig.Metric), w), g.by())
		switch sig.Unit {
		case limits.UnitPercent:
			e = bin(parser.DIV, bin(parser.MUL, e, num(100)), num(sig.Cores))
		case limits.UnitRatio:
			e = bin(parser.DIV, e, num(sig.Cores))
		}
		g.record(s.RateSeries(sig, w), e, nil)
	case limits.KindGrowth:
		g.record(s.GrowthSeries(sig), aggr(sig.Aggregate, rangeFn("deriv", g.selector(sig.Metric), sig.Window.D()), g.by()), nil)
	default:
		return fmt.Errorf("signal %s: unknown kind %q", sig.Name, sig.Kind)
	}
	return nil
}

// ratioNames are the three recorded series of a ratio over one window, and the labels they keep.
type ratioNames struct {
	errs, total, ratio string
	by                 []string
}

// signalRatio names a ratio signal's series for its operating limits (by the spec's group_by).
func (g *gen) signalRatio(sig *limits.Signal, w time.Duration) ratioNames {
	s := g.spec
	return ratioNames{s.ErrorsRateSeries(sig, w), s.TotalRateSeries(sig, w), s.RatioSeries(sig, w), g.by()}
}

// recordRatio records errors and total rates, then their ratio from those two recordings: the
// rule after them in the same group sees them at the same evaluation, so dividing the recorded
// rates is exact and costs no range selector. A service with no error series yet has a ratio of
// 0, not no data; no traffic gives no ratio instead of NaN.
func (g *gen) recordRatio(sig *limits.Signal, w time.Duration, n ratioNames) {
	g.record(n.errs, aggr("sum", rangeFn("rate", g.selector(sig.Errors), w), n.by), nil)
	g.record(n.total, aggr("sum", rangeFn("rate", g.selector(sig.Total), w), n.by), nil)
	errs, total := sel(n.errs), sel(n.total)
	errsOrZero := paren(bin(parser.LOR, errs, bin(parser.MUL, total, num(0))))
	g.record(n.ratio, bin(parser.DIV, errsOrZero, paren(bin(parser.GTR, total, num(0)))), nil)
}

// evidence is the significance guard of a ratio or burn alert over long window w: enough traffic
// (min_rate) and enough failed requests seen in the window (min_events). The failures seen are
// the recorded rate × the window's sampled span (rate() extrapolates to the window's edges: 2
// failures in a 1m window read as 2.67), rounded because counts are whole.
func (g *gen) evidence(n ratioNames, w time.Duration, minRate, minEvents float64) parser.Expr {
	traffic := bin(parser.GTE, sel(n.total), num(minRate))
	seen := call("round", bin(parser.MUL, sel(n.errs), num(g.spec.SampledSpan(w).Seconds())))
	return bin(parser.LAND, traffic, bin(parser.GTE, seen, num(minEvents)))
}

func (g *gen) quantileExpr(sig *limits.Signal, w time.Duration) parser.Expr {
	by := g.by()
	if !sig.Native {
		by = append(by, "le")
	}
	return call("histogram_quantile", num(sig.Quantile), aggr("sum", rangeFn("rate", g.histogramSelector(sig), w), by))
}

func (g *gen) signalAlert(sig *limits.Signal, l limits.Level, t *limits.Threshold) {
	s, ls := g.spec, g.spec.Levels.Get(l)
	a := Alert{Kind: AlertSignal, Name: s.AlertName(sig, l), Signal: sig, Level: l, Threshold: t.Value.Value,
		For: s.For(sig, l), KeepFiringFor: s.KeepFiringFor(sig, l)}
	var e parser.Expr
	if sig.Windowed() {
		a.Windows = ls.Windows
		short := compare(sig.Direction, sel(s.ValueSeries(sig, ls.Windows.Short.D())), t.Value.Value)
		long := compare(sig.Direction, sel(s.ValueSeries(sig, ls.Windows.Long.D())), t.Value.Value)
		e = bin(parser.LAND, short, long)
		if sig.Kind == limits.KindRatio {
			e = landAll(e, g.evidence(g.signalRatio(sig, ls.Windows.Long.D()), ls.Windows.Long.D(), sig.MinRate.Value, sig.MinEvents.Value))
		}
	} else {
		e = compare(sig.Direction, sel(s.ValueSeries(sig, 0)), t.Value.Value)
	}
	a.Rule = rulefmt.Rule{
		Labels:      g.labels(sig.Name, l, ls.Actions),
		Annotations: g.annotations(a.Name, ls.Actions, limits.AndonTypeOperatingLimit),
	}
	a.Rule.Annotations["summary"] = fmt.Sprintf("%s %s is %s its %s limit of %s.",
		s.Service, strings.ReplaceAll(sig.Name, "_", " "), sig.Direction, l, limits.FormatThreshold(sig, t.Value.Value))
	a.Rule.Annotations["description"] = fmt.Sprintf("%s Now %s%s (%s limit %s, held for %s). %s",
		cmp.Or(sig.Description, "The signal "+sig.Name+"."), humanValue(sig), g.where(), l,
		limits.FormatThreshold(sig, t.Value.Value), model.Duration(a.For), actionSentence(ls.Actions))
	g.alert(a, e)
}

// noData: the targets are down, or the series a signal needs are gone.
func (g *gen) noData() {
	s, nd := g.spec, g.spec.NoData
	if nd.Disabled {
		return
	}
	ls := s.Levels.Get(nd.Level)
	up := g.selector("up")
	down := Alert{Kind: AlertTargetDown, Name: s.TargetDownAlertName(), Level: nd.Level, For: nd.For.D()}
	down.Rule = rulefmt.Rule{Labels: g.labelsSev(limits.SignalUp, nd.Level, ls.Severity, nd.Actions),
		Annotations: g.annotations(down.Name, nd.Actions, limits.AndonTypeOperatingLimit)}
	down.Rule.Annotations["summary"] = fmt.Sprintf("A scrape target of %s is down.", s.Service)
	down.Rule.Annotations["description"] = fmt.Sprintf("Prometheus cannot scrape %s{{ with $labels.instance }} on {{ . }}{{ end }}: every signal of this target is blind. %s", s.Service, actionSentence(nd.Actions))
	g.alert(down, bin(parser.EQLC, up, num(0)))
	seen := map[string]bool{}
	for _, sig := range s.Signals {
		// One alert per raw metric, on the spec's selector alone: signals that
		// split one metric by their own matchers (a tier, a method) share it, and
		// a split that has seen no traffic yet is not missing data.
		vs := g.selector(g.rawSelector(sig).Name)
		key := vs.String()
		if seen[key] {
			continue
		}
		seen[key] = true
		a := Alert{Kind: AlertAbsent, Name: s.AbsentAlertName(), Signal: sig, Level: nd.Level, Selector: vs, For: nd.For.D()}
		lbls := g.labelsSev(limits.SignalAbsent, nd.Level, ls.Severity, nd.Actions)
		lbls["metric"] = vs.Name
		a.Rule = rulefmt.Rule{Labels: lbls, Annotations: g.annotations(a.Name, nd.Actions, limits.AndonTypeOperatingLimit)}
		a.Rule.Annotations["summary"] = fmt.Sprintf("%s has no %s series.", s.Service, vs.Name)
		a.Rule.Annotations["description"] = fmt.Sprintf("No series match %s: signal %s cannot be judged, so its limits are not enforced. Check the exporter and the selector. %s", key, sig.Name, actionSentence(nd.Actions))
		g.alert(a, call("absent", vs))
	}
}

// rawSelector is the raw series a signal is computed from; its absence is an alert of its own.
func (g *gen) rawSelector(sig *limits.Signal) *parser.VectorSelector {
	switch sig.Kind {
	case limits.KindRatio:
		return g.selector(sig.Total)
	case limits.KindLatency:
		return g.histogramSelector(sig)
	}
	return g.selector(sig.Metric)
}

// histogramSelector selects a latency signal's native histogram or its classic _bucket series.
func (g *gen) histogramSelector(sig *limits.Signal) *parser.VectorSelector {
	vs := g.selector(sig.Histogram)
	if sig.Native {
		return vs
	}
	return withName(vs, vs.Name+"_bucket")
}

func (g *gen) labels(signal string, l limits.Level, as []limits.Action) map[string]string {
	return g.labelsSev(signal, l, g.spec.Levels.Get(l).Severity, as)
}

func (g *gen) labelsSev(signal string, l limits.Level, severity string, as []limits.Action) map[string]string {
	out := map[string]string{}
	for k, v := range g.spec.Labels {
		out[k] = v
	}
	out[limits.LabelService] = g.spec.Service
	out[limits.LabelSignal] = signal
	out[limits.LabelLevel] = string(l)
	out[limits.LabelSeverity] = severity
	out[limits.LabelAction] = limits.ActionLabel(as)
	return out
}

func (g *gen) annotations(alert string, as []limits.Action, andonType string) map[string]string {
	out := map[string]string{}
	if g.spec.RunbookURL != "" {
		out["runbook_url"] = strings.TrimSuffix(g.spec.RunbookURL, "/") + "#" + strings.ToLower(alert)
	}
	if g.spec.DashboardURL != "" {
		out["dashboard_url"] = g.spec.DashboardURL
	}
	if sh := limits.ShedOf(as); sh != nil {
		out[limits.AnnotationShedFraction] = limits.FormatNumber(sh.Fraction)
		out[limits.AnnotationShedTiers] = limits.TiersString(sh.Tiers)
	}
	if slices.ContainsFunc(as, func(a limits.Action) bool { return a.Kind == limits.ActionAndon }) {
		out[limits.AnnotationAndonType] = andonType
	}
	return out
}

// where names the group_by labels of the alert in its description.
func (g *gen) where() string { return whereOf(g.spec.GroupBy) }

// sloWhere names the slo.group_by labels of a burn alert in its description.
func (g *gen) sloWhere() string { return whereOf(g.spec.SLO.GroupBy) }

func whereOf(by []string) string {
	if len(by) == 0 {
		return ""
	}
	parts := make([]string, len(by))
	for i, l := range by {
		parts[i] = fmt.Sprintf("%s={{ $labels.%s }}", l, l)
	}
	return " on " + strings.Join(parts, ", ")
}

// humanValue formats $value in the signal's unit with Prometheus' template functions.
func humanValue(sig *limits.Signal) string {
	switch sig.Unit {
	case limits.UnitRatio:
		return "{{ $value | humanizePercentage }}"
	case limits.UnitSeconds:
		return "{{ $value | humanizeDuration }}"
	case limits.UnitPercent:
		return `{{ printf "%.1f" $value }}%`
	case limits.UnitBytes:
		return "{{ $value | humanize }}B"
	case limits.UnitBytesPerSec:
		return "{{ $value | humanize }}B/s"
	case limits.UnitPerSecond:
		return "{{ $value | humanize }}/s"
	}
	return "{{ $value | humanize }}"
}

// actionSentence tells whoever is paged what the receiver does about it.
func actionSentence(as []limits.Action) string {
	if len(as) == 0 {
		return "No automatic action."
	}
	var parts []string
	for _, a := range as {
		switch a.Kind {
		case limits.ActionPage:
			parts = append(parts, "page the on-call")
		case limits.ActionShed:
			parts = append(parts, a.String())
		case limits.ActionRejectNew:
			parts = append(parts, "reject new connections")
		case limits.ActionDrain:
			parts = append(parts, "drain the instance")
		case limits.ActionAndon:
			parts = append(parts, "open an andon that blocks deploys until resolved")
		}
	}
	return "Automatic response: " + strings.Join(parts, ", ") + "."
}
