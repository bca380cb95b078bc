package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/andon-sre/andon/harness"
	"github.com/andon-sre/andon/limits"
)

var nan = math.NaN()

// Scenario is the load: a warm-up at the baseline rate until the stack is steady (WaitSteady, at
// most MaxWarmup), then baseline, overload, and baseline again (recovery). The warm-up lets every
// rule window fill with real samples and start-up trouble settle; the baseline after it must be quiet.
type Scenario struct {
	MaxWarmup, Baseline, Overload, Recovery time.Duration
	BaselineRPS, OverloadRPS                float64
}

// DefaultScenario: 50 msg/s is half the server's 100 msg/s; 300 msg/s is three times it. A quiet
// machine is steady after the demo spec's longest window (15 s) plus the 3 s hold; the 3-minute
// bound leaves room for a red start-up alert to fire, resolve after keep_firing_for (60 s) once
// latency is back, and its shedding to revert at its TTL (15 s), on a machine slow to settle.
var DefaultScenario = Scenario{MaxWarmup: 3 * time.Minute, Baseline: 15 * time.Second, Overload: 60 * time.Second,
	Recovery: 20 * time.Second, BaselineRPS: 50, OverloadRPS: 300}

// warmupProfile holds the baseline rate; the run is cancelled once the stack is steady.
func (sc Scenario) warmupProfile() *harness.Profile {
	p := sc.profile()
	p.Name, p.Description = "stack-warmup", "baseline rate until the stack is steady"
	p.Duration = sc.MaxWarmup + time.Minute
	p.Rate = harness.RateSpec{Shape: harness.ShapeConstant, RPS: sc.BaselineRPS}
	return p
}

func (sc Scenario) profile() *harness.Profile {
	p := &harness.Profile{
		Name: "stack-overload", Description: "baseline → overload → recovery against the capacity-limited server",
		Model: harness.ModelOpen, Duration: sc.Baseline + sc.Overload + sc.Recovery,
		Rate: harness.RateSpec{Shape: harness.ShapeSteps, Steps: []harness.Step{
			{For: sc.Baseline, RPS: sc.BaselineRPS}, {For: sc.Overload, RPS: sc.OverloadRPS}, {For: sc.Recovery, RPS: sc.BaselineRPS}}},
		Sessions: 10, Timeout: 2 * time.Second, MaxInFlight: 2000,
		// 20% critical, 40% normal, 40% batch: what shedding must tell apart.
		Mix: []harness.MixEntry{
			{Weight: 20, Method: "tools/call", Tool: "echo", Arguments: map[string]any{"text": "critical"}, Tier: 1},
			{Weight: 40, Method: "tools/call", Tool: "echo", Arguments: map[string]any{"text": "normal"}, Tier: 2},
			{Weight: 40, Method: "tools/list", Tier: 3},
		},
	}
	return p
}

// Hooks run at points of the scenario, in the scenario's goroutine order; nil hooks are skipped.
type Hooks struct {
	Steady   func(ctx context.Context) // once the warm-up found the stack steady, as the baseline begins
	Baseline func(ctx context.Context) // at the end of the baseline, a second before the overload starts
	Overload func(ctx context.Context) // right after it started, returns before the overload ends
	Recovery func(ctx context.Context) // right after load went back to baseline
}

// RunLoad warms the stack up until it is steady, then drives the scenario against it, marking
// onset and recovery on w, and serves the harness's live metrics where Prometheus scrapes them.
// It fails when the stack is not steady within sc.MaxWarmup.
func (s *Stack) RunLoad(ctx context.Context, sc Scenario, w *Watcher, h Hooks) (*harness.Result, error) {
	w.Mark(EvWarmup, fmt.Sprintf("%g msg/s until steady (at most %s)", sc.BaselineRPS, sc.MaxWarmup))
	took, waitedOn, err := s.warmUp(ctx, sc)
	if err != nil {
		return nil, err
	}
	w.Mark(EvSteady, fmt.Sprintf("after %.1fs: no alert active, targets up for %s, scrapes and evaluations current for %s; waited on: %s",
		took.Seconds(), s.longestWindow(), steadyHold, strings.Join(waitedOn, "; ")))
	if h.Steady != nil {
		h.Steady(ctx)
	}
	started := make(chan time.Time, 1)
	opts := s.loadOptions(sc.profile(), func() { started <- time.Now() })
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hooksDone := make(chan struct{})
	go func() {
		defer close(hooksDone)
		var t0 time.Time
		select {
		case t0 = <-started:
		case <-ctx.Done():
			return
		}
		at := func(d time.Duration) bool {
			select {
			case <-time.After(time.Until(t0.Add(d))):
				return true
			case <-ctx.Done():
				return false
			}
		}
		w.Mark(EvBaseline, fmt.Sprintf("%g msg/s for %s", sc.BaselineRPS, sc.Baseline))
		onset := sc.Baseline
		if !at(onset - time.Second) {
			return
		}
		if h.Baseline != nil {
			h.Baseline(ctx)
		}
		if !at(onset) {
			return
		}
		w.Mark(EvOnset, fmt.Sprintf("%g → %g msg/s against a %g msg/s server", sc.BaselineRPS, sc.OverloadRPS, s.cfg.Capacity))
		if h.Overload != nil {
			h.Overload(ctx)
		}
		if !at(onset + sc.Overload) {
			return
		}
		w.Mark(EvRecovery, fmt.Sprintf("%g msg/s", sc.BaselineRPS))
		if h.Recovery != nil {
			h.Recovery(ctx)
		}
	}()
	res, err := harness.Run(ctx, opts)
	cancel()
	<-hooksDone
	return res, err
}

// warmUp runs the baseline rate until WaitSteady says the stack is steady (or gives up).
func (s *Stack) warmUp(ctx context.Context, sc Scenario) (time.Duration, []string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := harness.Run(ctx, s.loadOptions(sc.warmupProfile(), func() { close(started) }))
		done <- err
	}()
	select {
	case <-started:
	case err := <-done:
		return 0, nil, fmt.Errorf("warm-up load did not start: %w", err)
	}
	took, waitedOn, err := s.WaitSteady(ctx, sc.MaxWarmup)
	cancel()
	<-done
	return took, waitedOn, err
}

// loadOptions runs profile against the MCP server; its live metrics replace the previous run's
// at the address Prometheus scrapes, and onStart is called then.
func (s *Stack) loadOptions(p *harness.Profile, onStart func()) harness.Options {
	opts := harness.Options{
		Target:  harness.Target{URL: s.Server + "/mcp"},
		Profile: p,
		OnStart: func(m http.Handler) {
			s.harnessMetrics.set(m)
			onStart()
		},
	}
	for _, l := range []limits.Level{limits.Red, limits.Yellow} {
		if t := s.red.sig.Thresholds.Get(l); t != nil {
			opts.Thresholds = append(opts.Thresholds, harness.Threshold{Metric: "latency_p95", Value: t.Value.Value, Label: string(l)})
		}
	}
	return opts
}
