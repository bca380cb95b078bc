package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"
)

// ClientFigures are what the harness's clients saw over one interval, read back from Prometheus
// (the harness's own histogram, coordinated-omission corrected). Admitted means error_type="":
// shed and refused requests are errors, fast, and would hide the latency of the rest.
type ClientFigures struct {
	From, To      time.Time
	Requests      float64
	ErrorRatio    float64
	P95Admitted   float64 // seconds, interpolated within the histogram bucket
	OverRed       float64 // share of admitted requests slower than the red threshold (a bucket bound: exact)
	Tier1Errors   float64 // error ratio of tier 1 (critical)
	Tier1P95      float64 // p95 of admitted tier-1 requests, seconds
	Tier1Requests float64
}

func (f ClientFigures) String() string {
	return fmt.Sprintf("%.0f requests, %.1f%% errors, admitted p95 %s (%.1f%% over red); tier 1: %.0f requests, %.1f%% errors, admitted p95 %s",
		f.Requests, 100*f.ErrorRatio, ms(f.P95Admitted), 100*f.OverRed, f.Tier1Requests, 100*f.Tier1Errors, ms(f.Tier1P95))
}

// ClientFigures reads the interval [from, to] once Prometheus has scraped past its end.
func (s *Stack) ClientFigures(ctx context.Context, from, to time.Time) (ClientFigures, error) {
	f := ClientFigures{From: from, To: to}
	if wait := time.Until(to.Add(2 * time.Second)); wait > 0 { // a 1 s scrape, and the rule of one more
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return f, ctx.Err()
		}
	}
	rng := fmt.Sprintf("[%dms]", to.Sub(from).Milliseconds())
	const m = `mcp_client_operation_duration_seconds`
	inc := func(sel string) string { return fmt.Sprintf(`sum(increase(%s%s%s))`, m, sel, rng) }
	var err error
	get := func(q string) float64 {
		if err != nil {
			return math.NaN()
		}
		var v float64
		v, err = s.query(ctx, q, to)
		return v
	}
	red := strconv.FormatFloat(s.red.threshold, 'f', -1, 64)
	f.Requests = get(inc(`_count{job="harness"}`))
	f.ErrorRatio = get(inc(`_count{job="harness",error_type!=""}`)) / f.Requests
	admitted := get(inc(`_count{job="harness",error_type=""}`))
	f.P95Admitted = get(fmt.Sprintf(`histogram_quantile(0.95, sum by (le) (increase(%s_bucket{job="harness",error_type=""}%s)))`, m, rng))
	f.OverRed = 1 - get(inc(`_bucket{job="harness",error_type="",le="`+red+`"}`))/admitted
	f.Tier1Requests = get(inc(`_count{job="harness",tier="1"}`))
	f.Tier1Errors = get(inc(`_count{job="harness",tier="1",error_type!=""}`)) / f.Tier1Requests
	f.Tier1P95 = get(fmt.Sprintf(`histogram_quantile(0.95, sum by (le) (increase(%s_bucket{job="harness",tier="1",error_type=""}%s)))`, m, rng))
	return f, err
}
