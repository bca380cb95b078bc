package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// RecordingVersion is bumped on any incompatible change of the format.
const RecordingVersion = 1

// Recording is what a run observed, sampled on a fixed grid: step k is at
// Start + k×Interval. Series carry their full label sets (metric name in
// "__name__", histograms flattened to _bucket{le}, _sum and _count as
// Prometheus exposes them) so promtool tests can be built from a run later
// without re-running it: input_series are the samples, and whether a
// threshold held for a rule's `for` can be computed from the same values.
type Recording struct {
	Version  int       `json:"version"`
	Start    time.Time `json:"start"`
	Interval Duration  `json:"interval"`
	Steps    int       `json:"steps"` // number of sampling instants
	// Sources: "harness" for the harness's own metrics, "target" for the
	// samples scraped from --scrape-target.
	Series []RecordedSeries `json:"series"`
}

// RecordedSeries is one time series; steps where it was absent are missing.
type RecordedSeries struct {
	Source  string            `json:"source"`
	Labels  map[string]string `json:"labels"`
	Samples []Sample          `json:"samples"`
}

// Name is the metric name of the series.
func (s RecordedSeries) Name() string { return s.Labels[model.MetricNameLabel] }

// Sample is the value of a series at one step of the grid.
type Sample struct {
	Step  int     `json:"step"`
	Value float64 `json:"value"`
}

// Duration is a time.Duration that reads and writes as "5s" in JSON.
type Duration time.Duration

// D is the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(model.Duration(d).String())
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := model.ParseDuration(s)
	*d = Duration(v)
	return err
}

// LoadRecording reads and checks a recording file.
func LoadRecording(path string) (*Recording, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r Recording
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: not a harness recording: %w", path, err)
	}
	if r.Version != RecordingVersion {
		return nil, fmt.Errorf("%s: recording version %d, this andon reads version %d", path, r.Version, RecordingVersion)
	}
	if r.Interval <= 0 {
		return nil, fmt.Errorf("%s: recording interval must be positive", path)
	}
	for i, s := range r.Series {
		if s.Name() == "" {
			return nil, fmt.Errorf("%s: series %d has no __name__ label", path, i)
		}
		for j, smp := range s.Samples {
			if smp.Step < 0 || smp.Step >= r.Steps || (j > 0 && smp.Step <= s.Samples[j-1].Step) {
				return nil, fmt.Errorf("%s: series %s sample %d: step %d out of order or outside 0..%d", path, s.Name(), j, smp.Step, r.Steps-1)
			}
		}
	}
	return &r, nil
}

// Write stores the recording as JSON.
func (r *Recording) Write(path string) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// recorder samples metric families at each step into a Recording.
type recorder struct {
	rec     Recording
	index   map[string]int // series identity → position in rec.Series
	scrape  string         // target /metrics URL, "" for none
	http    *http.Client
	errs    int
	lastErr error
}

func newRecorder(start time.Time, interval time.Duration, scrapeURL string, hc *http.Client) *recorder {
	return &recorder{rec: Recording{Version: RecordingVersion, Start: start, Interval: Duration(interval)},
		index: map[string]int{}, scrape: scrapeURL, http: hc}
}

// sample records step from the harness's families and, if configured, a scrape
// of the target; a failed scrape leaves a gap (counted, not fatal).
func (r *recorder) sample(ctx context.Context, step int, own []*dto.MetricFamily) {
	r.add("harness", step, own)
	if r.scrape != "" {
		fams, err := scrapeMetrics(ctx, r.http, r.scrape)
		if err != nil {
			r.errs++
			r.lastErr = err
		} else {
			r.add("target", step, fams)
		}
	}
	r.rec.Steps = step + 1
}

func (r *recorder) add(source string, step int, fams []*dto.MetricFamily) {
	for _, mf := range fams {
		name := mf.GetName()
		for _, m := range mf.GetMetric() {
			base := map[string]string{}
			for _, lp := range m.GetLabel() {
				base[lp.GetName()] = lp.GetValue()
			}
			put := func(suffix string, extra map[string]string, v float64) {
				if math.IsNaN(v) {
					return
				}
				l := make(map[string]string, len(base)+2)
				for k, v := range base {
					l[k] = v
				}
				for k, v := range extra {
					l[k] = v
				}
				l[model.MetricNameLabel] = name + suffix
				r.put(source, l, step, v)
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				put("", nil, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				put("", nil, m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				put("", nil, m.GetUntyped().GetValue())
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					put("_bucket", map[string]string{"le": formatLe(b.GetUpperBound())}, float64(b.GetCumulativeCount()))
				}
				put("_bucket", map[string]string{"le": "+Inf"}, float64(h.GetSampleCount()))
				put("_sum", nil, h.GetSampleSum())
				put("_count", nil, float64(h.GetSampleCount()))
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					put("", map[string]string{"quantile": strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64)}, q.GetValue())
				}
				put("_sum", nil, s.GetSampleSum())
				put("_count", nil, float64(s.GetSampleCount()))
			}
		}
	}
}

func formatLe(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func (r *recorder) put(source string, labels map[string]string, step int, v float64) {
	id := source + "\xff" + seriesID(labels)
	i, ok := r.index[id]
	if !ok {
		i = len(r.rec.Series)
		r.index[id] = i
		r.rec.Series = append(r.rec.Series, RecordedSeries{Source: source, Labels: labels})
	}
	s := &r.rec.Series[i]
	if n := len(s.Samples); n > 0 && s.Samples[n-1].Step == step {
		s.Samples[n-1].Value = v // +Inf bucket written twice by a histogram exposing it
		return
	}
	s.Samples = append(s.Samples, Sample{Step: step, Value: v})
}

func seriesID(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(l[k])
		b.WriteByte('\xff')
	}
	return b.String()
}

// scrapeMetrics reads a Prometheus text exposition.
func scrapeMetrics(ctx context.Context, hc *http.Client, url string) ([]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape URL %q: %w", url, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s: HTTP %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	out := make([]*dto.MetricFamily, 0, len(fams))
	for _, f := range fams {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out, nil
}

// Values returns the series' values on the grid, NaN where it was absent.
func (r *Recording) Values(s RecordedSeries) []float64 {
	v := make([]float64, r.Steps)
	for i := range v {
		v[i] = math.NaN()
	}
	for _, smp := range s.Samples {
		v[smp.Step] = smp.Value
	}
	return v
}

// Find returns the series of source whose labels equal labels.
func (r *Recording) Find(source string, labels map[string]string) (RecordedSeries, error) {
	want := seriesID(labels)
	for _, s := range r.Series {
		if s.Source == source && seriesID(s.Labels) == want {
			return s, nil
		}
	}
	return RecordedSeries{}, fmt.Errorf("no such series: %s %v", source, labels)
}

// peak is the largest sample of metric from source, summed over its series
// at each step (a gauge split by labels counts as one); false when the
// metric was never recorded.
func (r *Recording) peak(source, metric string) (float64, bool) {
	sum := map[int]float64{}
	for _, s := range r.Series {
		if s.Source == source && s.Name() == metric {
			for _, smp := range s.Samples {
				sum[smp.Step] += smp.Value
			}
		}
	}
	if len(sum) == 0 {
		return 0, false
	}
	best := math.Inf(-1)
	for _, v := range sum {
		best = max(best, v)
	}
	return best, true
}
