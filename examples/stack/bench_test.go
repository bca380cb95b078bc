package main

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"
)

// benchScenario is short: warm-up, 5s baseline, 30s at 3× capacity; recovery is not measured here.
var benchScenario = Scenario{MaxWarmup: DefaultScenario.MaxWarmup, Baseline: 5 * time.Second, Overload: 30 * time.Second, Recovery: time.Second,
	BaselineRPS: DefaultScenario.BaselineRPS, OverloadRPS: DefaultScenario.OverloadRPS}

// loopRun is one overload on a fresh stack: onset → shedding applied (0 when never applied) and
// what clients saw over the whole overload and over its part from mitigated (since onset) to its end.
func loopRun(b *testing.B, loopOff bool, mitigated time.Duration) (toShed time.Duration, whole, after ClientFigures) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // warm-up at most 2 min
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
	if _, err := s.RunLoad(ctx, benchScenario, w, Hooks{}); err != nil {
		b.Fatal(err)
	}
	onset, _ := w.First(EvOnset)
	if applied, ok := w.First(EvApplied); ok {
		toShed = applied.At.Sub(onset.At)
	}
	if mitigated == 0 {
		mitigated = toShed
	}
	end := onset.At.Add(benchScenario.Overload)
	if whole, err = s.ClientFigures(ctx, onset.At, end); err != nil {
		b.Fatal(err)
	}
	if after, err = s.ClientFigures(ctx, onset.At.Add(mitigated), end); err != nil {
		b.Fatal(err)
	}
	return toShed, whole, after
}

// BenchmarkLoop: time from overload onset to shedding applied over 3 runs (median, worst); then
// what clients saw during the overload with the loop on (the first run) versus off (kill switch
// on, a fourth run): error share, tier-1 error share and the p95 of admitted requests, over the
// whole overload and from the moment the on-run shed to the end.
func BenchmarkLoop(b *testing.B) {
	var toShed []time.Duration
	var onWhole, onAfter ClientFigures
	for i := range 3 {
		d, whole, after := loopRun(b, false, 0)
		if d == 0 {
			b.Fatalf("run %d: shedding was never applied", i+1)
		}
		b.Logf("run %d: onset → shedding applied %s", i+1, d.Round(10*time.Millisecond))
		if i == 0 {
			onWhole, onAfter = whole, after
		}
		toShed = append(toShed, d)
	}
	slices.Sort(toShed)
	mitigated := onAfter.From.Sub(onWhole.From)
	_, offWhole, offAfter := loopRun(b, true, mitigated)
	b.Logf("overload (%s), loop on:  %s", benchScenario.Overload, onWhole)
	b.Logf("overload (%s), loop off: %s", benchScenario.Overload, offWhole)
	b.Logf("from %.1fs after onset to the end, loop on:  %s", mitigated.Seconds(), onAfter)
	b.Logf("from %.1fs after onset to the end, loop off: %s", mitigated.Seconds(), offAfter)
	b.ReportMetric(toShed[len(toShed)/2].Seconds(), "s-to-shed-median")
	b.ReportMetric(toShed[len(toShed)-1].Seconds(), "s-to-shed-worst")
	// p95 ratios divide histogram_quantile's interpolations; the logs give the buckets, and the share over red is exact.
	b.ReportMetric(onWhole.ErrorRatio/offWhole.ErrorRatio, "errors-on/off")
	b.ReportMetric(onWhole.Tier1.ErrorRatio/max(offWhole.Tier1.ErrorRatio, 1e-9), "tier1-errors-on/off")
	b.ReportMetric(onWhole.P95Admitted.Est/offWhole.P95Admitted.Est, "p95-admitted-on/off")
	b.ReportMetric(onAfter.P95Admitted.Est/offAfter.P95Admitted.Est, "p95-admitted-after-shed-on/off")
	b.ReportMetric(onAfter.OverRed/offAfter.OverRed, "over-red-after-shed-on/off")
	b.ReportMetric(onAfter.Tier1.ErrorRatio/max(offAfter.Tier1.ErrorRatio, 1e-9), "tier1-errors-after-shed-on/off")
}
