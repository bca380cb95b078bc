package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/andon-sre/andon/actuator/admission"
	"github.com/andon-sre/andon/limits"
)

// The warm-up ends when the stack is steady, not after a fixed time: a slow start (a busy machine,
// cold caches) must not leak a pending alert into the baseline. Steady means, at every poll for
// steadyHold:
//   - no alert of the service is pending or firing, and the service runs with no admission setting
//     (a start-up alert that fired has resolved and its shedding has reverted);
//   - every scrape target of the service has been up for the spec's longest rule window, so each
//     rate window holds a full window of real samples;
//   - Prometheus has caught up: each of those targets was scraped, and each rule group evaluated,
//     within two of its intervals.
const (
	steadyHold  = 3 * time.Second        // three evaluations in a row
	steadyEvery = 500 * time.Millisecond // poll period
)

// unsteady says why the stack is not steady now; empty when it is. It errs only when a component
// cannot be read (which is not steady either).
func (s *Stack) unsteady(ctx context.Context) ([]string, error) {
	var why []string
	alerts, err := s.alerts(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range alerts {
		why = append(why, fmt.Sprintf("%s %s since %s", a.id(), a.State, a.ActiveAt.Format("15:04:05")))
	}
	var st admission.State
	if err := getJSON(ctx, s.Server+"/admin/admission", s.cfg.Token, &st); err != nil {
		return nil, err
	}
	if st.Shed != nil || st.RejectNew != nil || st.Drain != nil {
		why = append(why, "an admission setting is still on (set by a start-up alert; it reverts at its TTL)")
	}

	window := s.longestWindow()
	need := int(window/s.scrapeEvery()) - 1 // one sample may fall just outside the window
	sel := fmt.Sprintf(`up{service=%q}`, s.Spec.Service)
	filled, err := s.queryVector(ctx, fmt.Sprintf(`min_over_time(%s[%s]) == 1 and count_over_time(%s[%s]) >= %d`,
		sel, limits.WindowName(window), sel, limits.WindowName(window), need), time.Time{})
	if err != nil {
		return nil, err
	}
	targets, err := s.targets(ctx)
	if err != nil {
		return nil, err
	}
	if len(filled) < len(targets) || len(targets) == 0 {
		why = append(why, fmt.Sprintf("%d of %d scrape targets up for the longest window (%s)", len(filled), len(targets), window))
	}
	now := time.Now()
	for _, t := range targets {
		if t.LastScrape.IsZero() {
			why = append(why, fmt.Sprintf("target %s not scraped yet", t.Labels["job"]))
			continue
		}
		if age := now.Sub(t.LastScrape); t.Health != "up" || age > 2*s.scrapeEvery()+time.Duration(t.LastScrapeDuration*float64(time.Second)) {
			why = append(why, fmt.Sprintf("target %s: %s, last scrape %s ago", t.Labels["job"], t.Health, age.Round(time.Millisecond)))
		}
	}
	groups, err := s.ruleGroups(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if g.LastEvaluation.IsZero() {
			why = append(why, fmt.Sprintf("rule group %s not evaluated yet", g.Name))
			continue
		}
		// Each group at its own interval (a group of static limits may evaluate once a minute).
		every := time.Duration(g.Interval * float64(time.Second))
		if every <= 0 {
			every = s.evalEvery()
		}
		if age := now.Sub(g.LastEvaluation); age > 2*every {
			why = append(why, fmt.Sprintf("rule group %s last evaluated %s ago", g.Name, age.Round(time.Millisecond)))
		}
	}
	return why, nil
}

// WaitSteady polls until the stack has been steady for steadyHold, and returns how long it took and
// what it waited on (each kind of reason once, numbers blanked). At most it waits max, then it fails
// with what was still unsteady: judging a baseline that is not steady would blame the loop for the
// machine.
func (s *Stack) WaitSteady(ctx context.Context, max time.Duration) (time.Duration, []string, error) {
	start := time.Now()
	var steadySince time.Time
	var last, waitedOn []string
	seen := map[string]bool{}
	for {
		why, err := s.unsteady(ctx)
		if err != nil {
			why = []string{err.Error()}
		}
		for _, w := range why {
			if k := numbers.ReplaceAllString(w, "#"); !seen[k] {
				seen[k] = true
				waitedOn = append(waitedOn, k)
			}
		}
		switch {
		case len(why) > 0:
			steadySince, last = time.Time{}, why
		case steadySince.IsZero():
			steadySince = time.Now()
		case time.Since(steadySince) >= steadyHold:
			return time.Since(start), waitedOn, nil
		}
		if time.Since(start) >= max {
			return time.Since(start), waitedOn, fmt.Errorf("the stack was not steady within the warm-up's maximum %s: %s", max, strings.Join(last, "; "))
		}
		select {
		case <-ctx.Done():
			return time.Since(start), waitedOn, ctx.Err()
		case <-time.After(steadyEvery):
		}
	}
}

// numbers are the times, counts and durations in a reason, blanked to tell its kind.
var numbers = regexp.MustCompile(`\b[0-9][0-9.:hmsµ]*`)

// longestWindow is the longest rate window the spec's alerts use (the windows of each level a
// signal has a threshold at, and a signal's own window): before it has passed, some alert
// expressions still rest on part of a window. Levels no signal uses do not count.
func (s *Stack) longestWindow() time.Duration {
	w := s.scrapeEvery()
	for _, sig := range s.Spec.Signals {
		w = max(w, sig.Window.D())
		for _, l := range limits.Levels {
			if ls := s.Spec.Levels.Get(l); ls != nil && sig.Thresholds.Get(l) != nil {
				w = max(w, ls.Windows.Long.D(), ls.Windows.Short.D())
			}
		}
	}
	return w
}

func (s *Stack) scrapeEvery() time.Duration { return s.Spec.ScrapeInterval.D() }
func (s *Stack) evalEvery() time.Duration   { return s.Spec.EvaluationInterval.D() }

// scrapeTarget is one active target of Prometheus' /api/v1/targets.
type scrapeTarget struct {
	Labels             map[string]string `json:"labels"`
	Health             string            `json:"health"`
	LastScrape         time.Time         `json:"lastScrape"`
	LastScrapeDuration float64           `json:"lastScrapeDuration"`
}

// targets are the active scrape targets labelled with the spec's service.
func (s *Stack) targets(ctx context.Context) ([]scrapeTarget, error) {
	data, err := promData[struct {
		ActiveTargets []scrapeTarget `json:"activeTargets"`
	}](ctx, s, "/api/v1/targets?state=active")
	if err != nil {
		return nil, err
	}
	var out []scrapeTarget
	for _, t := range data.ActiveTargets {
		if t.Labels["service"] == s.Spec.Service {
			out = append(out, t)
		}
	}
	return out, nil
}

type ruleGroup struct {
	Name           string    `json:"name"`
	Interval       float64   `json:"interval"` // seconds
	LastEvaluation time.Time `json:"lastEvaluation"`
}

func (s *Stack) ruleGroups(ctx context.Context) ([]ruleGroup, error) {
	data, err := promData[struct {
		Groups []ruleGroup `json:"groups"`
	}](ctx, s, "/api/v1/rules")
	return data.Groups, err
}

// swapHandler serves the metrics of the current load run at one address, so Prometheus scrapes
// the warm-up run and then the main run as one target: series stay present across the switch
// (their counters reset, which rate() handles). Before the first run it answers 503 (up = 0).
type swapHandler struct{ h atomic.Pointer[http.Handler] }

func (s *swapHandler) set(h http.Handler) { s.h.Store(&h) }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	http.Error(w, "no load run has started yet", http.StatusServiceUnavailable)
}
