package backtest

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
)

// Source is where raw history comes from. Read streams every series matching any of sels with
// its samples in [mint, maxt] (milliseconds, inclusive); a series matched by several selectors
// may be handed over more than once.
type Source interface {
	Read(ctx context.Context, mint, maxt int64, sels []*parser.VectorSelector, each func(labels.Labels, chunkenc.Iterator) error) error
	String() string
}

// Read APIs for NewSource.
const (
	APIAuto       = "auto"        // remote read, else the query API
	APIRemoteRead = "remote-read" // /api/v1/read, streamed XOR chunks: raw samples, floats and native histograms
	APIQuery      = "query"       // /api/v1/query with range selectors: raw float samples, JSON
)

// NewSource connects to a Prometheus-compatible server at base (e.g. http://127.0.0.1:9090).
// With APIAuto it tries a small remote read and falls back to the query API when that fails.
func NewSource(ctx context.Context, base, readAPI string, timeout time.Duration) (Source, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("--prometheus %q: want a URL such as http://127.0.0.1:9090", base)
	}
	switch readAPI {
	case APIRemoteRead:
		return newRemoteRead(u, timeout)
	case APIQuery:
		return newQueryAPI(u, timeout)
	case APIAuto:
		rr, err := newRemoteRead(u, timeout)
		if err != nil {
			return nil, err
		}
		probe := &parser.VectorSelector{Name: "up", LabelMatchers: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "up")}}
		now := time.Now().UnixMilli()
		if err := rr.Read(ctx, now-60_000, now, []*parser.VectorSelector{probe}, func(labels.Labels, chunkenc.Iterator) error { return nil }); err == nil {
			return rr, nil
		}
		return newQueryAPI(u, timeout)
	}
	return nil, fmt.Errorf("read API %q: want %s, %s or %s", readAPI, APIAuto, APIRemoteRead, APIQuery)
}

type remoteRead struct {
	url    string
	client remote.ReadClient
}

func newRemoteRead(base *url.URL, timeout time.Duration) (*remoteRead, error) {
	u := *base
	u.Path += "/api/v1/read"
	c, err := remote.NewReadClient("backtest", &remote.ClientConfig{
		URL:              &config_util.URL{URL: &u},
		Timeout:          model.Duration(timeout),
		HTTPClientConfig: config_util.DefaultHTTPClientConfig,
		ChunkedReadLimit: 1 << 30, // one frame holds one series' chunks; long ranges of a busy series are large
	})
	if err != nil {
		return nil, fmt.Errorf("remote read client for %s: %w", u.String(), err)
	}
	return &remoteRead{url: u.String(), client: c}, nil
}

func (r *remoteRead) String() string { return "remote read " + r.url }

func (r *remoteRead) Read(ctx context.Context, mint, maxt int64, sels []*parser.VectorSelector, each func(labels.Labels, chunkenc.Iterator) error) error {
	qs := make([]*prompb.Query, 0, len(sels))
	for _, s := range sels {
		q, err := remote.ToQuery(mint, maxt, s.LabelMatchers, nil)
		if err != nil {
			return fmt.Errorf("remote read query for %s: %w", s, err)
		}
		qs = append(qs, q)
	}
	ss, err := r.client.ReadMultiple(ctx, qs, false)
	if err != nil {
		return fmt.Errorf("%s: %w", r, err)
	}
	var it chunkenc.Iterator
	for ss.Next() {
		s := ss.At()
		it = s.Iterator(it)
		if err := each(s.Labels(), it); err != nil {
			return err
		}
	}
	if err := ss.Err(); err != nil {
		return fmt.Errorf("%s: %w", r, err)
	}
	return nil
}

type queryAPI struct {
	url     string
	api     promv1.API
	timeout time.Duration // per request
}

func newQueryAPI(base *url.URL, timeout time.Duration) (*queryAPI, error) {
	c, err := api.NewClient(api.Config{Address: base.String()})
	if err != nil {
		return nil, fmt.Errorf("query API client for %s: %w", base, err)
	}
	return &queryAPI{url: base.String(), api: promv1.NewAPI(c), timeout: timeout}, nil
}

func (q *queryAPI) String() string { return "query API " + q.url + "/api/v1/query" }

// Read asks for sel[maxt-mint+1ms] at maxt: an instant query of a range selector answers the raw
// samples in (maxt-range, maxt], which is [mint, maxt]. query_range would resample at its step.
func (q *queryAPI) Read(ctx context.Context, mint, maxt int64, sels []*parser.VectorSelector, each func(labels.Labels, chunkenc.Iterator) error) error {
	for _, s := range sels {
		expr := fmt.Sprintf("%s[%dms]", s, maxt-mint+1)
		rctx, cancel := context.WithTimeout(ctx, q.timeout)
		v, _, _, err := q.api.Query(rctx, expr, time.UnixMilli(maxt))
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %s: %w", q, expr, err)
		}
		m, ok := v.(model.Matrix)
		if !ok {
			return fmt.Errorf("%s: %s: got %s, want a matrix", q, expr, v.Type())
		}
		for _, ss := range m {
			if len(ss.Histograms) > 0 {
				return fmt.Errorf("%s: %s holds native histograms, which the query API fallback does not carry: use --read-api=%s", q, ss.Metric, APIRemoteRead)
			}
			b := labels.NewScratchBuilder(len(ss.Metric))
			for k, v := range ss.Metric {
				b.Add(string(k), string(v))
			}
			b.Sort()
			if err := each(b.Labels(), storage.NewListSeriesIterator(pairs(ss.Values))); err != nil {
				return err
			}
		}
	}
	return nil
}

// pairs are the float samples of a query API answer, as storage.NewListSeriesIterator wants them.
type pairs []model.SamplePair

func (p pairs) Len() int                { return len(p) }
func (p pairs) Get(i int) chunks.Sample { return pair(p[i]) }

type pair model.SamplePair

func (p pair) T() int64                      { return int64(p.Timestamp) }
func (p pair) ST() int64                     { return 0 }
func (p pair) F() float64                    { return float64(p.Value) }
func (p pair) H() *histogram.Histogram       { return nil }
func (p pair) FH() *histogram.FloatHistogram { return nil }
func (p pair) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (p pair) Copy() chunks.Sample           { return p }
