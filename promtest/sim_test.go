package promtest

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
)

const s15 = 15 * time.Second

// linear is a series v0, v0+step, … of n samples.
func linear(v0, step float64, n int) samples {
	s := make(samples, n)
	for k := range s {
		s[k] = v0 + step*float64(k)
	}
	return s
}

// Values computed by hand from Prometheus' extrapolatedRate (promql/functions.go).
func TestRate(t *testing.T) {
	tl := timeline{interval: s15, eval: s15}
	nan := math.NaN()
	cases := []struct {
		name string
		s    samples
		t, w time.Duration
		want float64
		ok   bool
	}{
		{"a counter growing 1/s has rate 1 over a full window", linear(1e6, 15, 10), time.Minute, time.Minute, 1, true},
		{"extrapolation to a window start inside 1.1 intervals keeps the rate", linear(1e6, 15, 10), time.Minute, 50 * time.Second, 1, true},
		{"a counter from 0 is not extrapolated below zero", linear(0, 15, 10), 30 * time.Second, time.Minute, 0.5, true},
		{"a gap at the start extrapolates half an interval", samples{nan, nan, 1e6, 1e6 + 15, 1e6 + 30}, time.Minute, time.Minute, 30 * (30 + 7.5) / 30 / 60, true},
		{"a counter reset adds back the value before the drop", samples{1e6, 1e6 + 15, 1e6 + 30, 15, 30}, time.Minute, time.Minute, 1, true},
		{"a flat counter has rate 0", linear(5, 0, 10), time.Minute, time.Minute, 0, true},
		{"one sample in the window is no rate", linear(1e6, 15, 10), time.Minute, 15 * time.Second, 0, false},
		{"no samples is no rate", samples{nan, nan, nan}, 30 * time.Second, time.Minute, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tl.rate(tc.s, tc.t, tc.w)
			if ok != tc.ok || (ok && math.Abs(got-tc.want) > 1e-12) {
				t.Errorf("rate = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestDeriv(t *testing.T) {
	tl := timeline{interval: s15, eval: s15}
	cases := []struct {
		name string
		s    samples
		want float64
		ok   bool
	}{
		{"a gauge growing 2 per second has slope 2", linear(1e8, 30, 30), 2, true},
		{"a falling gauge has a negative slope", linear(1e8, -15, 30), -1, true},
		{"a flat gauge has slope 0", linear(7, 0, 30), 0, true},
		{"one sample has no slope", samples{1}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			at := time.Duration(len(tc.s)-1) * s15
			got, ok := tl.deriv(tc.s, at, 5*time.Minute)
			if ok != tc.ok || (ok && math.Abs(got-tc.want) > 1e-9) {
				t.Errorf("deriv = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	tl := timeline{interval: s15, eval: s15}
	// Per interval: 10 requests ≤ 0.1s, 40 more ≤ 0.2s, 40 more ≤ 0.4s, 10 slower.
	bs := []bucket{{0.1, linear(1e6, 10, 10)}, {0.2, linear(1e6, 50, 10)}, {0.4, linear(1e6, 90, 10)}, {math.Inf(1), linear(1e6, 100, 10)}}
	empty := []bucket{{0.1, linear(1e6, 0, 10)}, {math.Inf(1), linear(1e6, 0, 10)}}
	cases := []struct {
		name string
		q    float64
		bs   []bucket
		want float64
		ok   bool
	}{
		{"the median sits at the top of the bucket holding rank 50", 0.5, bs, 0.2, true},
		{"p30 is interpolated inside its bucket", 0.3, bs, 0.15, true},
		{"p05 is interpolated from zero in the first bucket", 0.05, bs, 0.05, true},
		{"a quantile in the +Inf bucket is the highest finite bound", 0.95, bs, 0.4, true},
		{"no traffic is no quantile (NaN in Prometheus)", 0.95, empty, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tl.quantile(tc.q, tc.bs, 2*time.Minute, time.Minute)
			if ok != tc.ok || (ok && math.Abs(got-tc.want) > 1e-12) {
				t.Errorf("quantile = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestLastUsesTheLookback(t *testing.T) {
	tl := timeline{interval: s15, eval: s15}
	nan := math.NaN()
	s := append(samples{1, 2, 3}, make(samples, 30)...)
	for k := 3; k < len(s); k++ {
		s[k] = nan
	}
	if v, ok := tl.last(s, 4*time.Minute); !ok || v != 3 {
		t.Errorf("within 5m of the last sample: %v, %v; want 3", v, ok)
	}
	if _, ok := tl.last(s, 6*time.Minute); ok {
		t.Errorf("a sample older than the 5m lookback must be gone")
	}
}

// TestAlertStateMachine: the schedule says, per 15s evaluation, whether the expression holds;
// want says whether the alert fires (P: pending or inactive, F: firing).
func TestAlertStateMachine(t *testing.T) {
	cases := []struct {
		name             string
		forDur, keep     time.Duration
		schedule, firing string
	}{
		{"fires once for has elapsed, not one evaluation before", 30 * time.Second, 0, "-HHHHH", "---FFF"},
		{"a dip before for resets the pending timer", 30 * time.Second, 0, "HH-HHHH", "-----FF"},
		{"without keep_firing_for it resolves at once", 15 * time.Second, 0, "HHH---", "-FF---"},
		{"keep_firing_for holds it through a gap shorter than it", 15 * time.Second, time.Minute, "HHH---HH--", "-FFFFFFFFF"},
		{"keep_firing_for ends after its duration", 15 * time.Second, 45 * time.Second, "HH------", "-FFFF---"},
		{"after keep_firing_for expires the for timer starts again", 15 * time.Second, 15 * time.Second, "HH--HH", "-FF--F"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tl := timeline{interval: s15, eval: s15}
			cond := func(at time.Duration) (bool, float64) {
				return tc.schedule[int(at/s15)] == 'H', float64(at / s15)
			}
			fires, _ := tl.run(cond, tc.forDur, tc.keep, time.Duration(len(tc.schedule)-1)*s15)
			var got strings.Builder
			for _, f := range fires {
				got.WriteString(map[bool]string{true: "F", false: "-"}[f])
			}
			if got.String() != tc.firing {
				t.Errorf("schedule %s: fired %s, want %s", tc.schedule, got.String(), tc.firing)
			}
		})
	}
}

// expand is promtool's expanding notation, written independently: a, a+bxn, a-bxn, _, _xn.
// Like promtool, it adds the step n times.
func expand(t *testing.T, values string) []float64 {
	t.Helper()
	var out []float64
	for _, tok := range strings.Fields(values) {
		if strings.HasPrefix(tok, "_") {
			n := 1
			if strings.HasPrefix(tok, "_x") {
				n, _ = strconv.Atoi(tok[2:])
			}
			for range n {
				out = append(out, math.NaN())
			}
			continue
		}
		x := strings.LastIndex(tok, "x")
		if x < 0 {
			v, err := strconv.ParseFloat(tok, 64)
			if err != nil {
				t.Fatalf("token %q: %v", tok, err)
			}
			out = append(out, v)
			continue
		}
		n, err := strconv.Atoi(tok[x+1:])
		if err != nil {
			t.Fatalf("token %q: %v", tok, err)
		}
		body := tok[:x]
		sign := strings.LastIndexAny(body[1:], "+-") + 1
		a, err1 := strconv.ParseFloat(body[:sign], 64)
		b, err2 := strconv.ParseFloat(body[sign+1:], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("token %q: %v %v", tok, err1, err2)
		}
		if body[sign] == '-' {
			b = -b
		}
		v := a
		out = append(out, v)
		for range n {
			v += b
			out = append(out, v)
		}
	}
	return out
}

func TestValuesRoundTrip(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name string
		s    samples
		want string // "" when only the round trip matters
	}{
		{"a steady counter is one run", linear(1e6, 15, 5), "1000000+15x4"},
		{"a falling gauge is a minus run", linear(100, -10, 4), "100-10x3"},
		{"two samples are written out", samples{1, 2}, "1 2"},
		{"gaps are _xn", samples{1, nan, nan, 4}, "1 _x2 4"},
		{"a step change starts a new run", samples{0, 1, 2, 3, 10, 20, 30, 40}, "0+1x3 10+10x3"},
		{"0.1 steps are runs only where repeated addition is exact", linear(0, 0.1, 12), ""},
		{"float noise never hides in a run", samples{1e6, 1e6 + 0.1, 1e6 + 0.2, 1e6 + 0.30000000000000004, 1e6 + 0.4}, ""},
		{"a counter with non-integral increments", counter(1e6, []float64{0, 1.5, 1.5, 1.5, 0.7, 0.7, 0.7}), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := inputSeries{name: "m", s: tc.s}
			enc := in.values()
			if tc.want != "" && enc != tc.want {
				t.Errorf("encoded %q, want %q", enc, tc.want)
			}
			got := expand(t, enc)
			if len(got) != len(tc.s) {
				t.Fatalf("%q expands to %d samples, want %d", enc, len(got), len(tc.s))
			}
			for i := range got {
				if got[i] != tc.s[i] && !(math.IsNaN(got[i]) && math.IsNaN(tc.s[i])) {
					t.Fatalf("%q: sample %d expands to %v, want %v (exactly)", enc, i, got[i], tc.s[i])
				}
			}
		})
	}
}

func TestSeriesString(t *testing.T) {
	in := inputSeries{name: "http_requests_total", labels: map[string]string{"job": "a", "code": `5"x`}}
	if got, want := in.String(), `http_requests_total{code="5\"x",job="a"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestNativeValuesRoundTrip: native histogram inputs parse with Prometheus' own series notation
// parser (the one promtool uses) back to the exact bucket counts, through runs and gaps.
func TestNativeValuesRoundTrip(t *testing.T) {
	nan := math.NaN()
	ps := []phase{calm, calm, calm, calm, beyond, beyond, beyond, gone, gone, within, within, within, within, calm}
	cum := make([]samples, 3) // bounds 1, 2 and +Inf
	for i := range cum {
		incs := make([]float64, len(ps))
		for k, p := range ps {
			if map[phase]int{calm: 0, within: 1, beyond: 2}[p] <= i {
				incs[k] = 7
			}
		}
		cum[i] = counter(1e6, incs)
		for k, p := range ps {
			if p == gone {
				cum[i][k] = nan
			}
		}
	}
	in := inputSeries{name: "lat", s: cum[2], native: &nativeBuckets{bounds: []float64{1, 2}, cum: cum}}
	enc := in.values()
	if !strings.Contains(enc, "}}+{{") || !strings.Contains(enc, "_x2") {
		t.Errorf("expected runs and a gap in %s", enc)
	}
	_, vals, err := parser.NewParser(parser.Options{}).ParseSeriesDesc("lat " + enc)
	if err != nil {
		t.Fatalf("%s: %v", enc, err)
	}
	if len(vals) != len(ps) {
		t.Fatalf("%d samples, want %d: %s", len(vals), len(ps), enc)
	}
	for k, v := range vals {
		if ps[k] == gone {
			if !v.Omitted {
				t.Errorf("sample %d: want omitted", k)
			}
			continue
		}
		h := v.Histogram
		if h == nil || !h.UsesCustomBuckets() || !slices.Equal(h.CustomValues, []float64{1, 2}) {
			t.Fatalf("sample %d: not a custom-bucket histogram with bounds [1 2]: %v", k, h)
		}
		var got []float64
		for it := h.AllBucketIterator(); it.Next(); {
			got = append(got, it.At().Count)
		}
		want := []float64{cum[0][k], cum[1][k] - cum[0][k], cum[2][k] - cum[1][k]}
		if !slices.Equal(got, want) || h.Count != cum[2][k] {
			t.Errorf("sample %d: buckets %v count %v, want %v count %v", k, got, h.Count, want, cum[2][k])
		}
	}
}
