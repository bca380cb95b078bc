package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/andon-sre/andon/harness"
	"github.com/andon-sre/andon/limits"
)

var nan = math.NaN()

// Scenario is the load: warm-up and baseline at the baseline rate, then overload, then baseline
// again (recovery). The warm-up lets every rule window fill with real samples (until then the
// series-absent alerts are pending and rates rest on a few scrapes); the baseline after it must be quiet.
type Scenario struct {
	Warmup, Baseline, Overload, Recovery time.Duration
	BaselineRPS, OverloadRPS             float64
}

// DefaultScenario: 50 msg/s is half the server's 100 msg/s; 300 msg/s is three times it. The
// 15 s warm-up is the demo spec's longest window.
var DefaultScenario = Scenario{Warmup: 15 * time.Second, Baseline: 15 * time.Second, Overload: 60 * time.Second,
	Recovery: 20 * time.Second, BaselineRPS: 50, OverloadRPS: 300}

func (sc Scenario) profile() *harness.Profile {
	p := &harness.Profile{
		Name: "stack-overload", Description: "baseline → overload → recovery against the capacity-limited server",
		Model: harness.ModelOpen, Duration: sc.Warmup + sc.Baseline + sc.Overload + sc.Recovery,
		Rate: harness.RateSpec{Shape: harness.ShapeSteps, Steps: []harness.Step{
			{For: sc.Warmup + sc.Baseline, RPS: sc.BaselineRPS}, {For: sc.Overload, RPS: sc.OverloadRPS}, {For: sc.Recovery, RPS: sc.BaselineRPS}}},
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
	Baseline func(ctx context.Context) // at the end of the baseline, a second before the overload starts
	Overload func(ctx context.Context) // right after it started, returns before the overload ends
	Recovery func(ctx context.Context) // right after load went back to baseline
}

// RunLoad drives the scenario against the stack, marking onset and recovery on w, and serves the
// harness's live metrics where Prometheus scrapes them.
func (s *Stack) RunLoad(ctx context.Context, sc Scenario, w *Watcher, h Hooks) (*harness.Result, error) {
	started := make(chan time.Time, 1)
	opts := harness.Options{
		Target:  harness.Target{URL: s.Server + "/mcp"},
		Profile: sc.profile(),
		OnStart: func(m http.Handler) {
			started <- time.Now()
			go func() { _ = (&http.Server{Handler: m, ReadHeaderTimeout: 5 * time.Second}).Serve(s.harnessL) }()
		},
	}
	for _, l := range []limits.Level{limits.Red, limits.Yellow} {
		if t := s.red.sig.Thresholds.Get(l); t != nil {
			opts.Thresholds = append(opts.Thresholds, harness.Threshold{Metric: "latency_p95", Value: t.Value.Value, Label: string(l)})
		}
	}
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
		if !at(sc.Warmup) {
			return
		}
		w.Mark(EvBaseline, fmt.Sprintf("%g msg/s for %s after a %s warm-up", sc.BaselineRPS, sc.Baseline, sc.Warmup))
		onset := sc.Warmup + sc.Baseline
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
