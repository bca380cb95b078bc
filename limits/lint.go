package limits

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Lints: specs that load and generate, but that an on-call would not want to live with. They
// are warnings (errors under `andon check --strict`), each with where it is and what to change.

// errorCounterRE matches counters of failures by the usual naming: *_errors_total, *_failures_total, …
var errorCounterRE = regexp.MustCompile(`(?i)_(errors?|errs|failures?|failed|faults|exceptions)(_total)?$`)

// MinRateWindowSamples: a rate window should hold this many scrapes, so one missed or late
// scrape leaves it at least three samples, and its first-to-last span most of the window.
const MinRateWindowSamples = 4

func lint(c *collector, s *Spec) {
	for _, sig := range s.Signals {
		lintErrorCounterRate(c, sig)
	}
	lintForDurations(c, s)
	lintWindows(c, s)
	if s.SLO != nil {
		lintBurnBelowLimits(c, s)
	}
	if !s.NoData.Disabled && s.Levels.Get(s.NoData.Level).Severity == SeverityCritical {
		c.warnf(s.Pos, "no_data.level %s makes every absent-series alert (one per raw metric) and the target-down alert %s: a renamed metric pages like an outage; use no_data.level: yellow (the default), the burn-rate and limit alerts carry the urgent pages",
			s.NoData.Level, SeverityCritical)
	}
}

// lintErrorCounterRate: the seed's own mistake, a counter of errors read as a rate and compared
// with a ratio threshold (errors per second against 0.05%).
func lintErrorCounterRate(c *collector, sig *Signal) {
	if sig.Kind != KindRate || (sig.Unit != UnitRatio && sig.Unit != UnitPercent) {
		return
	}
	vs, err := (&Spec{}).MetricSelector(sig.Metric)
	if err != nil || !errorCounterRE.MatchString(vs.Name) {
		return
	}
	c.warnf(sig.Pos, "signal %s: kind rate with unit %s on the error counter %s compares errors per second with a %s threshold (one error a second reads as 100%%); "+
		"use `kind: ratio` with `errors: %s` and `total:` its requests counter (e.g. %s), which divides errors by requests",
		sig.Name, sig.Unit, vs.Name, sig.Unit, sig.Metric, requestsCounterFor(vs.Name))
}

// requestsCounterFor guesses the requests counter beside an error counter, for the fix's example.
func requestsCounterFor(errs string) string {
	if m := errorCounterRE.FindStringIndex(errs); m != nil {
		return errs[:m[0]] + "_requests_total"
	}
	return "requests_total"
}

// lintForDurations: a `for` shorter than two evaluation intervals fires on the first or second
// evaluation that sees the condition: one bad scrape is enough.
func lintForDurations(c *collector, s *Spec) {
	minFor := 2 * s.EvaluationInterval.D()
	check := func(d Duration, what string) {
		if d.D() > 0 && d.D() < minFor {
			c.warnf(orPos(d.Pos, s.Pos), "%s (%s) is shorter than two evaluation intervals (%s): the alert fires on the first evaluations that see the condition, one bad scrape is enough; use for: %s or more",
				what, d, WindowName(minFor), WindowName(minFor))
		}
	}
	for _, l := range Levels {
		check(s.Levels.Get(l).For, "levels."+string(l)+".for")
	}
	for _, sig := range s.Signals {
		for _, l := range sig.Levels() {
			if t := sig.Thresholds.Get(l); t.For != nil {
				check(*t.For, fmt.Sprintf("signal %s: thresholds.%s.for", sig.Name, l))
			}
		}
	}
	if s.SLO != nil {
		for i, w := range s.SLO.Windows {
			check(w.For, fmt.Sprintf("slo.windows[%d].for", i))
		}
	}
	if !s.NoData.Disabled {
		check(s.NoData.For, "no_data.for")
	}
}

// lintWindows: a rate window of two or three scrapes loses its value (and resets the alert's
// `for`) when one scrape is missed or late.
func lintWindows(c *collector, s *Spec) {
	need := MinRateWindowSamples * s.ScrapeInterval.D()
	check := func(w Duration, what string) {
		if w.D() < need {
			c.warnf(orPos(w.Pos, s.Pos), "%s (%s) holds fewer than %d scrapes at scrape_interval %s: one missed scrape leaves the rate without a value and resets the alert's for; use %s or more",
				what, w, MinRateWindowSamples, s.ScrapeInterval, WindowName(need))
		}
	}
	used := map[Level]bool{}
	for _, sig := range s.Signals {
		if sig.Windowed() {
			for _, l := range sig.Levels() {
				used[l] = true
			}
		}
		if sig.Kind == KindGrowth {
			check(sig.Window, "signal "+sig.Name+" window")
		}
	}
	for _, l := range Levels {
		if used[l] {
			ws := s.Levels.Get(l).Windows
			check(ws.Short, "levels."+string(l)+".windows.short")
			check(ws.Long, "levels."+string(l)+".windows.long")
		}
	}
	if s.SLO != nil {
		for i, w := range s.SLO.Windows {
			check(w.Short, fmt.Sprintf("slo.windows[%d].short", i))
		}
	}
}

// lintBurnBelowLimits: a burn-rate alert that fires at an error ratio below the signal's lowest
// operating threshold pages while every limit is green: the objective contradicts the limits.
func lintBurnBelowLimits(c *collector, s *Spec) {
	slo := s.SLO
	sig := s.Signal(slo.Signal)
	ls := sig.Levels()
	if sig.Direction != Above || len(ls) == 0 {
		return
	}
	lowest, lowestLevel := sig.Thresholds.Get(ls[0]).Value.Value, ls[0]
	budget := slo.Budget()
	var below []string
	minFactor := 0.0
	for i := range slo.Windows {
		w := &slo.Windows[i]
		f := w.Factor(slo.Period.D())
		if at := f * budget; at < lowest {
			below = append(below, fmt.Sprintf("%s at %s (%s×)", BurnWindowName(w), FormatThreshold(sig, at), FormatNumber(f)))
			if minFactor == 0 || f < minFactor {
				minFactor = f
			}
		}
	}
	if len(below) == 0 {
		return
	}
	objective := 1 - lowest/minFactor
	c.warnf(slo.Objective.Pos, "slo.objective %s contradicts signal %s's limits: burn-rate alerts %s fire below its lowest limit (%s %s), so the SLO alerts while every limit is green; "+
		"lower the objective to %s or less (budget ≥ %s ÷ %s×), or lower thresholds.%s to %s or less",
		slo.Objective.Raw, sig.Name, strings.Join(below, ", "), lowestLevel, FormatThreshold(sig, lowest),
		FormatNumber(objective*100)+"%", FormatThreshold(sig, lowest), FormatNumber(minFactor), lowestLevel, FormatThreshold(sig, minFactor*budget))
}

// orPos is p, or fallback for a default value, which has no place of its own in the file.
func orPos(p, fallback Pos) Pos {
	if p.Line == 0 {
		return fallback
	}
	return p
}

// RetentionNeeded is the longest range any generated rule reads: the SLO period, or the longest
// window. Prometheus must keep this much history for the rules to see what they claim.
func (s *Spec) RetentionNeeded() time.Duration {
	var longest time.Duration
	for _, l := range Levels {
		longest = max(longest, s.Levels.Get(l).Windows.Long.D())
	}
	for _, sig := range s.Signals {
		longest = max(longest, sig.Window.D())
	}
	if s.SLO != nil {
		longest = max(longest, s.SLO.Period.D())
	}
	return longest
}
