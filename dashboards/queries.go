package dashboards

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/andon-sre/andon/limits"
)

// Raw series the dashboard reads that no recording rule produces: Prometheus' own ALERTS and the
// metrics of andon's receiver and admission middleware (names in docs/contracts.md). Everything
// else is a recorded series whose name comes from limits.
const (
	metricAlerts = "ALERTS"
	metricUp     = "up" // the job variable lists the jobs of the service's targets from it

	metricAndonOpen          = "andon_open"
	metricAndonTriggered     = "andon_triggered_total"
	metricAndonResolved      = "andon_resolved_total"
	metricAndonTimeToResolve = "andon_time_to_resolve_seconds"
	metricAndonBlocked       = "andon_blocked_seconds_total"
	metricActions            = "andon_actions_total"
	metricActiveActions      = "andon_active_actions"
	metricWebhookNotified    = "andon_webhook_notifications_total"

	metricAdmissionRequests = "andon_admission_requests_total"
	metricAdmissionInFlight = "andon_admission_in_flight"
	metricAdmissionQueue    = "andon_admission_queue_depth"
	metricAdmissionShed     = "andon_admission_shed_fraction"
	metricAdmissionSetting  = "andon_admission_setting_active"
)

// rawMetrics are the series names above as queries spell them (a histogram by its _bucket series).
var rawMetrics = []string{
	metricAlerts, metricUp,
	metricAndonOpen, metricAndonTriggered, metricAndonResolved, metricAndonTimeToResolve + "_bucket",
	metricAndonBlocked, metricActions, metricActiveActions, metricWebhookNotified,
	metricAdmissionRequests, metricAdmissionInFlight, metricAdmissionQueue, metricAdmissionShed, metricAdmissionSetting,
}

// Grafana's variables as a panel query may use them, with stand-ins that make the query valid
// PromQL: generated queries are parsed with these before they are written, and tests run them.
var grafanaVars = []struct{ name, standIn string }{
	{"$__rate_interval", "1m"},
	{"$__interval", "15s"},
	{"$__range", "1h"},
}

// substitute replaces Grafana's variables in expr: built-in ones by rangeStandIn (or the default
// stand-in), template variables ($instance, ...) by valueStandIn.
func substitute(expr string, vars []string, rangeStandIn, valueStandIn string) string {
	for _, v := range grafanaVars {
		r := v.standIn
		if rangeStandIn != "" {
			r = rangeStandIn
		}
		expr = strings.ReplaceAll(expr, v.name, r)
	}
	for _, v := range vars {
		expr = strings.ReplaceAll(expr, "$"+v, valueStandIn)
	}
	return expr
}

var promParser = parser.NewParser(parser.Options{})

// checkExpr parses expr with Grafana's variables replaced, so nothing unparsable is ever written.
func checkExpr(expr string, vars []string) error {
	if _, err := promParser.ParseExpr(substitute(expr, vars, "", ".*")); err != nil {
		return fmt.Errorf("internal error: dashboard query does not parse: %q: %w", expr, err)
	}
	return nil
}

func eq(name, value string) *labels.Matcher {
	return labels.MustNewMatcher(labels.MatchEqual, name, value)
}

// selector prints name{matchers} in the order given.
func selector(name string, ms ...*labels.Matcher) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return name + "{" + strings.Join(parts, ", ") + "}"
}

// varMatchers narrow a query to the group_by labels picked in the dashboard's variables.
func varMatchers(spec *limits.Spec) []*labels.Matcher {
	ms := make([]*labels.Matcher, len(spec.GroupBy))
	for i, l := range spec.GroupBy {
		ms[i] = labels.MustNewMatcher(labels.MatchRegexp, l, "$"+l)
	}
	return ms
}

// recorded selects a recorded series of the service, narrowed by the group_by variables.
func recorded(spec *limits.Spec, name string, extra ...*labels.Matcher) string {
	ms := append([]*labels.Matcher{eq(limits.LabelService, spec.Service)}, varMatchers(spec)...)
	return selector(name, append(ms, extra...)...)
}

// scraped selects a raw series exported by the service's own targets (the admission middleware's),
// with the spec's selector and the group_by variables.
func (g *gen) scraped(name string) string {
	ms := append(slices.Clip(g.scrape), varMatchers(g.spec)...)
	if g.hasJobVar() {
		ms = append(ms, labels.MustNewMatcher(labels.MatchRegexp, jobVar, "$"+jobVar))
	}
	return selector(name, ms...)
}

// firing selects the firing alerts of one signal of the service at one level.
func firing(spec *limits.Spec, signal string, l limits.Level) string {
	return selector(metricAlerts, eq("alertstate", "firing"), eq(limits.LabelService, spec.Service),
		eq(limits.LabelSignal, signal), eq(limits.LabelLevel, string(l)))
}

// levelValues map a level to the number a level stat shows; green is 0, no alert firing.
var levelValues = map[limits.Level]int{limits.Yellow: 1, limits.Red: 2, limits.Emergency: 3}

// levelExpr is the worst level firing for a signal: `or` keeps its left side where both have the
// same (empty) labels, so listing the levels from the worst down returns the worst one present,
// and vector(0) is green when none fires.
func levelExpr(spec *limits.Spec, signal string, levels []limits.Level) string {
	parts := make([]string, 0, len(levels)+1)
	for i := len(levels) - 1; i >= 0; i-- {
		parts = append(parts, fmt.Sprintf("max(%s) * %d", firing(spec, signal, levels[i]), levelValues[levels[i]]))
	}
	return strings.Join(append(parts, "vector(0)"), " or ")
}

// sumOf aggregates a selector over the picked group_by values.
func sumOf(sel string) string { return "sum(" + sel + ")" }

// ratioOf is sum(errors) / sum(totals): the service-wide error ratio from per-group rates.
func ratioOf(spec *limits.Spec, sig *limits.Signal, w time.Duration) string {
	return fmt.Sprintf("%s / %s", sumOf(recorded(spec, spec.ErrorsRateSeries(sig, w))),
		sumOf(recorded(spec, spec.TotalRateSeries(sig, w))))
}

// receiverPresent is 0 when the andon receiver exports its ledger and nothing when it does not, so
// ledger stats read 0 with a receiver and "no data" without one (its counters exist from start).
func receiverPresent() string { return "sum(" + metricAndonTriggered + ") * 0" }
