// Package explain prints a spec for people: what fires when, held how long, doing what, and the
// numbers derived from the SLO.
package explain

import (
	"fmt"
	"io"
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
	fmt.Fprintf(w, "\nSLO on %s: objective %s over %s\n", slo.Signal, slo.Objective.Raw, slo.Period)
	fmt.Fprintf(w, "  error budget  %s of requests = %s defects per million (Six Sigma: 3.4 DPMO)\n",
		limits.FormatNumber(budget*100)+"%", limits.FormatNumber(budget*1e6))
	fmt.Fprintf(w, "  as time       %s of full outage per %s\n", dur(time.Duration(budget*float64(period)).Round(time.Millisecond)), slo.Period)
	if sig := s.Signal(slo.Signal); sig != nil && sig.MinRate != nil {
		fmt.Fprintf(w, "  at min_rate   %s req/s the period holds %s requests, %s of them may fail\n", limits.FormatNumber(sig.MinRate.Value),
			limits.FormatNumber(sig.MinRate.Value*period.Seconds()), limits.FormatNumber(budget*sig.MinRate.Value*period.Seconds()))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  BURN WINDOW\tBUDGET SPENT\tBURN FACTOR\tFIRES ABOVE ERROR RATIO\tLEVEL\tFOR\tACTIONS")
	for i := range slo.Windows {
		bw := &slo.Windows[i]
		f := bw.Factor(period)
		fmt.Fprintf(tw, "  %s & %s\t%s\t%s×\t%s\t%s\t%s\t%s\n", bw.Long, bw.Short, bw.BudgetConsumed.Raw, limits.FormatNumber(f),
			limits.FormatNumber(f*budget*100)+"%", bw.Level, bw.For, actions(bw.Actions))
	}
	return tw.Flush()
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
