package dashboards

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/grafana/grafana-foundation-sdk/go/units"
	"github.com/prometheus/common/model"

	"github.com/andon-sre/andon/limits"
)

// Grafana's named colours for the andon levels; green is "nothing firing".
const colorGreen = "green"

var levelColor = map[limits.Level]string{limits.Yellow: "yellow", limits.Red: "red", limits.Emergency: "purple"}

// andonRow: the level of every signal as a coloured stat, and the list of the service's alerts.
func (g *gen) andonRow() {
	g.row("Andon: current level")
	for _, s := range g.alertSignals() {
		add(g, levelStat(), s.title, s.description, 3, 4, query{expr: levelExpr(g.spec, s.signal, s.levels), instant: true})
	}
	alerts := selector(metricAlerts, eq(limits.LabelService, g.spec.Service))
	// The footer is set: the SDK's default (v0.0.22) has reducer null, which its own strict
	// decoder and Grafana's schema reject.
	tbl := table.NewPanelBuilder().NoValue("No alert pending or firing.").
		Footer(common.NewTableFooterOptionsBuilder().Reducer([]string{})).
		WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"excludeByName": map[string]any{"Time": true, "Value": true, "__name__": true, limits.LabelService: true},
		}})
	add(g, tbl, "Alerts of "+g.spec.Service,
		"Every alert of the service that is pending (condition true, waiting out its `for`) or firing, with its level and the action the receiver takes.",
		24, 7, query{expr: alerts, instant: true, table: true})
}

// alertSignal is one stat of the andon row: a `signal` label value and the levels it alerts at.
type alertSignal struct {
	signal, title, description string
	levels                     []limits.Level
}

// alertSignals groups the generated alerts by their signal label, in the order rulegen made them.
func (g *gen) alertSignals() []alertSignal {
	var names []string
	seen := map[string]map[limits.Level]bool{}
	for _, a := range g.res.Alerts {
		name := a.Rule.Labels[limits.LabelSignal]
		if seen[name] == nil {
			seen[name] = map[limits.Level]bool{}
			names = append(names, name)
		}
		seen[name][limits.Level(a.Rule.Labels[limits.LabelLevel])] = true
	}
	out := make([]alertSignal, len(names))
	for i, name := range names {
		s := alertSignal{signal: name, title: g.alertSignalTitle(name)}
		for _, l := range limits.Levels {
			if seen[name][l] {
				s.levels = append(s.levels, l)
			}
		}
		s.description = fmt.Sprintf("Worst level of the firing alerts with signal=%q over all of %s (alerts at %s). Green: none fires.",
			name, g.spec.Service, limits.JoinLevels(s.levels))
		out[i] = s
	}
	return out
}

func (g *gen) alertSignalTitle(signal string) string {
	switch signal {
	case limits.SignalSLO:
		return "error budget"
	case limits.SignalUp:
		return "scrape targets"
	case limits.SignalAbsent:
		return "series present"
	}
	return humanName(signal)
}

// levelStat shows 0..3 as GREEN, YELLOW, RED, EMERGENCY on the level's colour.
func levelStat() *stat.PanelBuilder {
	mapping := map[string]dashboard.ValueMappingResult{"0": {Text: ptr("GREEN"), Color: ptr(colorGreen), Index: ptr[int32](0)}}
	steps := []dashboard.Threshold{{Color: colorGreen}}
	for _, l := range limits.Levels {
		v := levelValues[l]
		mapping[fmt.Sprint(v)] = dashboard.ValueMappingResult{Text: ptr(strings.ToUpper(string(l))), Color: ptr(levelColor[l]), Index: ptr(int32(v))}
		steps = append(steps, dashboard.Threshold{Value: ptr(float64(v)), Color: levelColor[l]})
	}
	return stat.NewPanelBuilder().
		Mappings([]dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: mapping}}}).
		Thresholds(thresholds(steps)).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).
		TextMode(common.BigValueTextModeValue).
		Orientation(common.VizOrientationAuto).
		ReduceOptions(lastValue())
}

// valueStat shows the last value of its query, coloured by the threshold steps it has reached.
func valueStat(unit string, graph common.BigValueGraphMode, steps []dashboard.Threshold) *stat.PanelBuilder {
	return stat.NewPanelBuilder().Unit(unit).Thresholds(thresholds(steps)).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
		ColorMode(common.BigValueColorModeValue).GraphMode(graph).
		Orientation(common.VizOrientationAuto).ReduceOptions(lastValue())
}

func lastValue() *common.ReduceDataOptionsBuilder {
	return common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false)
}

func thresholds(steps []dashboard.Threshold) *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps)
}

// signalRow: one time series per signal with its limits as coloured threshold bands.
func (g *gen) signalRow() {
	g.row("Signals against their limits")
	for _, sig := range g.spec.Signals {
		if len(sig.Levels()) == 0 {
			continue
		}
		var qs []query
		what := "The line is recorded series " + g.spec.ValueSeries(sig, 0) + "."
		if sig.Windowed() {
			fast, slow := fastest(g.spec, sig), slowest(g.spec, sig)
			qs = append(qs, query{expr: recorded(g.spec, g.spec.ValueSeries(sig, fast)), legend: g.legend(limits.WindowName(fast))})
			what = fmt.Sprintf("Lines: the value over %s (the fastest window, reacts first) from %s", limits.WindowName(fast), g.spec.ValueSeries(sig, fast))
			if slow != fast {
				qs = append(qs, query{expr: recorded(g.spec, g.spec.ValueSeries(sig, slow)), legend: g.legend(limits.WindowName(slow))})
				what += fmt.Sprintf(" and over %s (the slowest window, confirms) from %s", limits.WindowName(slow), g.spec.ValueSeries(sig, slow))
			}
			what += "."
		} else {
			qs = append(qs, query{expr: recorded(g.spec, g.spec.ValueSeries(sig, 0)), legend: g.legend("")})
		}
		p := timeseries.NewPanelBuilder().
			Unit(unitOf(sig.Unit)).
			Thresholds(thresholds(signalSteps(sig))).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashedAndArea)).
			ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdPaletteClassic))
		if sig.Kind != limits.KindGrowth {
			p.Min(0)
		}
		desc := strings.TrimSpace(sig.Description + " " + what + " " + g.levelsText(sig))
		add(g, p, humanName(sig.Name), desc, 8, 8, qs...)
	}
}

// signalSteps colours a signal's value by level: values beyond a level's threshold take its colour.
// Grafana steps apply from their value upwards, so a "below" signal starts at its worst level.
func signalSteps(sig *limits.Signal) []dashboard.Threshold {
	type step struct {
		l limits.Level
		v float64
	}
	var set []step
	for _, l := range limits.Levels {
		if t := sig.Thresholds.Get(l); t != nil {
			set = append(set, step{l, t.Value.Value})
		}
	}
	if sig.Direction == limits.Below {
		// set is yellow→emergency with falling thresholds: below the last one is the worst level.
		steps := []dashboard.Threshold{{Color: levelColor[set[len(set)-1].l]}}
		for i := len(set) - 1; i >= 0; i-- {
			c := colorGreen
			if i > 0 {
				c = levelColor[set[i-1].l]
			}
			steps = append(steps, dashboard.Threshold{Value: ptr(set[i].v), Color: c})
		}
		return steps
	}
	steps := []dashboard.Threshold{{Color: colorGreen}}
	for _, s := range set {
		steps = append(steps, dashboard.Threshold{Value: ptr(s.v), Color: levelColor[s.l]})
	}
	return steps
}

// levelsText says, per level, where the limit is and what the receiver does when it is crossed.
func (g *gen) levelsText(sig *limits.Signal) string {
	var parts []string
	for _, l := range limits.Levels {
		t := sig.Thresholds.Get(l)
		if t == nil {
			continue
		}
		ls := g.spec.Levels.Get(l)
		when := "for " + limits.WindowName(g.spec.For(sig, l))
		if sig.Windowed() {
			when = fmt.Sprintf("over %s and %s, %s", limits.WindowName(ls.Windows.Short.D()), limits.WindowName(ls.Windows.Long.D()), when)
		}
		parts = append(parts, fmt.Sprintf("%s: %s %s %s → %s.", strings.ToUpper(string(l)), sig.Direction,
			limits.FormatThreshold(sig, t.Value.Value), when, actionsText(ls.Actions)))
	}
	return strings.Join(parts, " ")
}

// actionsText names the receiver's actions, with the share and tiers of a shed.
func actionsText(as []limits.Action) string {
	kinds := strings.Split(limits.ActionLabel(as), ",")
	if sh := limits.ShedOf(as); sh != nil {
		for i, k := range kinds {
			if k == string(limits.ActionShed) {
				kinds[i] = sh.String()
			}
		}
	}
	return strings.Join(kinds, ", ")
}

// sloRow: error budget left, yield and defects per million over the period, and each burn-rate
// window pair against its factor.
func (g *gen) sloRow() {
	slo := g.spec.SLO
	if slo == nil {
		return
	}
	sig := g.spec.Signal(slo.Signal)
	period := slo.Period.D()
	budget := slo.Budget()
	ratio := "(" + ratioOf(g.spec, sig, period) + ")"
	pname := limits.WindowName(period)
	g.row(fmt.Sprintf("SLO: %s of %s over %s", slo.Objective.Raw, humanName(sig.Name), pname))

	trend := func(unit string, decimals float64, steps []dashboard.Threshold) *stat.PanelBuilder {
		return valueStat(unit, common.BigValueGraphModeArea, steps).Decimals(decimals)
	}
	add(g, trend(units.PercentUnit, 1, []dashboard.Threshold{{Color: "red"}, {Value: ptr(0.0), Color: "yellow"}, {Value: ptr(0.25), Color: colorGreen}}),
		"Error budget left ("+pname+")",
		fmt.Sprintf("Share of the %s error budget (1 − %s = %s of requests may fail) not yet spent: 1 − error ratio ÷ budget. Below 0 the objective is missed. Red below 0, yellow below 25%%.", pname, slo.Objective.Raw, limits.FormatNumber(budget)),
		6, 5, query{expr: "1 - " + ratio + " / " + limits.FormatNumber(budget)})
	target := budget * 1e6
	add(g, trend(units.Short, 2, []dashboard.Threshold{{Color: colorGreen}, {Value: ptr(target), Color: "red"}}),
		"Defects per million ("+pname+")",
		fmt.Sprintf("Failed requests per million (DPMO) over %s. Target: %s DPMO (objective %s; Lean Six Sigma is 3.4 DPMO, 99.99966%%). Red at or above the target.", pname, limits.FormatNumber(target), slo.Objective.Raw),
		6, 5, query{expr: ratio + " * 1e6"})
	add(g, trend(units.PercentUnit, 5, []dashboard.Threshold{{Color: "red"}, {Value: ptr(slo.Objective.Value), Color: colorGreen}}),
		"Yield ("+pname+")",
		fmt.Sprintf("Share of requests that succeeded over %s (1 − error ratio), against the objective %s. Green at or above the objective.", pname, slo.Objective.Raw),
		6, 5, query{expr: "1 - " + ratio})
	add(g, trend(units.PercentUnit, 5, []dashboard.Threshold{{Color: "blue"}}),
		"Objective",
		"The objective as the rules record it ("+limits.ObjectiveSeries+"): a changed spec shows up here once its rules are loaded.",
		6, 5, query{expr: "max(" + selector(limits.ObjectiveSeries, eq(limits.LabelService, g.spec.Service)) + ")"})

	span := uint32(24 / max(1, min(4, len(slo.Windows))))
	for i := range slo.Windows {
		w := &slo.Windows[i]
		factor := w.Factor(period)
		long, short := limits.WindowName(w.Long.D()), limits.WindowName(w.Short.D())
		p := timeseries.NewPanelBuilder().Unit("suffix:×").Min(0).
			Thresholds(thresholds([]dashboard.Threshold{{Color: colorGreen}, {Value: ptr(factor), Color: levelColor[w.Level]}})).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed)).
			ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdPaletteClassic))
		add(g, p, fmt.Sprintf("Burn rate %s / %s (limit %s×)", long, short, limits.FormatNumber(factor)),
			fmt.Sprintf("Burn rate = error ratio ÷ budget (%s): 1× spends the budget exactly over %s. At %s× the %s window consumes %s of the budget. %s fires (burn_window=%s) when both lines exceed %s× with at least %s/s of traffic, for %s → %s.",
				limits.FormatNumber(budget), pname, limits.FormatNumber(factor), long, w.BudgetConsumed.Raw, strings.ToUpper(string(w.Level)),
				limits.BurnWindowName(w), limits.FormatNumber(factor), limits.FormatNumber(sig.MinRate.Value), model.Duration(w.For.D()), actionsText(w.Actions)),
			span, 7,
			query{expr: recorded(g.spec, g.spec.BurnRateSeries(w.Long.D())), legend: g.legend(long)},
			query{expr: recorded(g.spec, g.spec.BurnRateSeries(w.Short.D())), legend: g.legend(short)})
	}
}

// trafficRow: request rates of the ratio signals, every limit's headroom on one panel, and what the
// admission middleware does with the load.
func (g *gen) trafficRow() {
	g.row("Traffic and saturation")
	for _, sig := range g.spec.Signals {
		if sig.Kind != limits.KindRatio || len(sig.Levels()) == 0 {
			continue
		}
		w := fastest(g.spec, sig)
		p := timeseries.NewPanelBuilder().Unit(units.OpsPerSecond).Min(0)
		add(g, p, humanName(sig.Name)+": traffic",
			fmt.Sprintf("Rate of the counters behind %s over %s: total (%s) and errors (%s). Below %s/s the ratio is not judged.",
				sig.Name, limits.WindowName(w), sig.Total, sig.Errors, limits.FormatNumber(sig.MinRate.Value)),
			6, 7,
			query{expr: recorded(g.spec, g.spec.TotalRateSeries(sig, w)), legend: g.legend("total")},
			query{expr: recorded(g.spec, g.spec.ErrorsRateSeries(sig, w)), legend: g.legend("errors")})
	}
	var qs []query
	for _, sig := range g.spec.Signals {
		l, t := firstThreshold(sig)
		if sig.Direction != limits.Above || t == nil || t.Value.Value == 0 {
			continue
		}
		series := g.spec.ValueSeries(sig, fastest(g.spec, sig))
		qs = append(qs, query{
			expr:   fmt.Sprintf("max(%s) / %s", recorded(g.spec, series), limits.FormatNumber(t.Value.Value)),
			legend: fmt.Sprintf("%s (of %s %s)", sig.Name, l, limits.FormatThreshold(sig, t.Value.Value)),
		})
	}
	if len(qs) > 0 {
		p := timeseries.NewPanelBuilder().Unit(units.PercentUnit).Min(0).
			Thresholds(thresholds([]dashboard.Threshold{{Color: colorGreen}, {Value: ptr(1.0), Color: "orange"}})).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))
		add(g, p, "Load against limits",
			"Every signal as a share of its first limit (the lowest level it alerts at), worst group first: 100% is where that level's alert starts to count. One panel to see which limit is closest.",
			6, 7, qs...)
	}
	add(g, timeseries.NewPanelBuilder().Unit(units.OpsPerSecond).Min(0), "Admission",
		"Requests by what the andon admission middleware did with them (admitted, shed, queue_full, queue_timeout, rejected_new, draining). No data: the service does not embed actuator/admission.",
		6, 7, query{expr: "sum by (result) (rate(" + g.scraped(metricAdmissionRequests) + "[$__rate_interval]))", legend: "{{result}}"})
	add(g, timeseries.NewPanelBuilder().Unit(units.Short).Min(0), "In flight and queued",
		"Requests being served and waiting in the admission middleware's leveling queue (Heijunka). No data: the service does not embed actuator/admission.",
		6, 7,
		query{expr: sumOf(g.scraped(metricAdmissionInFlight)), legend: "in flight"},
		query{expr: sumOf(g.scraped(metricAdmissionQueue)), legend: "queued"})
}

// ledgerRow: the receiver's andon ledger and actions (raw metrics: nothing records them). Until a
// receiver exports them the panels say so instead of showing zeros.
func (g *gen) ledgerRow() {
	g.row("Andon ledger and automatic response")
	const noReceiver = "No data: no andon webhook receiver is scraped."
	sku := eq("sku", g.spec.Service)
	redFrom := func(v float64) []dashboard.Threshold {
		return []dashboard.Threshold{{Color: colorGreen}, {Value: ptr(v), Color: "red"}}
	}
	countStat := func(unit string, steps []dashboard.Threshold) *stat.PanelBuilder {
		return valueStat(unit, common.BigValueGraphModeNone, steps).NoValue(noReceiver)
	}
	add(g, countStat(units.Short, redFrom(1)), "Open andons",
		"Andons open for "+g.spec.Service+" (sku). Each blocks the service's deploys until someone records root cause, fix and prevention.",
		4, 4, query{expr: sumOf(selector(metricAndonOpen, sku)) + " or " + receiverPresent(), instant: true})
	add(g, countStat(units.PercentUnit, redFrom(0.01)), "Time blocked",
		"Share of time "+g.spec.Service+" is blocked by at least one open andon.",
		4, 4, query{expr: "sum(rate(" + selector(metricAndonBlocked, sku) + "[$__rate_interval])) or " + receiverPresent(), instant: true})
	add(g, countStat(units.Short, redFrom(1)), "Andons opened",
		"Andons opened in the dashboard's time range, every sku and type (the counter has no sku label).",
		4, 4, query{expr: "sum(increase(" + metricAndonTriggered + "[$__range]))", instant: true})
	add(g, countStat(units.Short, []dashboard.Threshold{{Color: "blue"}}), "Andons resolved",
		"Andons resolved in the dashboard's time range, every sku and type.",
		4, 4, query{expr: "sum(increase(" + metricAndonResolved + "[$__range]))", instant: true})
	add(g, countStat(units.Seconds, redFrom(86400)), "Time to resolve (p90)",
		"90th percentile of the time from opening an andon to its resolution, over the dashboard's time range. Red above a day.",
		8, 4, query{expr: "histogram_quantile(0.9, sum by (le) (rate(" + metricAndonTimeToResolve + "_bucket[$__range])))", instant: true})

	add(g, timeseries.NewPanelBuilder().Unit(units.OpsPerSecond).Min(0), "Actions",
		"The actuator's decisions by action kind and result (applied, dry_run, skipped, failed), every service.",
		6, 7, query{expr: "sum by (kind, result) (rate(" + metricActions + "[$__rate_interval]))", legend: "{{kind}} {{result}}"})
	add(g, timeseries.NewPanelBuilder().Unit(units.Short).Min(0), "Actions in force",
		"Actions applied and not yet expired or reverted, by kind, every service.",
		6, 7, query{expr: "sum by (kind) (" + metricActiveActions + ")", legend: "{{kind}}"})
	add(g, timeseries.NewPanelBuilder().Unit(units.Short).Min(0).Max(1), "Admission settings in force",
		"What the service's admission middleware enforces now: shed, reject_new, drain (1 = on) and the shed fraction. Every setting reverts at its TTL unless renewed.",
		6, 7,
		query{expr: "max by (setting) (" + g.scraped(metricAdmissionSetting) + ")", legend: "{{setting}}"},
		query{expr: "max(" + g.scraped(metricAdmissionShed) + ")", legend: "shed fraction"})
	add(g, timeseries.NewPanelBuilder().Unit(units.OpsPerSecond).Min(0), "Webhook notifications",
		"Alertmanager notifications the receiver answered, by HTTP status class. 5xx means the ledger store was unavailable.",
		6, 7, query{expr: "sum by (status) (rate(" + metricWebhookNotified + "[$__rate_interval]))", legend: "{{status}}"})
}

// grafanaUnits maps a signal's unit to Grafana's (SI bytes: the spec's MB are 10^6).
var grafanaUnits = map[limits.Unit]string{
	limits.UnitRatio:       units.PercentUnit,
	limits.UnitPercent:     units.Percent,
	limits.UnitSeconds:     units.Seconds,
	limits.UnitBytes:       units.BytesSI,
	limits.UnitBytesPerSec: units.BytesPerSecondSI,
	limits.UnitPerSecond:   units.OpsPerSecond,
	limits.UnitCount:       units.Short,
}

func unitOf(u limits.Unit) string { return cmp.Or(grafanaUnits[u], units.Short) }

// firstThreshold is the lowest level a signal alerts at (validation ensures there is one).
func firstThreshold(sig *limits.Signal) (limits.Level, *limits.Threshold) {
	l := sig.Levels()[0]
	return l, sig.Thresholds.Get(l)
}

// fastest and slowest are the shortest and longest rate windows rulegen records a windowed signal
// over (the short and long windows of the levels it alerts at); 0 for other signals.
func fastest(spec *limits.Spec, sig *limits.Signal) time.Duration {
	var w time.Duration
	for _, l := range sig.Levels() {
		if s := spec.Levels.Get(l).Windows.Short.D(); w == 0 || s < w {
			w = s
		}
	}
	return windowIf(sig, w)
}

func slowest(spec *limits.Spec, sig *limits.Signal) time.Duration {
	var w time.Duration
	for _, l := range sig.Levels() {
		w = max(w, spec.Levels.Get(l).Windows.Long.D())
	}
	return windowIf(sig, w)
}

func windowIf(sig *limits.Signal, w time.Duration) time.Duration {
	if !sig.Windowed() {
		return 0
	}
	return w
}

// humanName prints a snake_case name for people: latency_p95 → latency p95.
func humanName(s string) string { return strings.ReplaceAll(s, "_", " ") }
