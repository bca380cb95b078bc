package backtest

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/model"
)

// Output is the JSON document: the candidate, and with a baseline the baseline and the diff.
type Output struct {
	Candidate *Report `json:"candidate"`
	Baseline  *Report `json:"baseline,omitempty"`
	Diff      []Diff  `json:"diff,omitempty"`
}

// JSON assembles the JSON document; base may be nil.
func JSON(cand, base *Report) Output {
	o := Output{Candidate: cand, Baseline: base}
	if base != nil {
		o.Diff = Compare(cand, base)
	}
	return o
}

// WriteTable prints the per-alert table (and, with a baseline, the side-by-side difference).
func WriteTable(w io.Writer, cand, base *Report) error {
	for _, r := range []*Report{base, cand} {
		if r == nil {
			continue
		}
		header(w, r)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ALERT\tSEVERITY\tACTIONS\tFIRED\tSERIES\tFIRING\tLONGEST\tFIRST\tLAST\tPAGES/MONTH\tNO DATA")
		for _, a := range r.Alerts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%.2f\t%s\n", a.Name, a.Severity, cmpOrDash(strings.Join(a.Actions, ",")),
				a.Fired, a.Series, dur(a.FiringSeconds), dur(a.Longest), stamp(a.First), stamp(a.Last), a.PagesPerMonth, pct(a.NoData))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "pages per month: %s (total %.2f)\n", cmpOrDash(sevList(r.PagesPerMonth)), r.TotalPagesPerMonth())
		fmt.Fprintf(w, "receiver actions started: %s\n\n", cmpOrDash(actionList(r.Actions)))
	}
	if base == nil {
		return nil
	}
	fmt.Fprintf(w, "difference: %s → %s\n", base.Rules, cand.Rules)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ALERT\tFIRED\tΔ\tFIRING\tΔ\tPAGES/MONTH\tΔ")
	for _, d := range Compare(cand, base) {
		fmt.Fprintf(tw, "%s%s\t%s → %s\t%+d\t%s → %s\t%s\t%s → %s\t%+.2f\n", d.Name, onlyIn(d.OnlyIn),
			side(d.Baseline, func(a *AlertReport) string { return fmt.Sprint(a.Fired) }), side(d.Candidate, func(a *AlertReport) string { return fmt.Sprint(a.Fired) }), d.Fired,
			side(d.Baseline, func(a *AlertReport) string { return dur(a.FiringSeconds) }), side(d.Candidate, func(a *AlertReport) string { return dur(a.FiringSeconds) }), signedDur(d.FiringSeconds),
			side(d.Baseline, func(a *AlertReport) string { return fmt.Sprintf("%.2f", a.PagesPerMonth) }), side(d.Candidate, func(a *AlertReport) string { return fmt.Sprintf("%.2f", a.PagesPerMonth) }), d.PagesPerMonth)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "pages per month: %.2f → %.2f (%+.2f)\n", base.TotalPagesPerMonth(), cand.TotalPagesPerMonth(), round2(cand.TotalPagesPerMonth()-base.TotalPagesPerMonth()))
	return nil
}

func header(w io.Writer, r *Report) {
	step := ""
	if r.Step != "" {
		step = ", step ≥ " + r.Step
	}
	fmt.Fprintf(w, "backtest of %s over %s … %s (%s%s), read by %s: %d raw series, %d samples\n", r.Rules,
		r.From.Format(time.RFC3339), r.To.Format(time.RFC3339), model.Duration(r.To.Sub(r.From)), step, r.Source, r.Series, r.Samples)
}

func onlyIn(s string) string {
	if s == "" {
		return ""
	}
	return " (only in " + s + ")"
}

func side(a *AlertReport, f func(*AlertReport) string) string {
	if a == nil {
		return "-"
	}
	return f(a)
}

func cmpOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func actionList(m map[string]int) string { return list(m, "%s %d") }

func dur(secs float64) string {
	if secs == 0 {
		return "0s"
	}
	return model.Duration(time.Duration(secs) * time.Second).String()
}

func signedDur(secs float64) string {
	if secs < 0 {
		return "-" + dur(-secs)
	}
	return "+" + dur(secs)
}

func stamp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format("2006-01-02T15:04Z")
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

//go:embed report.html.tmpl
var reportHTML string

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{"mul100": func(f float64) float64 { return 100 * f }}).Parse(reportHTML))

// chart is one alert's timeline for the page's script.
type chart struct {
	Name      string       `json:"name"`
	Signal    string       `json:"signal"`
	Lines     []chartLine  `json:"lines"` // candidate first, then baseline
	Bands     [][][2]int64 `json:"bands"` // per line: merged firing intervals, Unix ms
	Fired     []int        `json:"fired"`
	NoData    []float64    `json:"no_data"`
	PagesPerM []float64    `json:"pages_per_month"`
}

type chartLine struct {
	Label     string     `json:"label"`
	Threshold *float64   `json:"threshold"`
	Values    []*float64 `json:"values"` // nil: no data in that slot
}

// WriteHTML writes a self-contained page: per alert, the signal's worst value across series over
// the range, its threshold, and when the alert fired (candidate, and baseline when given).
func WriteHTML(w io.Writer, cand, base *Report) error {
	reps := []*Report{cand}
	if base != nil {
		reps = append(reps, base)
	}
	names := map[string]bool{}
	for _, r := range reps {
		for _, a := range r.Alerts {
			names[a.Name] = true
		}
	}
	var charts []chart
	for _, n := range slices.Sorted(maps.Keys(names)) {
		c := chart{Name: n}
		for i, r := range reps {
			a := r.Alert(n)
			label := []string{"candidate", "baseline"}[i]
			if a == nil {
				c.Lines = append(c.Lines, chartLine{Label: label + " (no such alert)"})
				c.Bands = append(c.Bands, nil)
				c.Fired, c.NoData, c.PagesPerM = append(c.Fired, 0), append(c.NoData, 0), append(c.PagesPerM, 0)
				continue
			}
			c.Signal = cmpOrDash(a.Signal)
			l := chartLine{Label: label, Threshold: a.Threshold}
			for _, v := range a.Timeline {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					l.Values = append(l.Values, nil)
				} else {
					l.Values = append(l.Values, &v)
				}
			}
			c.Lines = append(c.Lines, l)
			c.Bands = append(c.Bands, merged(a.Episodes))
			c.Fired, c.NoData, c.PagesPerM = append(c.Fired, a.Fired), append(c.NoData, a.NoData), append(c.PagesPerM, a.PagesPerMonth)
		}
		charts = append(charts, c)
	}
	data, err := json.Marshal(map[string]any{"from": cand.From.UnixMilli(), "to": cand.To.UnixMilli(), "charts": charts})
	if err != nil {
		return err
	}
	var head strings.Builder
	for _, r := range reps {
		header(&head, r)
	}
	return reportTmpl.Execute(w, map[string]any{
		"Title": "andon backtest: " + cand.Rules, "Header": head.String(), "Candidate": cand, "Baseline": base,
		"Data": template.JS(data),
	})
}

// merged is the union of the episodes' intervals: when any series of the alert fired.
func merged(es []*Episode) [][2]int64 {
	var out [][2]int64
	for _, e := range es { // sorted by start
		s, t := e.Start.UnixMilli(), e.End.UnixMilli()
		if n := len(out); n > 0 && s <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], t)
			continue
		}
		out = append(out, [2]int64{s, t})
	}
	return out
}
