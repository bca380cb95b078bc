package promtest

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/andon-sre/andon/limits"
)

// phase is what the signal does during one sample interval of a synthetic input.
type phase int

const (
	calm   phase = iota // far on the good side
	within              // just on the good side of the threshold
	beyond              // just past the threshold
	gone                // no sample at all
)

// A signal's synthetic inputs: counters start high so rate extrapolation is never cut at zero.
const (
	counterBase = 1e6
	gaugeBase   = 1e8
	margin      = 0.1 // "just above" is 10% past the threshold
)

// inputSeries is one input series of a test.
type inputSeries struct {
	name   string
	labels map[string]string
	s      samples
	native *nativeBuckets // set: a native histogram, and s is its observation count
}

// nativeBuckets are the buckets of a native histogram input with custom bounds (schema -53):
// cum[i] is the cumulative count at bounds[i], the last one at +Inf.
type nativeBuckets struct {
	bounds []float64
	cum    []samples
}

// trim keeps the samples up to index k (inclusive).
func (in inputSeries) trim(k int) inputSeries {
	k = min(k+1, len(in.s))
	in.s = in.s[:k]
	if in.native != nil {
		nb := &nativeBuckets{bounds: in.native.bounds, cum: make([]samples, len(in.native.cum))}
		for i, c := range in.native.cum {
			nb.cum[i] = c[:k]
		}
		in.native = nb
	}
	return in
}

// String prints the series the way promtool reads it: name{labels}.
func (in inputSeries) String() string {
	keys := make([]string, 0, len(in.labels))
	for k := range in.labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, in.labels[k])
	}
	return in.name + "{" + strings.Join(parts, ",") + "}"
}

// values prints samples in promtool's expanding notation: a run a+bxn is used only where
// promtool's repeated addition reproduces every sample exactly (so a counter never appears to
// reset through float noise); other samples are written out. Missing samples are _.
func (in inputSeries) values() string {
	if in.native != nil {
		return in.native.values()
	}
	var out []string
	s := in.s
	for i := 0; i < len(s); {
		if math.IsNaN(s[i]) {
			j := i
			for j < len(s) && math.IsNaN(s[j]) {
				j++
			}
			out = append(out, fmt.Sprintf("_x%d", j-i))
			i = j
			continue
		}
		n := 0
		var step float64
		if i+1 < len(s) && !math.IsNaN(s[i+1]) {
			step, _ = strconv.ParseFloat(exact(s[i+1]-s[i]), 64)
			for x := s[i]; i+n+1 < len(s) && !math.IsNaN(s[i+n+1]) && x+step == s[i+n+1]; n++ {
				x += step
			}
		}
		switch {
		case n < 2:
			out = append(out, exact(s[i]))
			i++
			continue
		case step >= 0:
			out = append(out, fmt.Sprintf("%s+%sx%d", exact(s[i]), exact(step), n))
		default:
			out = append(out, fmt.Sprintf("%s-%sx%d", exact(s[i]), exact(-step), n))
		}
		i += n + 1
	}
	return strings.Join(out, " ")
}

// values prints the histograms in promtool's notation, {{h}}+{{inc}}xn wherever the bucket
// increments repeat (whole counts, so the expansion is exact); missing samples are _.
func (nb *nativeBuckets) values() string {
	n := len(nb.cum[0])
	gone := func(k int) bool { return math.IsNaN(nb.cum[0][k]) }
	counts := make([][]float64, n) // per sample and bucket, not cumulative
	for k := range counts {
		counts[k] = make([]float64, len(nb.cum))
		for i, c := range nb.cum {
			counts[k][i] = c[k]
			if i > 0 {
				counts[k][i] -= nb.cum[i-1][k]
			}
		}
	}
	inc := func(k int) []float64 { // counts[k+1] - counts[k]
		d := slices.Clone(counts[k+1])
		for i := range d {
			d[i] -= counts[k][i]
		}
		return d
	}
	var out []string
	for i := 0; i < n; {
		if gone(i) {
			j := i
			for j < n && gone(j) {
				j++
			}
			out = append(out, fmt.Sprintf("_x%d", j-i))
			i = j
			continue
		}
		run := 0
		if i+1 < n && !gone(i+1) {
			step := inc(i)
			for i+run+1 < n && !gone(i+run+1) && slices.Equal(inc(i+run), step) {
				run++
			}
		}
		if run < 2 {
			out = append(out, nb.histogram(counts[i]))
			i++
			continue
		}
		out = append(out, fmt.Sprintf("%s+%sx%d", nb.histogram(counts[i]), nb.histogram(inc(i)), run))
		i += run + 1
	}
	return strings.Join(out, " ")
}

// histogram prints one native histogram with custom buckets. Its sum takes each observation at
// its bucket's upper bound (the last finite bound for +Inf): histogram_quantile never reads it.
func (nb *nativeBuckets) histogram(counts []float64) string {
	var count, sum float64
	cs := make([]string, len(counts))
	for i, c := range counts {
		count += c
		sum += c * nb.bounds[min(i, len(nb.bounds)-1)]
		cs[i] = exact(c)
	}
	bs := make([]string, len(nb.bounds))
	for i, b := range nb.bounds {
		bs[i] = limits.FormatNumber(b)
	}
	return fmt.Sprintf("{{schema:-53 sum:%s count:%s custom_values:[%s] buckets:[%s]}}",
		exact(sum), exact(count), strings.Join(bs, " "), strings.Join(cs, " "))
}

// exact prints v so that it parses back to the same float.
func exact(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// seriesLabels returns labels that satisfy every matcher of vs (but the metric name), plus the
// group labels every test series carries.
func seriesLabels(vs *parser.VectorSelector, group map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range group {
		out[k] = v
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName {
			continue
		}
		v, ok := satisfy(m)
		if !ok {
			return nil, fmt.Errorf("cannot build a test series for %s: no simple value satisfies %s", vs, m)
		}
		if v == "" {
			delete(out, m.Name)
		} else {
			out[m.Name] = v
		}
	}
	return out, nil
}

// candidates tried for matchers that are not equality: enough for `!=""`, `=~"5.."`, `!~"2.."`.
var candidates = []string{"", "error", "500", "5xx", "true", "1", "andon_test"}

func satisfy(m *labels.Matcher) (string, bool) {
	if m.Type == labels.MatchEqual {
		return m.Value, true
	}
	// A regexp's own alternatives (prod|staging) are tried after the generic candidates.
	for _, c := range append(slices.Clone(candidates), strings.Split(m.Value, "|")...) {
		if m.Matches(c) {
			return c, true
		}
	}
	return "", false
}

// violates returns labels like base but failing one matcher of errs that total does not have:
// the successful requests of a ratio whose errors and total share a metric name.
func violates(errs *parser.VectorSelector, base map[string]string) (map[string]string, bool) {
	for _, m := range errs.LabelMatchers {
		if m.Name == labels.MetricName {
			continue
		}
		for _, c := range candidates {
			if !m.Matches(c) {
				out := map[string]string{}
				for k, v := range base {
					out[k] = v
				}
				if c == "" {
					delete(out, m.Name)
				} else {
					out[m.Name] = c
				}
				return out, true
			}
		}
	}
	return nil, false
}

// counter accumulates per-interval increments into a counter series from a base.
func counter(base float64, incs []float64) samples {
	s := make(samples, len(incs))
	v := base
	for k, inc := range incs {
		if k > 0 {
			v += inc
		}
		s[k] = v
	}
	return s
}

// phases expands a schedule (phase per sample index) to n samples.
func phases(n int, f func(k int) phase) []phase {
	ps := make([]phase, n)
	for k := range ps {
		ps[k] = f(k)
	}
	return ps
}

func nSamples(horizon, interval time.Duration) int { return int(horizon/interval) + 1 }
