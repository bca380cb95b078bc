// Package explain prints a spec for people: what fires when, held how long, doing what, and the
// numbers derived from the SLO.
package explain

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/model"

	"github.com/andon-sre/andon/dashboards"
	"github.com/andon-sre/andon/limits"
	"github.com/andon-sre/andon/rulegen"
)

// Write prints the explanation of res to w.
func Write(w io.Writer, res *rulegen.Result) error {
	s := res.Spec
	fmt.Fprintf(w, "Service %s — alerts evaluated per %s, every %s (scrape %s)\n\n", s.Service, groupedBy(s), s.EvaluationInterval, s.ScrapeInterval)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SIGNAL\tKIND\tLEVEL\tTHRESHOLD\tWINDOWS\tFOR\tKEEP FIRING\tACTIONS")
	for _, a := range res.Alerts {
		if a.Kind != rulegen.AlertSignal {
			continue
		}
		sig := a.Signal
		op := ">"
		if sig.Direction == limits.Below {
			op = "<"
		}
		windows := "-"
		if sig.Windowed() {
			windows = fmt.Sprintf("%s & %s", a.Windows.Short, a.Windows.Long)
		} else if sig.Kind == limits.KindGrowth {
			windows = sig.Window.String()
		}
		kind := string(sig.Kind)
		if sig.Kind == limits.KindLatency {
			kind = limits.QuantileName(sig.Quantile)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%s\t%s\t%s\t%s\n", sig.Name, kind, a.Level, op, limits.FormatThreshold(sig, a.Threshold),
			windows, dur(a.For), dur(a.KeepFiringFor), actions(s.Levels.Get(a.Level).Actions))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.SLO != nil {
		if err := writeSLO(w, s); err != nil {
			return err
		}
	}
	if err := writeRetention(w, res); err != nil {
		return err
	}
	fmt.Fprintln(w)
	counts := map[rulegen.AlertKind]int{}
	for _, a := range res.Alerts {
		counts[a.Kind]++
	}
	fmt.Fprintf(w, "%d alerts: %d signal limits, %d burn-rate, %d no-data (%d target down, %d absent series); green is none of them firing.\n",
		len(res.Alerts), counts[rulegen.AlertSignal], counts[rulegen.AlertBurn], counts[rulegen.AlertTargetDown]+counts[rulegen.AlertAbsent],
		counts[rulegen.AlertTargetDown], counts[rulegen.AlertAbsent])
	return nil
}

func writeSLO(w io.Writer, s *limits.Spec) error {
	slo := s.SLO
	budget := slo.Budget()
	period := slo.Period.D()
	sig := s.Signal(slo.Signal)
	fmt.Fprintf(w, "\nSLO on %s: objective %s over %s, judged per %s\n", slo.Signal, slo.Objective.Raw, slo.Period, sloScope(slo))
	fmt.Fprintf(w, "  error budget  %s of requests = %s defects per million (Six Sigma: 3.4 DPMO)\n",
		limits.FormatNumber(budget*100)+"%", limits.FormatNumber(budget*1e6))
	fmt.Fprintf(w, "  as time       %s of full outage per %s\n", dur(time.Duration(budget*float64(period)).Round(time.Millisecond)), slo.Period)
	minRate := sig.MinRate.Value
	fmt.Fprintf(w, "  at min_rate   %s req/s the period holds %s requests, %s of them may fail\n", limits.FormatNumber(minRate),
		limits.FormatNumber(minRate*period.Seconds()), limits.FormatNumber(budget*minRate*period.Seconds()))
	fmt.Fprintf(w, "  guard         a burn-rate alert needs %s req/s or more (min_rate) and %s failed requests or more (min_events) in its long window\n",
		limits.FormatNumber(minRate), slo.MinEvents.Raw)
	fmt.Fprintf(w, "  retention     the rules read %s back: run Prometheus with --storage.tsdb.retention.time=%s or more (its default is 15d)\n",
		dur(s.RetentionNeeded()), dur(s.RetentionNeeded()))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  BURN WINDOW\tBUDGET SPENT\tBURN FACTOR\tFIRES ABOVE ERROR RATIO\tLEVEL\tFOR\tKEEP FIRING\tACTIONS")
	for i := range slo.Windows {
		bw := &slo.Windows[i]
		f := bw.Factor(period)
		fmt.Fprintf(tw, "  %s & %s\t%s\t%s×\t%s\t%s\t%s\t%s\t%s\n", bw.Long, bw.Short, bw.BudgetConsumed.Raw, limits.FormatNumber(f),
			limits.FormatNumber(f*budget*100)+"%", bw.Level, bw.For, dur(bw.KeepFiringFor.D()), actions(bw.Actions))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeOnCall(w, s)
}

// writeOnCall: what an on-call lives with, per burn window. One failed request crosses the long
// window's burn rate below some traffic (the guard stops it); at the objective's own error rate,
// failures arrive as a Poisson process and cross the factor now and then.
func writeOnCall(w io.Writer, s *limits.Spec) error {
	slo := s.SLO
	budget, period := slo.Budget(), slo.Period.D()
	minRate := s.Signal(slo.Signal).MinRate.Value
	rates := []float64{minRate, 100 * minRate}
	if minRate <= 0 {
		rates = []float64{1, 100}
	}
	fmt.Fprintf(w, "\n  What an on-call lives with: alerts per %s when failures arrive at the objective's own rate (%s), at %s and %s req/s\n",
		slo.Period, limits.FormatNumber(budget*100)+"%", limits.FormatNumber(rates[0]), limits.FormatNumber(rates[1]))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  BURN WINDOW\tONE FAILURE CROSSES IT BELOW\tGUARD NEEDS\tALERTS/%s @%s REQ/S\tALERTS/%s @%s REQ/S\n",
		slo.Period, limits.FormatNumber(rates[0]), slo.Period, limits.FormatNumber(rates[1]))
	for i := range slo.Windows {
		bw := &slo.Windows[i]
		f := bw.Factor(period)
		long := bw.Long.D().Seconds()
		fmt.Fprintf(tw, "  %s & %s\t%s req/s\t%s failures in %s\t%s\t%s\n", bw.Long, bw.Short,
			limits.FormatNumber(round2(1/(f*budget*long))), slo.MinEvents.Raw, bw.Long,
			alertsPerPeriod(bw, f, budget, rates[0], slo.MinEvents.Value, period), alertsPerPeriod(bw, f, budget, rates[1], slo.MinEvents.Value, period))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "  (Poisson failures, long windows taken one after another and the short window as independent: an estimate, not a bound.)")
	return nil
}

// alertsPerPeriod estimates how often burn window bw fires per period when failures arrive at
// the budget's own rate at traffic rate: the long window must see more than factor × its
// expected failures and at least minEvents, the short window more than factor × its own.
func alertsPerPeriod(bw *limits.BurnWindow, factor, budget, rate, minEvents float64, period time.Duration) string {
	lambdaLong := budget * rate * bw.Long.D().Seconds()
	lambdaShort := budget * rate * bw.Short.D().Seconds()
	pLong := poissonTail(lambdaLong, max(minEvents, math.Floor(factor*lambdaLong)+1))
	pShort := poissonTail(lambdaShort, max(1, math.Floor(factor*lambdaShort)+1))
	n := float64(period) / float64(bw.Long.D()) * pLong * pShort
	switch {
	case n < 0.005:
		return "0"
	case n < 0.01:
		return "<0.01"
	}
	return limits.FormatNumber(round2(n))
}

// poissonTail is P(X ≥ k) for X ~ Poisson(lambda): summed upwards from k in log space for small
// lambda (no cancellation), the normal approximation with continuity correction for large.
func poissonTail(lambda, k float64) float64 {
	if lambda <= 0 {
		return 0
	}
	if lambda > 1000 {
		return 0.5 * math.Erfc((k-0.5-lambda)/math.Sqrt(2*lambda))
	}
	sum := 0.0
	for i := k; i < k+20*math.Sqrt(lambda)+100; i++ {
		lg, _ := math.Lgamma(i + 1)
		sum += math.Exp(i*math.Log(lambda) - lambda - lg)
	}
	return min(sum, 1)
}

// round2 keeps two significant digits: these are estimates.
func round2(v float64) float64 {
	if v == 0 {
		return 0
	}
	scale := math.Pow(10, math.Floor(math.Log10(math.Abs(v)))-1)
	return math.Round(v/scale) * scale
}

func sloScope(slo *limits.SLO) string {
	if len(slo.GroupBy) == 0 {
		return "service (all instances together)"
	}
	return strings.Join(slo.GroupBy, ", ")
}

// prometheusDefaultRetention is Prometheus' --storage.tsdb.retention.time when none is set.
const prometheusDefaultRetention = 15 * 24 * time.Hour

// writeRetention says how much history the dashboard's panels read, and which need the most.
func writeRetention(w io.Writer, res *rulegen.Result) error {
	rs, err := dashboards.Retention(res)
	if err != nil {
		return err
	}
	var most time.Duration
	var panels []string
	for _, r := range rs {
		switch {
		case r.Needs > most:
			most, panels = r.Needs, []string{r.Title}
		case r.Needs == most:
			panels = append(panels, r.Title)
		}
	}
	fmt.Fprintf(w, "\nPrometheus retention: the dashboard needs ≥ %s (%s)", model.Duration(most), strings.Join(panels, ", "))
	if most > prometheusDefaultRetention {
		fmt.Fprintf(w, "; Prometheus keeps %s by default: set --storage.tsdb.retention.time", model.Duration(prometheusDefaultRetention))
	}
	fmt.Fprintln(w, ".")
	return nil
}

func groupedBy(s *limits.Spec) string {
	if len(s.GroupBy) == 0 {
		return "whole service"
	}
	return strings.Join(s.GroupBy, ", ")
}

func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return model.Duration(d).String()
}

func actions(as []limits.Action) string {
	var parts []string
	for _, a := range as {
		parts = append(parts, a.String())
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
