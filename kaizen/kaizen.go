// Package kaizen builds the Kaizen review of the andon ledger for a period:
// andons by failure type and stage, the mean-time-to-resolve trend, blocked
// time per sku, the recurrence rate, and the slowest resolutions with their
// root cause, fix and prevention. Output is JSON and a self-contained HTML
// page with plots.
package kaizen

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/andon-sre/andon/andon"
)

// Options choose the period and how it is cut.
type Options struct {
	From, To time.Time
	// Bucket of the trend (default: a day for periods up to 62 days, else a week).
	Bucket time.Duration
	// Slowest resolutions listed (default 10).
	Slowest int
}

// Report is the Kaizen review of one period. Times are UTC; durations seconds.
type Report struct {
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Bucket    string    `json:"bucket"`
	Opened    int       `json:"opened"`   // andons opened in the period
	Resolved  int       `json:"resolved"` // of those, resolved by the end of it
	StillOpen int       `json:"still_open"`
	// MTTRSeconds is the mean time to resolve of the andons resolved in the period.
	MTTRSeconds float64 `json:"mttr_seconds"`
	ByType      []Count `json:"by_type"`
	ByStage     []Count `json:"by_stage"`
	Trend       []Point `json:"trend"`
	Blocked     []SKU   `json:"blocked"`
	// Recurrences: andons opened in the period within andon.RecurrenceWindow
	// after an andon of the same sku and failure type (which may be older than the period).
	Recurrences    int          `json:"recurrences"`
	RecurrenceRate float64      `json:"recurrence_rate"` // recurrences / opened
	Recurring      []Recurring  `json:"recurring"`
	Slowest        []Resolution `json:"slowest"`
}

// Count is how many andons of one failure type (or stage) opened in the period.
type Count struct {
	Key      string `json:"key"`
	Opened   int    `json:"opened"`
	Resolved int    `json:"resolved"`
}

// Point is one bucket of the trend.
type Point struct {
	Start       time.Time `json:"start"`
	Opened      int       `json:"opened"`
	Resolved    int       `json:"resolved"`     // resolutions in the bucket
	MTTRSeconds float64   `json:"mttr_seconds"` // their mean time to resolve (0 when none)
}

// SKU is how long a sku was blocked (at least one open andon) in the period.
type SKU struct {
	SKU            string  `json:"sku"`
	BlockedSeconds float64 `json:"blocked_seconds"`
	Andons         int     `json:"andons"`
}

// Recurring is a sku and failure type that stopped the line more than once.
type Recurring struct {
	SKU         string            `json:"sku"`
	Type        andon.FailureType `json:"type"`
	Recurrences int               `json:"recurrences"`
}

// Resolution is one of the slowest resolutions, with what was learned.
type Resolution struct {
	ID              string            `json:"id"`
	SKU             string            `json:"sku"`
	Type            andon.FailureType `json:"type"`
	Stage           string            `json:"stage"`
	OpenedAt        time.Time         `json:"opened_at"`
	ResolvedAt      time.Time         `json:"resolved_at"`
	TTRSeconds      float64           `json:"ttr_seconds"`
	RootCause       string            `json:"root_cause"`
	FixApplied      string            `json:"fix_applied"`
	PreventionAdded string            `json:"prevention_added"`
	Resolver        string            `json:"resolver,omitempty"`
}

// Validate checks the period.
func (o Options) Validate() error {
	if !o.From.Before(o.To) {
		return fmt.Errorf("period from %s to %s is empty: --from must be before --to", o.From.Format(time.RFC3339), o.To.Format(time.RFC3339))
	}
	if o.Bucket < 0 || o.Slowest < 0 {
		return fmt.Errorf("bucket and slowest must not be negative")
	}
	if o.Bucket > 0 && o.To.Sub(o.From)/o.Bucket > 10_000 {
		return fmt.Errorf("bucket %s cuts the period into more than 10000 points: use a longer --bucket", o.Bucket)
	}
	return nil
}

// Build computes the review from every andon of the ledger (older ones
// count for recurrences and blocked time that reaches into the period).
// now ends the andons still open.
func Build(all []andon.Andon, o Options, now time.Time) (*Report, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	from, to := o.From.UTC(), o.To.UTC()
	if o.Bucket == 0 {
		o.Bucket = 24 * time.Hour
		if to.Sub(from) > 62*24*time.Hour {
			o.Bucket = 7 * 24 * time.Hour
		}
	}
	if o.Slowest == 0 {
		o.Slowest = 10
	}
	r := &Report{From: from, To: to, Bucket: map[time.Duration]string{24 * time.Hour: "day", 7 * 24 * time.Hour: "week"}[o.Bucket]}
	if r.Bucket == "" {
		r.Bucket = human(o.Bucket.Seconds())
	}
	for t := from; t.Before(to); t = t.Add(o.Bucket) {
		r.Trend = append(r.Trend, Point{Start: t})
	}
	bucket := func(t time.Time) *Point { return &r.Trend[int(t.Sub(from)/o.Bucket)] }
	in := func(t time.Time) bool { return !t.Before(from) && t.Before(to) }

	byType, byStage := map[string]*Count{}, map[string]*Count{}
	count := func(m map[string]*Count, k string, resolved bool) {
		if m[k] == nil {
			m[k] = &Count{Key: k}
		}
		m[k].Opened++
		if resolved {
			m[k].Resolved++
		}
	}
	bySKUType := map[[2]string][]andon.Andon{}
	for _, a := range all {
		k := [2]string{a.SKU, string(a.Type)}
		bySKUType[k] = append(bySKUType[k], a)
	}
	recurring := map[[2]string]int{}
	var ttrSum float64
	var slow []Resolution
	for _, a := range all {
		resolvedAt := a.ResolvedAt != nil && in(*a.ResolvedAt)
		if resolvedAt {
			ttr := a.TimeToResolve(now).Seconds()
			ttrSum += ttr
			p := bucket(*a.ResolvedAt)
			p.MTTRSeconds = (p.MTTRSeconds*float64(p.Resolved) + ttr) / float64(p.Resolved+1)
			p.Resolved++
			res := a.Resolution
			if res == nil {
				res = &andon.Resolution{}
			}
			slow = append(slow, Resolution{ID: a.ID, SKU: a.SKU, Type: a.Type, Stage: a.Stage, OpenedAt: a.OpenedAt.UTC(), ResolvedAt: a.ResolvedAt.UTC(),
				TTRSeconds: ttr, RootCause: res.RootCause, FixApplied: res.FixApplied, PreventionAdded: res.PreventionAdded, Resolver: res.Resolver})
		}
		if !in(a.OpenedAt) {
			continue
		}
		r.Opened++
		done := a.ResolvedAt != nil && a.ResolvedAt.Before(to)
		if done {
			r.Resolved++
		}
		count(byType, string(a.Type), done)
		count(byStage, cmp.Or(a.Stage, "(none)"), done)
		bucket(a.OpenedAt).Opened++
		k := [2]string{a.SKU, string(a.Type)}
		if andon.IsRecurrence(a, bySKUType[k], andon.RecurrenceWindow) {
			r.Recurrences++
			recurring[k]++
		}
	}
	r.StillOpen = r.Opened - r.Resolved
	if len(slow) > 0 {
		r.MTTRSeconds = ttrSum / float64(len(slow))
	}
	if r.Opened > 0 {
		r.RecurrenceRate = float64(r.Recurrences) / float64(r.Opened)
	}
	r.ByType, r.ByStage = sorted(byType), sorted(byStage)
	for k, n := range recurring {
		r.Recurring = append(r.Recurring, Recurring{SKU: k[0], Type: andon.FailureType(k[1]), Recurrences: n})
	}
	slices.SortFunc(r.Recurring, func(a, b Recurring) int {
		return cmp.Or(cmp.Compare(b.Recurrences, a.Recurrences), cmp.Compare(a.SKU, b.SKU), cmp.Compare(a.Type, b.Type))
	})
	slices.SortFunc(slow, func(a, b Resolution) int {
		return cmp.Or(cmp.Compare(b.TTRSeconds, a.TTRSeconds), cmp.Compare(a.ID, b.ID))
	})
	r.Slowest = slow[:min(len(slow), o.Slowest)]
	end := to
	if now.Before(end) {
		end = now
	}
	r.Blocked = blocked(all, from, end)
	return r, nil
}

func sorted(m map[string]*Count) []Count {
	out := make([]Count, 0, len(m))
	for _, c := range m {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Count) int { return cmp.Or(cmp.Compare(b.Opened, a.Opened), cmp.Compare(a.Key, b.Key)) })
	return out
}

// blocked is, per sku, the time within [from, to) covered by at least one
// of its open andons (overlapping andons count once).
func blocked(all []andon.Andon, from, to time.Time) []SKU {
	type span struct{ start, end time.Time }
	spans := map[string][]span{}
	for _, a := range all {
		end := to
		if a.ResolvedAt != nil && a.ResolvedAt.Before(to) {
			end = *a.ResolvedAt
		}
		start := a.OpenedAt
		if start.Before(from) {
			start = from
		}
		if end.After(start) {
			spans[a.SKU] = append(spans[a.SKU], span{start, end})
		}
	}
	var out []SKU
	for sku, ss := range spans {
		slices.SortFunc(ss, func(a, b span) int { return a.start.Compare(b.start) })
		var total time.Duration
		cur := ss[0]
		for _, s := range ss[1:] {
			if s.start.After(cur.end) {
				total += cur.end.Sub(cur.start)
				cur = s
			} else if s.end.After(cur.end) {
				cur.end = s.end
			}
		}
		total += cur.end.Sub(cur.start)
		out = append(out, SKU{SKU: sku, BlockedSeconds: total.Seconds(), Andons: len(ss)})
	}
	slices.SortFunc(out, func(a, b SKU) int {
		return cmp.Or(cmp.Compare(b.BlockedSeconds, a.BlockedSeconds), cmp.Compare(a.SKU, b.SKU))
	})
	return out
}
