package rulegen

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/andon-sre/andon/limits"
)

// PeriodGroupInterval: the error ratio over the whole SLO period moves slowly; recording it every
// evaluation would cost a 30-day range query every 15 seconds. Only dashboards read it.
const PeriodGroupInterval = 5 * time.Minute

// Long burn windows (a day or more) are recorded in a group of their own, evaluated every
// LongWindowGroupInterval: between two evaluations a 1d window moves by 1/1440 of its span, and
// the alerts that read it stay in the SLO group, where their short windows react every
// evaluation. The interval stays under Prometheus' 5m lookback, so the series never goes stale.
const (
	LongWindow              = 24 * time.Hour
	LongWindowGroupInterval = time.Minute
)

// sloRatio names the SLO's series over window w: by slo.group_by, the whole service by default.
func (g *gen) sloRatio(w time.Duration) ratioNames {
	s := g.spec
	return ratioNames{s.SLOErrorsRateSeries(w), s.SLOTotalRateSeries(w), s.SLORatioSeries(w), slices.Clone(s.SLO.GroupBy)}
}

// slo: the error ratio and burn rate over every window of the multiwindow, multi-burn-rate alerts
// (SRE Workbook, chapter 5), and one alert per window pair.
func (g *gen) slo() {
	s := g.spec
	if s.SLO == nil {
		return
	}
	sig := s.Signal(s.SLO.Signal)
	var ws []time.Duration
	for _, w := range s.SLO.Windows {
		ws = append(ws, w.Short.D(), w.Long.D())
	}
	slices.Sort(ws)
	ws = slices.Compact(ws)
	slow := max(LongWindowGroupInterval, s.EvaluationInterval.D())
	split := len(ws)
	if slow > s.EvaluationInterval.D() {
		split = sort.Search(len(ws), func(i int) bool { return ws[i] >= LongWindow })
	}
	// slo-long comes first: promtool evaluates the groups of a file in order at every step, so
	// the tests see the long windows of the same evaluation (Prometheus runs each group on its own
	// clock: there they are up to LongWindowGroupInterval old).
	if split < len(ws) {
		g.group("slo-long", slow)
		g.recordBurn(sig, ws[split:])
	}
	g.group("slo", s.EvaluationInterval.D())
	g.recordBurn(sig, ws[:split])
	for i := range s.SLO.Windows {
		g.burnAlert(sig, &s.SLO.Windows[i])
	}
	g.group("slo-period", PeriodGroupInterval)
	g.recordRatio(sig, s.SLO.Period.D(), g.sloRatio(s.SLO.Period.D()))
}

// recordBurn records the SLO's ratio and burn rate (error ratio ÷ budget) over windows ws; the
// burn rate divides the ratio recorded just before it.
func (g *gen) recordBurn(sig *limits.Signal, ws []time.Duration) {
	s := g.spec
	for _, w := range ws {
		g.recordRatio(sig, w, g.sloRatio(w))
		g.record(s.BurnRateSeries(w), bin(parser.DIV, sel(s.SLORatioSeries(w)), num(s.SLO.Budget())), nil)
	}
}

func (g *gen) burnAlert(sig *limits.Signal, w *limits.BurnWindow) {
	s := g.spec
	factor := w.Factor(s.SLO.Period.D())
	a := Alert{Kind: AlertBurn, Name: s.BurnAlertName(), Signal: sig, Level: w.Level, Threshold: factor, Burn: w,
		For: w.For.D(), KeepFiringFor: w.KeepFiringFor.D()}
	long := bin(parser.GTR, sel(s.BurnRateSeries(w.Long.D())), num(factor))
	short := bin(parser.GTR, sel(s.BurnRateSeries(w.Short.D())), num(factor))
	guard := g.evidence(g.sloRatio(w.Long.D()), w.Long.D(), sig.MinRate.Value, s.SLO.MinEvents.Value)
	lbls := g.labelsSev(limits.SignalSLO, w.Level, s.Levels.Get(w.Level).Severity, w.Actions)
	lbls[limits.LabelBurnWindow] = limits.BurnWindowName(w)
	a.Rule = rulefmt.Rule{Labels: lbls, Annotations: g.annotations(a.Name, w.Actions, limits.AndonTypeSLOBurn)}
	a.Rule.Annotations["summary"] = fmt.Sprintf("%s is burning its error budget %s× too fast over %s.", s.Service, limits.FormatNumber(factor), model.Duration(w.Long.D()))
	a.Rule.Annotations["description"] = fmt.Sprintf("Burn rate {{ $value | humanize }}×%s over %s (confirmed over %s, at least %s failed requests seen); at %s× the %s budget of objective %s loses %s of itself in %s. %s",
		g.sloWhere(), model.Duration(w.Long.D()), model.Duration(w.Short.D()), s.SLO.MinEvents.Raw, limits.FormatNumber(factor), model.Duration(s.SLO.Period.D()),
		s.SLO.Objective.Raw, w.BudgetConsumed.Raw, model.Duration(w.Long.D()), actionSentence(w.Actions))
	g.alert(a, landAll(bin(parser.LAND, long, short), guard))
}

// limitsInfo exposes the limits themselves as series, so dashboards draw thresholds from data
// and a change of limits shows up in Prometheus.
func (g *gen) limitsInfo() {
	s := g.spec
	g.group("limits", time.Minute)
	for _, sig := range s.Signals {
		for _, l := range sig.Levels() {
			t := sig.Thresholds.Get(l)
			lbls := map[string]string{limits.LabelSignal: sig.Name, limits.LabelLevel: string(l),
				limits.LabelDirection: string(sig.Direction), limits.LabelUnit: string(sig.Unit)}
			g.record(limits.ThresholdSeries, call("vector", num(t.Value.Value)), lbls)
		}
	}
	if s.SLO != nil {
		g.record(limits.ObjectiveSeries, call("vector", num(s.SLO.Objective.Value)), map[string]string{limits.LabelSignal: s.SLO.Signal})
	}
}
