package dashboards

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/andon-sre/andon/internal/loopback"
	"github.com/andon-sre/andon/internal/pinned"
	"github.com/andon-sre/andon/limits"
)

// Stand-ins for Grafana's variables when the test runs panel queries: windows short enough for the
// seconds of data the test has (two scrapes at least), every value of the template variables.
const (
	testRangeStandIn = "5s"
	testVarStandIn   = ".*"
)

// TestPanelQueriesAgainstPrometheus loads the generated rules into a real Prometheus that scrapes
// an exporter of the spec's raw metrics (values moving, errors present), then runs every panel,
// annotation and variable query of the dashboard and asserts each returns data. The spec is the
// example with every `for` cut to 1s and rule groups evaluated every second, so alerts fire within
// the test; the dashboard's queries are the example's own (checked first).
func TestPanelQueriesAgainstPrometheus(t *testing.T) {
	bin := pinned.Require(t, "prometheus")
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runAgainstPrometheus(t, bin, name)
		})
	}
}

func runAgainstPrometheus(t *testing.T, bin, name string) {
	spec := loadExample(t, name)
	_, exampleOut := generate(t, spec)
	quick(spec)
	res, out := generate(t, spec)
	if !slices.Equal(exprs(queriesOf(t, exampleOut)), exprs(queriesOf(t, out))) {
		t.Fatalf("shortening `for` changed the dashboard's queries; the test would not test the example")
	}
	for i := range res.Groups {
		res.Groups[i].Interval = model.Duration(time.Second)
	}
	rules, err := res.RulesYAML()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, rules, 0o644); err != nil {
		t.Fatal(err)
	}
	exporter := startExporter(t, spec)
	promURL := startPrometheus(t, bin, dir, spec, exporter, rulesPath)

	// The error-ratio stat must reach EMERGENCY (3): the exporter fails ~9% of requests.
	levelQuery := levelExpr(spec, "error_ratio", []limits.Level{limits.Yellow, limits.Red, limits.Emergency})
	qs := queriesOf(t, out)
	deadline := time.Now().Add(60 * time.Second)
	var failures []string
	for {
		failures = failures[:0]
		for _, q := range qs {
			expr := substitute(q.expr, templateVars(spec), testRangeStandIn, testVarStandIn)
			n, _, err := instantQuery(promURL, expr)
			switch {
			case err != nil:
				failures = append(failures, fmt.Sprintf("%s %q: %v\n\t%s", q.kind, q.where, err, expr))
			case n == 0:
				failures = append(failures, fmt.Sprintf("%s %q: empty result\n\t%s", q.kind, q.where, expr))
			}
		}
		if _, v, err := instantQuery(promURL, levelQuery); err != nil || v != 3 {
			failures = append(failures, fmt.Sprintf("error_ratio level stat = %v (err %v), want 3 (emergency)", v, err))
		}
		if len(failures) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if len(failures) > 0 {
		t.Fatalf("%d of %d queries failed against Prometheus after 60s:\n%s", len(failures), len(qs), strings.Join(failures, "\n"))
	}
	t.Logf("%s: all %d dashboard queries returned data", name, len(qs))
}

func exprs(qs []panelQuery) []string {
	out := make([]string, len(qs))
	for i, q := range qs {
		out[i] = q.expr
	}
	return out
}

// quick makes every alert fire after one second instead of its production `for`.
func quick(spec *limits.Spec) {
	second := limits.Dur(time.Second)
	for _, l := range limits.Levels {
		spec.Levels.Get(l).For = second
	}
	for _, sig := range spec.Signals {
		for _, l := range limits.Levels {
			if t := sig.Thresholds.Get(l); t != nil {
				t.For = nil
			}
		}
	}
	if spec.SLO != nil {
		for i := range spec.SLO.Windows {
			spec.SLO.Windows[i].For = second
		}
	}
}

// startPrometheus runs Prometheus scraping the exporter every second with the rules loaded, and
// returns its URL once it is ready.
func startPrometheus(t *testing.T, bin, dir string, spec *limits.Spec, target string, rulesPath string) string {
	t.Helper()
	job, extra := targetLabels(t, spec)
	var lbls strings.Builder
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		fmt.Fprintf(&lbls, "\n          %s: %q", k, extra[k])
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: %q
    static_configs:
      - targets: [%q]
        labels:
          service_under_test: %q%s
`, rulesPath, job, target, spec.Service, lbls.String())
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := loopback.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		logFile.Close()
		if t.Failed() {
			logs, _ := os.ReadFile(logFile.Name())
			t.Logf("prometheus log:\n%s", logs)
		}
	})
	u := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(u + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return u
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus on %s not ready after 20s: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// targetLabels turns the spec's selector into the scrape job's name and target labels, so the
// scraped series match it the way they would in production.
func targetLabels(t *testing.T, spec *limits.Spec) (string, map[string]string) {
	job, extra := spec.Service, map[string]string{}
	if spec.Selector == "" {
		return job, extra
	}
	ms, err := promParser.ParseMetricSelector(spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Type != labels.MatchEqual {
			t.Fatalf("selector matcher %s: the test can only reproduce equality matchers as target labels", m)
		}
		if m.Name == "job" {
			job = m.Value
		} else {
			extra[m.Name] = m.Value
		}
	}
	return job, extra
}

// instantQuery runs expr at the current time and returns the number of series and the first value.
func instantQuery(base, expr string) (int, float64, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, 0, err
	}
	if body.Status != "success" {
		return 0, 0, fmt.Errorf("query failed: %s", body.Error)
	}
	switch body.Data.ResultType {
	case "vector":
		var v []struct {
			Value [2]any `json:"value"`
		}
		if err := json.Unmarshal(body.Data.Result, &v); err != nil || len(v) == 0 {
			return 0, 0, err
		}
		var f float64
		_, err := fmt.Sscan(fmt.Sprint(v[0].Value[1]), &f)
		return len(v), f, err
	case "scalar":
		return 1, 0, nil
	}
	return 0, 0, fmt.Errorf("unexpected result type %s", body.Data.ResultType)
}

// startExporter serves the spec's raw metrics plus the receiver's and admission middleware's on
// 127.0.0.1, moving every 100ms: requests at ~100/s, ~9% failing and slow, gauges and counters
// rising. It stops with the test.
func startExporter(t *testing.T, spec *limits.Spec) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := newSpecModel(t, spec)
	tick := m.register(reg)
	tickLedger := registerLedger(reg, spec.Service)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				tick()
				tickLedger()
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
		_ = srv.Close()
	})
	return l.Addr().String()
}

// specModel is what the exporter must expose for the spec's selectors to match: metric families,
// each with label sets that either fail (errors) or succeed.
type specModel struct {
	targetLabels map[string]bool // set by the scrape config, not by the exporter
	families     map[string]*family
}

type family struct {
	kind string // counter, gauge, histogram
	sets []labelSet
}

type labelSet struct {
	values  map[string]string
	failing bool
}

func newSpecModel(t *testing.T, spec *limits.Spec) *specModel {
	m := &specModel{targetLabels: map[string]bool{}, families: map[string]*family{}}
	_, extra := targetLabels(t, spec)
	m.targetLabels["job"] = true
	for k := range extra {
		m.targetLabels[k] = true
	}
	sel := func(ref string) []*labels.Matcher {
		vs, err := spec.MetricSelector(ref)
		if err != nil {
			t.Fatal(err)
		}
		return vs.LabelMatchers
	}
	for _, sig := range spec.Signals {
		switch sig.Kind {
		case limits.KindRatio:
			errs, total := sel(sig.Errors), sel(sig.Total)
			m.add(t, errs, nil, true)
			m.add(t, total, errs, false) // succeeding requests: in total, not in errors
		case limits.KindLatency:
			m.addKind(t, "histogram", sel(sig.Histogram))
		case limits.KindGauge, limits.KindGrowth:
			m.addKind(t, "gauge", sel(sig.Metric))
		case limits.KindRate:
			m.addKind(t, "counter", sel(sig.Metric))
		}
	}
	return m
}

// familyOf names the family a series belongs to: a histogram for _count, _bucket and _sum.
func familyOf(series string) (string, string) {
	for _, suffix := range []string{"_count", "_bucket", "_sum"} {
		if base, ok := strings.CutSuffix(series, suffix); ok {
			return base, "histogram"
		}
	}
	return series, "counter"
}

func nameOf(ms []*labels.Matcher) string {
	for _, m := range ms {
		if m.Name == labels.MetricName {
			return m.Value
		}
	}
	return ""
}

// add records a label set matching ms (and, for a family shared with them, failing not): a
// counter, or the histogram a _count/_bucket/_sum series belongs to.
func (m *specModel) add(t *testing.T, ms, not []*labels.Matcher, failing bool) {
	name, kind := familyOf(nameOf(ms))
	set := m.values(t, ms, true)
	if notName, _ := familyOf(nameOf(not)); notName == name {
		for k, v := range m.values(t, not, false) {
			if _, ok := set[k]; !ok {
				set[k] = v
			}
		}
	}
	m.put(name, kind, labelSet{set, failing})
}

func (m *specModel) addKind(t *testing.T, kind string, ms []*labels.Matcher) {
	m.put(nameOf(ms), kind, labelSet{m.values(t, ms, true), false})
}

func (m *specModel) put(name, kind string, s labelSet) {
	f := m.families[name]
	if f == nil {
		f = &family{kind: kind}
		m.families[name] = f
	}
	for _, o := range f.sets {
		if fmt.Sprint(o.values) == fmt.Sprint(s.values) {
			return
		}
	}
	f.sets = append(f.sets, s)
}

// values picks a label value per matcher that matches (want) or does not match it.
func (m *specModel) values(t *testing.T, ms []*labels.Matcher, want bool) map[string]string {
	out := map[string]string{}
	for _, mt := range ms {
		if mt.Name == labels.MetricName || m.targetLabels[mt.Name] {
			continue
		}
		found := false
		for _, c := range []string{"", "error", "ok", mt.Value, mt.Value + "_x", strings.Split(mt.Value, "|")[0]} {
			if mt.Matches(c) == want {
				out[mt.Name], found = c, true
				break
			}
		}
		if !found {
			t.Fatalf("matcher %s: the test exporter finds no label value that %s it; extend its candidates", mt, map[bool]string{true: "matches", false: "fails"}[want])
		}
	}
	return out
}

// register creates the families on reg and returns the function that moves them one tick.
func (m *specModel) register(reg *prometheus.Registry) func() {
	var ticks []func(n int)
	for _, name := range slices.Sorted(maps.Keys(m.families)) {
		f := m.families[name]
		var names []string
		for _, s := range f.sets {
			for k := range s.values {
				if !slices.Contains(names, k) {
					names = append(names, k)
				}
			}
		}
		sort.Strings(names)
		values := func(s labelSet) []string {
			out := make([]string, len(names))
			for i, n := range names {
				out[i] = s.values[n]
			}
			return out
		}
		help := "test series for " + name
		switch f.kind {
		case "counter":
			v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, names)
			reg.MustRegister(v)
			for _, s := range f.sets {
				c := v.WithLabelValues(values(s)...)
				inc := map[bool]float64{true: 1, false: 10}[s.failing]
				ticks = append(ticks, func(int) { c.Add(inc) })
			}
		case "gauge":
			v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, names)
			reg.MustRegister(v)
			for _, s := range f.sets {
				g := v.WithLabelValues(values(s)...)
				ticks = append(ticks, func(n int) { g.Set(float64(100 + n)) })
			}
		case "histogram":
			v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: prometheus.DefBuckets}, names)
			reg.MustRegister(v)
			for _, s := range f.sets {
				o := v.WithLabelValues(values(s)...)
				count, latency := 10, 0.02
				if s.failing {
					count, latency = 1, 0.5
				}
				ticks = append(ticks, func(int) {
					for range count {
						o.Observe(latency)
					}
				})
			}
		}
	}
	n := 0
	return func() {
		n++
		for _, tick := range ticks {
			tick(n)
		}
	}
}

// registerLedger exposes the receiver's and the admission middleware's series with the labels of
// docs/contracts.md, the way a running `andon webhook` and an admission-wrapped service would.
func registerLedger(reg *prometheus.Registry, sku string) func() {
	gauge := func(name string, lbls ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: "test"}, lbls)
		reg.MustRegister(v)
		return v
	}
	counter := func(name string, lbls ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: "test"}, lbls)
		reg.MustRegister(v)
		return v
	}
	gauge(metricAndonOpen, "sku", "type").WithLabelValues(sku, limits.AndonTypeOperatingLimit).Set(1)
	gauge(metricActiveActions, "kind").WithLabelValues(string(limits.ActionShed)).Set(1)
	gauge(metricAdmissionInFlight).WithLabelValues().Set(3)
	gauge(metricAdmissionQueue).WithLabelValues().Set(7)
	gauge(metricAdmissionShed).WithLabelValues().Set(0.5)
	gauge(metricAdmissionSetting, "setting").WithLabelValues("shed").Set(1)
	triggered := counter(metricAndonTriggered, "type").WithLabelValues(limits.AndonTypeOperatingLimit)
	resolved := counter(metricAndonResolved, "type").WithLabelValues(limits.AndonTypeOperatingLimit)
	blocked := counter(metricAndonBlocked, "sku").WithLabelValues(sku)
	actions := counter(metricActions, "kind", "result").WithLabelValues(string(limits.ActionShed), "applied")
	notified := counter(metricWebhookNotified, "status").WithLabelValues("2xx")
	admitted := counter(metricAdmissionRequests, "tier", "result").WithLabelValues("2", "admitted")
	ttr := prometheus.NewHistogram(prometheus.HistogramOpts{Name: metricAndonTimeToResolve, Help: "test", Buckets: []float64{60, 300, 3600}})
	reg.MustRegister(ttr)
	return func() {
		triggered.Inc()
		resolved.Inc()
		blocked.Add(0.1)
		actions.Inc()
		notified.Inc()
		admitted.Add(10)
		ttr.Observe(120)
	}
}
