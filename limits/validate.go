package limits

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

var (
	identRE     = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	promParser  = parser.NewParser(parser.Options{})
)

// ReservedLabels are set by andon on every alert; the spec's extra labels may not use them.
var ReservedLabels = []string{"alertname", "service", "signal", "level", "severity", "action", "burn_window"}

func validate(c *collector, s *Spec) {
	if s.Service == "" {
		c.errorf(s.Pos, "`service` is required: the service's name, e.g. `service: erlmcp`")
	} else if !identRE.MatchString(s.Service) {
		c.errorf(s.Pos, "service %q must be letters, digits and underscores (it becomes part of series and alert names)", s.Service)
	}
	for k := range s.Labels {
		if !labelNameRE.MatchString(k) {
			c.errorf(s.Pos, "label name %q is not a valid Prometheus label name", k)
		} else if slices.Contains(ReservedLabels, k) {
			c.errorf(s.Pos, "label %q is set by andon itself; choose another name", k)
		}
	}
	if s.Selector != "" {
		ms, err := promParser.ParseMetricSelector(s.Selector)
		if err != nil {
			c.errorf(s.Pos, "selector %q does not parse: %v; write label matchers such as {job=\"erlmcp\"}", s.Selector, err)
		}
		for _, m := range ms {
			if m.Name == labels.MetricName {
				c.errorf(s.Pos, "selector %q names a metric; it should only hold label matchers such as {job=\"erlmcp\"}", s.Selector)
			}
		}
	} else {
		c.warnf(s.Pos, "no `selector`: raw series are matched by metric name alone; add e.g. selector: '{job=\"%s\"}'", s.Service)
	}
	for _, g := range s.GroupBy {
		if !labelNameRE.MatchString(g) || slices.Contains(ReservedLabels, g) {
			c.errorf(s.Pos, "group_by label %q is not a usable label name", g)
		}
	}
	if s.ScrapeInterval.D() <= 0 {
		c.errorf(s.ScrapeInterval.Pos, "scrape_interval must be positive, e.g. 15s")
	}
	if s.EvaluationInterval.D() <= 0 {
		c.errorf(s.EvaluationInterval.Pos, "evaluation_interval must be positive, e.g. 15s")
	}
	for name, u := range map[string]string{"runbook_url": s.RunbookURL, "dashboard_url": s.DashboardURL} {
		if u == "" {
			continue
		}
		if p, err := url.Parse(u); err != nil || p.Scheme == "" || p.Host == "" {
			c.errorf(s.Pos, "%s %q is not an absolute URL such as https://runbooks.example.com/erlmcp", name, u)
		}
	}
	for _, l := range Levels {
		validateLevel(c, s, l, s.Levels.Get(l))
	}
	if len(s.Signals) == 0 {
		c.errorf(s.Pos, "`signals` is empty: list at least one signal (see the README's spec reference)")
	}
	seen := map[string]Pos{}
	for _, sig := range s.Signals {
		if p, dup := seen[sig.Name]; dup && sig.Name != "" {
			c.errorf(sig.Pos, "signal %q is defined twice (first at line %d)", sig.Name, p.Line)
		}
		seen[sig.Name] = sig.Pos
		validateSignal(c, s, sig)
	}
	if s.SLO != nil {
		validateSLO(c, s)
	}
	validateAlertmanager(c, s)
	if !s.NoData.Disabled {
		if s.NoData.For.D() <= 0 {
			c.errorf(s.NoData.For.Pos, "no_data.for must be positive (an alert with for: 0s fires on one bad scrape)")
		}
		validateActions(c, s.NoData.Actions)
		if !slices.Contains(Levels, s.NoData.Level) {
			c.errorf(s.Pos, "no_data.level %q is not one of yellow, red, emergency", s.NoData.Level)
		}
	}
}

func validateLevel(c *collector, s *Spec, l Level, ls *LevelSpec) {
	if ls.For.D() <= 0 {
		c.errorf(ls.For.Pos, "levels.%s.for must be positive: `for: 0s` fires on a single evaluation and flaps", l)
	}
	if ls.Severity != SeverityWarning && ls.Severity != SeverityCritical {
		c.errorf(ls.Pos, "levels.%s.severity %q must be warning or critical", l, ls.Severity)
	}
	validateActions(c, ls.Actions)
	validateWindow(c, s, ls.Windows.Short, fmt.Sprintf("levels.%s.windows.short", l))
	validateWindow(c, s, ls.Windows.Long, fmt.Sprintf("levels.%s.windows.long", l))
	if ls.Windows.Long.D() <= ls.Windows.Short.D() {
		c.errorf(ls.Windows.Long.Pos, "levels.%s.windows.long (%s) must be longer than short (%s): the short window reacts, the long one confirms", l, ls.Windows.Long, ls.Windows.Short)
	}
}

// validateWindow: a rate needs at least two samples in its window.
func validateWindow(c *collector, s *Spec, w Duration, what string) {
	if w.D() < 2*s.ScrapeInterval.D() {
		c.errorf(w.Pos, "%s (%s) must be at least 2 × scrape_interval (%s): a rate needs two samples", what, w, s.ScrapeInterval)
	}
}

func validateActions(c *collector, as []Action) {
	seen := map[ActionKind]bool{}
	for _, a := range as {
		if seen[a.Kind] {
			c.errorf(a.Pos, "action %s is listed twice", a.Kind)
		}
		seen[a.Kind] = true
		if a.Kind != ActionShed {
			continue
		}
		if !(a.Fraction > 0 && a.Fraction <= 1) {
			c.errorf(a.Pos, "shed fraction %s must be in (0, 1]", FormatNumber(a.Fraction))
		}
		for _, t := range a.Tiers {
			if t < 1 || t > 3 {
				c.errorf(a.Pos, "shed tier %d is not a tier: 1 critical, 2 normal, 3 batch", t)
			}
		}
	}
}

// allowed fields per kind, to reject e.g. `histogram` on a gauge.
var kindFields = map[Kind][]string{
	KindRatio:   {"errors", "total", "min_rate"},
	KindLatency: {"histogram", "native", "quantile"},
	KindGauge:   {"metric", "aggregate"},
	KindRate:    {"metric", "aggregate", "cores"},
	KindGrowth:  {"metric", "aggregate", "window"},
}

var kindUnits = map[Kind][]Unit{
	KindRatio:   {UnitRatio},
	KindLatency: {UnitSeconds},
	KindGauge:   {UnitCount, UnitBytes, UnitPercent, UnitRatio, UnitSeconds},
	KindRate:    {UnitPerSecond, UnitPercent, UnitRatio, UnitBytesPerSec},
	KindGrowth:  {UnitBytesPerSec, UnitPerSecond},
}

func validateSignal(c *collector, s *Spec, sig *Signal) {
	name := sig.Name
	if name == "" {
		c.errorf(sig.Pos, "a signal needs a `name` (letters, digits, underscores), e.g. error_ratio")
		name = "?"
	} else if !identRE.MatchString(name) {
		c.errorf(sig.Pos, "signal name %q must be letters, digits and underscores", name)
	}
	allowed, ok := kindFields[sig.Kind]
	if !ok {
		c.errorf(sig.Pos, "signal %s: kind %q is not one of %s", name, sig.Kind, commaList(Kinds))
		return
	}
	// Fields written for another kind. Defaults already ran: cores defaults to 1, and window and
	// min_rate count as written only when they carry a position.
	written := []struct {
		field string
		set   bool
	}{
		{"errors", sig.Errors != ""}, {"total", sig.Total != ""}, {"histogram", sig.Histogram != ""},
		{"native", sig.Native}, {"quantile", sig.Quantile != 0}, {"metric", sig.Metric != ""},
		{"cores", sig.Cores != 0 && sig.Cores != 1}, {"window", sig.Window.Pos.Line != 0},
		{"min_rate", sig.MinRate != nil && sig.MinRate.Pos.Line != 0},
	}
	for _, w := range written {
		if w.set && !slices.Contains(allowed, w.field) {
			c.errorf(sig.Pos, "signal %s: `%s` does not apply to kind %s (it takes: %v)", name, w.field, sig.Kind, allowed)
		}
	}
	if !slices.Contains(kindUnits[sig.Kind], sig.Unit) {
		c.errorf(sig.Pos, "signal %s: unit %q does not apply to kind %s (use one of %v)", name, sig.Unit, sig.Kind, kindUnits[sig.Kind])
	}
	if sig.Direction != Above && sig.Direction != Below {
		c.errorf(sig.Pos, "signal %s: direction %q must be above or below", name, sig.Direction)
	}
	if !slices.Contains([]string{"sum", "max", "min", "avg"}, sig.Aggregate) {
		c.errorf(sig.Pos, "signal %s: aggregate %q must be sum, max, min or avg", name, sig.Aggregate)
	}
	need := func(field, val, example string) {
		if val == "" {
			c.errorf(sig.Pos, "signal %s: kind %s needs `%s`, e.g. %s", name, sig.Kind, field, example)
			return
		}
		if _, err := s.MetricSelector(val); err != nil {
			c.errorf(sig.Pos, "signal %s: %s: %v", name, field, err)
		}
	}
	switch sig.Kind {
	case KindRatio:
		need("errors", sig.Errors, "erlmcp_errors_total")
		need("total", sig.Total, "erlmcp_requests_total")
		if sig.MinRate != nil {
			if err := sig.MinRate.resolve(UnitPerSecond); err != nil {
				c.errorf(sig.MinRate.Pos, "signal %s: min_rate: %v", name, err)
			} else if sig.MinRate.Value < 0 {
				c.errorf(sig.MinRate.Pos, "signal %s: min_rate must not be negative", name)
			}
		}
	case KindLatency:
		need("histogram", sig.Histogram, "erlmcp_request_duration_seconds")
		if !(sig.Quantile > 0 && sig.Quantile < 1) {
			c.errorf(sig.Pos, "signal %s: quantile must be between 0 and 1 exclusive, e.g. 0.95 for p95", name)
		}
	case KindGauge, KindRate, KindGrowth:
		need("metric", sig.Metric, "erlmcp_memory_bytes")
		if sig.Kind == KindGrowth {
			validateWindow(c, s, sig.Window, "signal "+name+" window")
		}
		if sig.Cores < 0 || math.IsNaN(sig.Cores) {
			c.errorf(sig.Pos, "signal %s: cores must be positive", name)
		}
	}
	if sig.Description == "" {
		c.warnf(sig.Pos, "signal %s has no description: dashboards and alerts show it to whoever is paged", name)
	}
	validateThresholds(c, sig, name)
}

func validateThresholds(c *collector, sig *Signal, name string) {
	var prev *Threshold
	var prevLevel Level
	any := false
	for _, l := range Levels {
		t := sig.Thresholds.Get(l)
		if t == nil {
			continue
		}
		any = true
		if err := t.Value.resolve(sig.Unit); err != nil {
			c.errorf(t.Value.Pos, "signal %s: thresholds.%s: %v", name, l, err)
			continue
		}
		v := t.Value.Value // finite: parseQuantity rejects NaN and ±Inf
		switch {
		case v < 0:
			c.errorf(t.Value.Pos, "signal %s: thresholds.%s %s is negative; use direction: below for a lower limit", name, l, t.Value.Raw)
			continue
		case sig.Unit == UnitRatio && v > 1:
			c.errorf(t.Value.Pos, "signal %s: thresholds.%s %s is above 100%%: a ratio never gets there", name, l, t.Value.Raw)
		}
		if t.For != nil && t.For.D() <= 0 {
			c.errorf(t.For.Pos, "signal %s: thresholds.%s.for must be positive", name, l)
		}
		if prev != nil {
			up := sig.Direction == Above
			if (up && v <= prev.Value.Value) || (!up && v >= prev.Value.Value) {
				word := "higher"
				if !up {
					word = "lower"
				}
				c.errorf(t.Value.Pos, "signal %s: thresholds must escalate: %s (%s) must be %s than %s (%s) for direction %s",
					name, l, t.Value.Raw, word, prevLevel, prev.Value.Raw, sig.Direction)
			}
		}
		prev, prevLevel = t, l
	}
	if !any {
		c.errorf(sig.Pos, "signal %s has no thresholds: give at least one of yellow, red, emergency", name)
	}
}

func validateSLO(c *collector, s *Spec) {
	slo := s.SLO
	if slo.Objective.Raw == "" {
		c.errorf(slo.Pos, "slo.objective is required, e.g. 99.9%% or 99.99966%% (Six Sigma)")
		return
	}
	if err := slo.Objective.resolve(UnitRatio); err != nil {
		c.errorf(slo.Objective.Pos, "slo.objective: %v", err)
		return
	}
	if !(slo.Objective.Value > 0 && slo.Objective.Value < 1) {
		c.errorf(slo.Objective.Pos, "slo.objective %s must be between 0%% and 100%% exclusive", slo.Objective.Raw)
		return
	}
	sig := s.Signal(slo.Signal)
	if sig == nil || sig.Kind != KindRatio {
		c.errorf(slo.Pos, "slo.signal %q must name a signal of kind ratio", slo.Signal)
	}
	if slo.Period.D() < 24*time.Hour {
		c.errorf(slo.Period.Pos, "slo.period %s is too short for an error budget; use e.g. 7d, 28d or 30d", slo.Period)
	}
	seen := map[string]bool{}
	for i := range slo.Windows {
		w := &slo.Windows[i]
		if w.Pos.Line == 0 {
			w.Pos = slo.Pos // a default window: its errors point at the slo that asked for it
		}
		if w.Long.D() <= 0 {
			c.errorf(w.Pos, "slo.windows[%d].long is required, e.g. 1h", i)
			continue
		}
		if seen[BurnWindowName(w)] {
			c.errorf(w.Pos, "slo.windows[%d] repeats the window pair %s", i, BurnWindowName(w))
		}
		seen[BurnWindowName(w)] = true
		validateWindow(c, s, w.Short, fmt.Sprintf("slo.windows[%d].short", i))
		if w.Short.D() >= w.Long.D() {
			c.errorf(w.Short.Pos, "slo.windows[%d].short (%s) must be shorter than long (%s)", i, w.Short, w.Long)
		}
		if w.For.D() <= 0 {
			c.errorf(w.For.Pos, "slo.windows[%d].for must be positive", i)
		}
		if !slices.Contains(Levels, w.Level) {
			c.errorf(w.Pos, "slo.windows[%d].level %q is not one of yellow, red, emergency", i, w.Level)
		}
		validateActions(c, w.Actions)
		if w.BudgetConsumed.Raw == "" {
			c.errorf(w.Pos, "slo.windows[%d].budget_consumed is required: the share of the period's budget this window may burn, e.g. 2%%", i)
			continue
		}
		if err := w.BudgetConsumed.resolve(UnitRatio); err != nil {
			c.errorf(w.BudgetConsumed.Pos, "slo.windows[%d].budget_consumed: %v", i, err)
			continue
		}
		if !(w.BudgetConsumed.Value > 0 && w.BudgetConsumed.Value <= 1) {
			c.errorf(w.BudgetConsumed.Pos, "slo.windows[%d].budget_consumed must be in (0%%, 100%%]", i)
			continue
		}
		if w.Long.D() > slo.Period.D() {
			c.errorf(w.Long.Pos, "slo.windows[%d].long (%s) is longer than the period (%s)", i, w.Long, slo.Period)
		}
		factor := w.Factor(slo.Period.D())
		if threshold := factor * slo.Budget(); threshold >= 1 {
			c.errorf(w.Pos, "slo.windows[%d] (%s) can never fire: burn factor %s × budget %s = %s needs an error ratio above 100%%; consume a smaller budget share or use a longer window",
				i, BurnWindowName(w), FormatNumber(factor), FormatNumber(slo.Budget()), FormatNumber(threshold))
		}
	}
}

// Signal returns the signal called name, or nil.
func (s *Spec) Signal(name string) *Signal {
	for _, sig := range s.Signals {
		if sig.Name == name {
			return sig
		}
	}
	return nil
}

// MetricSelector parses a metric reference of the spec (`name` or `name{matchers}`) and adds the
// spec's selector matchers that the reference does not set itself.
func (s *Spec) MetricSelector(ref string) (*parser.VectorSelector, error) {
	ms, err := promParser.ParseMetricSelector(ref)
	if err != nil {
		return nil, fmt.Errorf("%q does not parse as a metric selector: %v", ref, err)
	}
	vs := &parser.VectorSelector{}
	for _, m := range ms {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			vs.Name = m.Value
		}
	}
	if vs.Name == "" {
		return nil, fmt.Errorf("%q needs a metric name, e.g. erlmcp_requests_total{code!~\"5..\"}", ref)
	}
	vs.LabelMatchers = ms
	if s.Selector != "" {
		extra, err := promParser.ParseMetricSelector(s.Selector)
		if err != nil {
			return nil, err
		}
		for _, m := range extra {
			if !slices.ContainsFunc(ms, func(o *labels.Matcher) bool { return o.Name == m.Name }) {
				vs.LabelMatchers = append(vs.LabelMatchers, m)
			}
		}
	}
	return vs, nil
}
