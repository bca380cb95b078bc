package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// ClientFigures are what the harness's clients saw over one interval, read back from Prometheus
// (the harness's own histogram, coordinated-omission corrected). Admitted means error_type="":
// shed and refused requests are errors, fast, and would hide the latency of the rest.
type ClientFigures struct {
	From, To    time.Time
	Requests    float64
	ErrorRatio  float64
	P95Admitted quantile
	OverRed     float64 // share of admitted requests slower than the red threshold (a bucket bound: exact)
	Tier1       struct {
		Requests, ErrorRatio float64
		P95Admitted          quantile
	}
}

// quantile is histogram_quantile's interpolation and the bucket it lies in: the bucket is exact,
// the interpolation assumes requests spread evenly inside it (at the queue's 500 ms bound they do not).
type quantile struct{ Est, Lo, Hi float64 }

func (q quantile) String() string {
	return fmt.Sprintf("%s (bucket %s–%s)", ms(q.Est), ms(q.Lo), ms(q.Hi))
}

func (f ClientFigures) String() string {
	return fmt.Sprintf("%.0f requests, %.1f%% errors, admitted p95 %s, %.1f%% of admitted over red; tier 1: %.0f requests, %.1f%% errors, admitted p95 %s",
		f.Requests, 100*f.ErrorRatio, f.P95Admitted, 100*f.OverRed, f.Tier1.Requests, 100*f.Tier1.ErrorRatio, f.Tier1.P95Admitted)
}

// ClientFigures reads the interval [from, to] once Prometheus has scraped past its end.
func (s *Stack) ClientFigures(ctx context.Context, from, to time.Time) (ClientFigures, error) {
	f := ClientFigures{From: from, To: to}
	if wait := time.Until(to.Add(2 * time.Second)); wait > 0 { // a 1 s scrape, and one more
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return f, ctx.Err()
		}
	}
	rng := fmt.Sprintf("[%dms]", to.Sub(from).Milliseconds())
	inc := func(metric, sel string) string {
		return fmt.Sprintf(`sum(increase(mcp_client_operation_duration_seconds_%s{job="harness"%s}%s))`, metric, sel, rng)
	}
	var err error
	get := func(q string) float64 {
		if err != nil {
			return nan
		}
		var v float64
		v, err = s.query(ctx, q, to)
		return v
	}
	p95 := func(sel string) quantile {
		if err != nil {
			return quantile{nan, nan, nan}
		}
		var q quantile
		q, err = s.quantile(ctx, 0.95, `mcp_client_operation_duration_seconds_bucket{job="harness",error_type=""`+sel+`}`+rng, to)
		return q
	}
	red := strconv.FormatFloat(s.red.threshold, 'f', -1, 64)
	f.Requests = get(inc("count", ""))
	f.ErrorRatio = get(inc("count", `,error_type!=""`)) / f.Requests
	f.P95Admitted = p95("")
	f.OverRed = 1 - get(inc("bucket", `,error_type="",le="`+red+`"`))/get(inc("count", `,error_type=""`))
	f.Tier1.Requests = get(inc("count", `,tier="1"`))
	f.Tier1.ErrorRatio = get(inc("count", `,tier="1",error_type!=""`)) / f.Tier1.Requests
	f.Tier1.P95Admitted = p95(`,tier="1"`)
	return f, err
}

// quantile estimates the φ-quantile of the bucket counters sel (a range selector) increased by at
// t, as histogram_quantile does, and names the bucket it falls in.
func (s *Stack) quantile(ctx context.Context, φ float64, sel string, t time.Time) (quantile, error) {
	q := quantile{nan, nan, nan}
	est, err := s.query(ctx, fmt.Sprintf("histogram_quantile(%g, sum by (le) (increase(%s)))", φ, sel), t)
	if err != nil {
		return q, err
	}
	q.Est = est
	v, err := s.queryVector(ctx, fmt.Sprintf("sum by (le) (increase(%s))", sel), t)
	if err != nil {
		return q, err
	}
	type bucket struct{ le, n float64 }
	var bs []bucket
	for _, smp := range v {
		le, err := strconv.ParseFloat(string(smp.Metric["le"]), 64)
		if err != nil {
			return q, fmt.Errorf("bucket bound %q: %w", smp.Metric["le"], err)
		}
		bs = append(bs, bucket{le, float64(smp.Value)})
	}
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	if len(bs) == 0 || bs[len(bs)-1].n == 0 {
		return q, nil
	}
	lo := 0.0
	for _, b := range bs {
		if b.n >= φ*bs[len(bs)-1].n {
			q.Lo, q.Hi = lo, b.le
			return q, nil
		}
		lo = b.le
	}
	return q, nil
}
