package main

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/andon-sre/andon/harness"
)

// benchScenario is short: 10s baseline, 30s at 3× capacity; recovery is not measured here.
var benchScenario = Scenario{Baseline: 10 * time.Second, Overload: 30 * time.Second, Recovery: time.Second, BaselineRPS: 50, OverloadRPS: 300}

// loopRun starts a fresh stack, drives benchScenario and returns onset → shedding applied (0 when
// never applied) and the harness result.
func loopRun(b *testing.B, loopOff bool) (time.Duration, *harness.Result) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := stackConfig(b)
	cfg.LoopOff = loopOff
	s, err := Start(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Stop()
	w := NewWatcher(s, io.Discard, time.Now())
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go w.Run(wctx, 100*time.Millisecond)
	res, err := s.RunLoad(ctx, benchScenario, w, Hooks{})
	if err != nil {
		b.Fatal(err)
	}
	onset, _ := w.First(EvOnset)
	applied, ok := w.First(EvApplied)
	if !ok {
		return 0, res
	}
	return applied.At.Sub(onset.At), res
}

// BenchmarkLoop: time from overload onset to shedding applied over 3 runs (median, worst), and the
// client error ratio and p95 during the same overload with the loop on versus off.
func BenchmarkLoop(b *testing.B) {
	var mitigate []time.Duration
	var on *harness.Result
	for i := range 3 {
		d, res := loopRun(b, false)
		if d == 0 {
			b.Fatalf("run %d: shedding was never applied", i+1)
		}
		b.Logf("run %d: onset → shedding applied %s", i+1, d.Round(10*time.Millisecond))
		mitigate = append(mitigate, d)
		if on == nil {
			on = res
		}
	}
	slices.Sort(mitigate)
	_, off := loopRun(b, true)
	b.ReportMetric(mitigate[len(mitigate)/2].Seconds(), "s-to-shed-median")
	b.ReportMetric(mitigate[len(mitigate)-1].Seconds(), "s-to-shed-worst")
	tier1 := func(r *harness.Result) float64 {
		var n, e uint64
		for _, o := range r.Operations {
			if o.Tier == 1 && !o.Handshake {
				n, e = n+o.Count, e+o.Errors
			}
		}
		return float64(e) / float64(max(n, 1))
	}
	b.Logf("loop on:  errors %.1f%% (tier 1: %.1f%%), p95 %s", 100*on.Overall.ErrorRatio, 100*tier1(on), ms(on.Overall.Latency.P95))
	b.Logf("loop off: errors %.1f%% (tier 1: %.1f%%), p95 %s", 100*off.Overall.ErrorRatio, 100*tier1(off), ms(off.Overall.Latency.P95))
	b.ReportMetric(on.Overall.ErrorRatio/off.Overall.ErrorRatio, "errors-on/off")
	b.ReportMetric(tier1(on)/max(tier1(off), 1e-9), "tier1-errors-on/off")
	b.ReportMetric(on.Overall.Latency.P95/off.Overall.Latency.P95, "p95-on/off")
}
