package backtest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"

	"github.com/andon-sre/andon/backtest/history"
)

// memSource serves generated history from memory. It is no stand-in for Prometheus (the
// reference test reads through a real one); it makes the engine's own properties quick to test.
type memSource struct {
	h history.Options
	s [][]chunks.Sample
}

func newMemSource(h history.Options) *memSource {
	m := &memSource{h: h, s: make([][]chunks.Sample, h.Instances*history.PerInstance)}
	_ = history.Walk(h, func(s int, t int64, v float64) error {
		m.s[s] = append(m.s[s], memSample{t, v})
		return nil
	})
	return m
}

func (m *memSource) String() string { return "memory" }

func (m *memSource) Read(_ context.Context, mint, maxt int64, sels []*parser.VectorSelector, each func(labels.Labels, chunkenc.Iterator) error) error {
	for i, ss := range m.s {
		l := m.h.Labels(i)
		if !slices.ContainsFunc(sels, func(vs *parser.VectorSelector) bool {
			for _, mm := range vs.LabelMatchers {
				if !mm.Matches(l.Get(mm.Name)) {
					return false
				}
			}
			return true
		}) {
			continue
		}
		lo, _ := slices.BinarySearchFunc(ss, mint, func(s chunks.Sample, t int64) int { return int(s.T() - t) })
		hi, _ := slices.BinarySearchFunc(ss, maxt+1, func(s chunks.Sample, t int64) int { return int(s.T() - t) })
		if lo < hi {
			if err := each(l, storage.NewListSeriesIterator(chunks.SampleSlice(ss[lo:hi]))); err != nil {
				return err
			}
		}
	}
	return nil
}

type memSample struct {
	t int64
	v float64
}

func (p memSample) T() int64                      { return p.t }
func (p memSample) ST() int64                     { return 0 }
func (p memSample) F() float64                    { return p.v }
func (p memSample) H() *histogram.Histogram       { return nil }
func (p memSample) FH() *histogram.FloatHistogram { return nil }
func (p memSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (p memSample) Copy() chunks.Sample           { return p }

// TestWindowsDoNotChangeFirings: the replay evaluates history a window at a time; where the
// windows fall must not move a single firing (state, staleness and look-backs carry over).
func TestWindowsDoNotChangeFirings(t *testing.T) {
	h := history.Options{Start: historyStart, Duration: 14 * time.Hour, Interval: 15 * time.Second, Instances: 2}
	src := newMemSource(h)
	rs := ok[*RuleSet](t)(ParseRules("erlmcp", exampleRules(t, "../examples/erlmcp/limits.yaml")))
	var want []string
	for _, w := range []time.Duration{14 * time.Hour, 6 * time.Hour, 97 * time.Minute} {
		rep := ok[*Report](t)(Run(context.Background(), src, rs, Options{From: h.Start, To: h.Start.Add(h.Duration - h.Interval), Window: w}))
		got := episodesOf(rep)
		if len(got) == 0 {
			t.Fatal("nothing fired in 14h of incidents")
		}
		if want == nil {
			want = got
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("window %s: %d episodes, want the %d of one window:\n%s", w, len(got), len(want), strings.Join(diffLines(want, got), "\n"))
		}
	}
}

func diffLines(want, got []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			out = append(out, "- "+w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			out = append(out, "+ "+g)
		}
	}
	return out
}
