package rulegen

import (
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/andon-sre/andon/limits"
)

// PeriodGroupInterval: the error ratio over the whole SLO period moves slowly; recording it every
// evaluation would cost a 30-day range query every 15 seconds.
const PeriodGroupInterval = 5 * time.Minute

// slo: the error ratio and burn rate over every window of the multiwindow, multi-burn-rate alerts
// (SRE Workbook, chapter 5), and one alert per window pair.
func (g *gen) slo() {
	s := g.spec
	if s.SLO == nil {
		return
	}
	sig := s.Signal(s.SLO.Signal)
	budget := s.SLO.Budget()
	g.group("slo", s.EvaluationInterval.D())
	var ws []time.Duration
	for _, w := range s.SLO.Windows {
		ws = append(ws, w.Short.D(), w.Long.D())
	}
	slices.Sort(ws)
	for _, w := range slices.Compact(ws) {
		g.recordRatio(sig, w)
		g.record(s.BurnRateSeries(w), bin(parser.DIV, sel(s.RatioSeries(sig, w)), num(budget)), nil)
	}
	for i := range s.SLO.Windows {
		g.burnAlert(sig, &s.SLO.Windows[i], budget)
	}
	g.group("slo-period", PeriodGroupInterval)
	g.recordRatio(sig, s.SLO.Period.D())
}

func (g *gen) burnAlert(sig *limits.Signal, w *limits.BurnWindow, budget float64) {
	s := g.spec
	factor := w.Factor(s.SLO.Period.D())
	a := Alert{Kind: AlertBurn, Name: s.BurnAlertName(), Signal: sig, Level: w.Level, Threshold: factor, Burn: w, For: w.For.D()}
	long := bin(parser.GTR, sel(s.BurnRateSeries(w.Long.D())), num(factor))
	short := bin(parser.GTR, sel(s.BurnRateSeries(w.Short.D())), num(factor))
	guard := bin(parser.GTE, sel(s.TotalRateSeries(sig, w.Long.D())), num(sig.MinRate.Value))
	lbls := g.labelsSev(limits.SignalSLO, w.Level, s.Levels.Get(w.Level).Severity, w.Actions)
	lbls[limits.LabelBurnWindow] = limits.BurnWindowName(w)
	a.Rule = rulefmt.Rule{Labels: lbls, Annotations: g.annotations(a.Name, w.Actions, limits.AndonTypeSLOBurn)}
	a.Rule.Annotations["summary"] = fmt.Sprintf("%s is burning its error budget %s× too fast over %s.", s.Service, limits.FormatNumber(factor), model.Duration(w.Long.D()))
	a.Rule.Annotations["description"] = fmt.Sprintf("Burn rate {{ $value | humanize }}×%s over %s (confirmed over %s); at %s× the %s budget of objective %s loses %s of itself in %s. %s",
		g.where(), model.Duration(w.Long.D()), model.Duration(w.Short.D()), limits.FormatNumber(factor), model.Duration(s.SLO.Period.D()),
		s.SLO.Objective.Raw, w.BudgetConsumed.Raw, model.Duration(w.Long.D()), actionSentence(w.Actions))
	g.alert(a, bin(parser.LAND, bin(parser.LAND, long, short), guard))
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
