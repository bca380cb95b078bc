package backtest

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// Month is the period "pages per month" is normalised to.
const Month = 30 * 24 * time.Hour

// Receiver actions, as the andon rules name them in their `action` label.
const (
	ActionPage      = "page"
	ActionShed      = "shed"
	ActionRejectNew = "reject_new"
	ActionDrain     = "drain"
	ActionAndon     = "andon"
)

// Episode is one alert label set firing: from the evaluation it fired at to the one it stopped.
type Episode struct {
	Labels  labels.Labels `json:"labels"`
	Start   time.Time     `json:"start"`
	End     time.Time     `json:"end"`               // the range's end when Ongoing
	Ongoing bool          `json:"ongoing,omitempty"` // still firing when the range ended
}

// Duration is how long the episode fired.
func (e *Episode) Duration() time.Duration { return e.End.Sub(e.Start) }

// Report is what the alerts of one rule set would have done over a range.
type Report struct {
	Rules   string         `json:"rules"`
	Source  string         `json:"source"`
	From    time.Time      `json:"from"`
	To      time.Time      `json:"to"`
	Step    string         `json:"step,omitempty"` // the --step floor, when set
	Series  int64          `json:"raw_series"`     // per window, summed
	Samples int64          `json:"raw_samples"`
	Alerts  []*AlertReport `json:"alerts"`
	// PagesPerMonth by severity label ("none" when the alert has none).
	PagesPerMonth map[string]float64 `json:"pages_per_month"`
	Actions       map[string]int     `json:"actions"` // receiver actions started, by kind
}

// AlertReport is one alert name's record (several rules may share a name).
type AlertReport struct {
	Name          string        `json:"name"`
	Rules         int           `json:"rules"`
	Severity      string        `json:"severity"`
	Actions       []string      `json:"actions"`
	Interval      time.Duration `json:"-"`
	Fired         int           `json:"fired"`          // firing episodes
	FiringSeconds float64       `json:"firing_seconds"` // summed over episodes
	Longest       float64       `json:"longest_seconds"`
	First         *time.Time    `json:"first,omitempty"`
	Last          *time.Time    `json:"last,omitempty"`
	Series        int           `json:"series"` // distinct label sets that fired
	Pages         int           `json:"pages"`
	PagesPerMonth float64       `json:"pages_per_month"`
	NoData        float64       `json:"no_data"` // share of evaluations with a raw input missing
	Episodes      []*Episode    `json:"episodes"`
	// For the timeline: the first rule's signal (worst across series), its threshold.
	Signal    string    `json:"signal,omitempty"`
	Threshold *float64  `json:"threshold,omitempty"`
	Below     bool      `json:"below,omitempty"`
	Timeline  []float64 `json:"-"`
}

// Pages says whether a firing of this alert notifies a human: the andon rules say so in their
// `action` label; an alert without one (a rule file andon did not write) is assumed to page.
func (a *AlertReport) pages() bool {
	return len(a.Actions) == 0 || slices.Contains(a.Actions, ActionPage)
}

func (r *run) report() *Report {
	rep := &Report{Rules: r.rs.Name, Source: r.src.String(), From: r.o.From.UTC(), To: r.o.To.UTC(),
		Series: int64(len(r.series)), Samples: r.samples, PagesPerMonth: map[string]float64{}, Actions: map[string]int{}}
	if r.o.Step > 0 {
		rep.Step = r.o.Step.String()
	}
	months := float64(r.o.To.Sub(r.o.From)) / float64(Month)
	byName := map[string]*AlertReport{}
	for _, st := range r.alerts {
		a := byName[st.rule.Alert]
		if a == nil {
			a = &AlertReport{Name: st.rule.Alert, Severity: cmp.Or(st.rule.Labels.Get("severity"), "none"), Interval: st.interval}
			if act := st.rule.Labels.Get("action"); act != "" {
				a.Actions = strings.Split(act, ",")
			}
			byName[a.Name] = a
			rep.Alerts = append(rep.Alerts, a)
		}
		a.Rules++
		for _, e := range st.open {
			e.End, e.Ongoing = r.o.To.UTC(), true
		}
		a.Episodes = append(a.Episodes, st.episodes...)
		if st.steps > 0 {
			// Rules of one name are weighed by their evaluations.
			a.NoData += float64(st.noData) / float64(st.steps)
		}
		if a.Signal == "" && st.signal != nil {
			th := st.threshold
			a.Signal, a.Threshold, a.Below, a.Timeline = st.signal.String(), &th, st.below, st.timeline
		}
	}
	for _, a := range rep.Alerts {
		a.NoData /= float64(a.Rules)
		slices.SortFunc(a.Episodes, func(x, y *Episode) int {
			return cmp.Or(x.Start.Compare(y.Start), labels.Compare(x.Labels, y.Labels))
		})
		series := map[uint64]bool{}
		for _, e := range a.Episodes {
			d := e.Duration()
			a.FiringSeconds += d.Seconds()
			a.Longest = max(a.Longest, d.Seconds())
			series[e.Labels.Hash()] = true
		}
		a.Fired, a.Series = len(a.Episodes), len(series)
		if a.Fired > 0 {
			f, l := a.Episodes[0].Start, a.Episodes[a.Fired-1].Start
			a.First, a.Last = &f, &l
		}
		if a.pages() {
			a.Pages = a.Fired
		}
		a.PagesPerMonth = round2(float64(a.Pages) / months)
		rep.PagesPerMonth[a.Severity] = round2(rep.PagesPerMonth[a.Severity] + float64(a.Pages)/months)
		for _, act := range a.Actions {
			if act != ActionPage {
				rep.Actions[act] += a.Fired
			}
		}
	}
	slices.SortStableFunc(rep.Alerts, func(x, y *AlertReport) int { return cmp.Compare(x.Name, y.Name) })
	return rep
}

// TotalPagesPerMonth is the pages per month of every severity.
func (r *Report) TotalPagesPerMonth() float64 {
	var t float64
	for _, v := range r.PagesPerMonth {
		t += v
	}
	return round2(t)
}

// Alert returns the named alert's record, or nil.
func (r *Report) Alert(name string) *AlertReport {
	for _, a := range r.Alerts {
		if a.Name == name {
			return a
		}
	}
	return nil
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// Diff is one alert name across the candidate and the baseline; either side may be missing.
type Diff struct {
	Name          string       `json:"name"`
	Candidate     *AlertReport `json:"-"`
	Baseline      *AlertReport `json:"-"`
	Fired         int          `json:"fired_delta"`
	FiringSeconds float64      `json:"firing_seconds_delta"`
	PagesPerMonth float64      `json:"pages_per_month_delta"`
	OnlyIn        string       `json:"only_in,omitempty"` // "candidate" or "baseline"
}

// Compare lines up two reports alert by alert.
func Compare(cand, base *Report) []Diff {
	names := map[string]bool{}
	for _, a := range cand.Alerts {
		names[a.Name] = true
	}
	for _, a := range base.Alerts {
		names[a.Name] = true
	}
	var out []Diff
	for _, n := range slices.Sorted(maps.Keys(names)) {
		c, b := cand.Alert(n), base.Alert(n)
		d := Diff{Name: n, Candidate: c, Baseline: b}
		switch {
		case b == nil:
			d.OnlyIn = "candidate"
		case c == nil:
			d.OnlyIn = "baseline"
		}
		d.Fired = fired(c) - fired(b)
		d.FiringSeconds = firingSeconds(c) - firingSeconds(b)
		d.PagesPerMonth = round2(pagesPerMonth(c) - pagesPerMonth(b))
		out = append(out, d)
	}
	return out
}

func fired(a *AlertReport) int {
	if a == nil {
		return 0
	}
	return a.Fired
}

func firingSeconds(a *AlertReport) float64 {
	if a == nil {
		return 0
	}
	return a.FiringSeconds
}

func pagesPerMonth(a *AlertReport) float64 {
	if a == nil {
		return 0
	}
	return a.PagesPerMonth
}

// Budget is what a candidate may do before the gate fails it.
type Budget struct {
	MaxPagesPerMonth float64 // < 0: no limit
	MaxNoData        float64 // largest share of no-data evaluations of any alert; < 0: no limit
}

// Check answers whether the report keeps within the budget; the reasons say why not. A report
// that read no samples proves nothing, so it fails (fail closed).
func (b Budget) Check(r *Report) []string {
	var why []string
	if r.Samples == 0 {
		why = append(why, fmt.Sprintf("no raw samples were read from %s for %s…%s: nothing is proven", r.Source, r.From.Format(time.RFC3339), r.To.Format(time.RFC3339)))
	}
	if b.MaxPagesPerMonth >= 0 && r.TotalPagesPerMonth() > b.MaxPagesPerMonth {
		why = append(why, fmt.Sprintf("%s would page %.2f times per month (%s), over the budget of %g", r.Rules, r.TotalPagesPerMonth(), sevList(r.PagesPerMonth), b.MaxPagesPerMonth))
	}
	if b.MaxNoData >= 0 {
		for _, a := range r.Alerts {
			if a.NoData > b.MaxNoData {
				why = append(why, fmt.Sprintf("alert %s had no data for %.0f%% of its evaluations (limit %.0f%%): its pages cannot be judged", a.Name, 100*a.NoData, 100*b.MaxNoData))
			}
		}
	}
	return why
}

func sevList(m map[string]float64) string { return list(m, "%s %.2f") }

// list prints a map as "key value, …" in key order.
func list[V int | float64](m map[string]V, format string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf(format, k, m[k]))
	}
	return strings.Join(parts, ", ")
}
