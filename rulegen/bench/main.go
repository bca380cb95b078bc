// Command bench compares the cost of andon's SLO rules with Sloth's for the same SLO on a real
// Prometheus: 1,000 instances of the erlmcp example's series (3 days of request and error
// counters written as TSDB blocks, then scraped live from an in-process exporter), andon's
// generated rule file and Sloth's generated rule file loaded side by side in one Prometheus, and
// each rule group's evaluation time (what prometheus_rule_group_last_duration_seconds exports,
// read from /api/v1/rules) collected for a few minutes. Run by `make bench-rules`; prints a table.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/andon-sre/andon/internal/pinned"
	"github.com/andon-sre/andon/limits"
	"github.com/andon-sre/andon/rulegen"
)

// slothSpec is the erlmcp example's SLO written for Sloth: the same objective, signal, period and
// aggregation (the whole service), Sloth's default multiwindow alerts.
const slothSpec = `version: "prometheus/v1"
service: "erlmcp"
labels:
  team: platform
slos:
  - name: "requests-availability"
    objective: %s
    description: "The erlmcp example's SLO (andon examples/erlmcp/limits.yaml)."
    sli:
      events:
        error_query: sum(rate(erlmcp_errors_total{job="erlmcp"}[{{.window}}]))
        total_query: sum(rate(erlmcp_requests_total{job="erlmcp"}[{{.window}}]))
    alerting:
      name: ErlmcpErrorBudgetBurn
      page_alert:
        labels: {severity: critical}
      ticket_alert:
        labels: {severity: warning}
`

const (
	scrape    = 15 * time.Second
	perSecond = 10.0   // requests/s of every instance
	errShare  = 0.0001 // 0.01% errors: the seed's green level
	buckets   = 10     // latency histogram buckets besides +Inf
)

func main() {
	spec := flag.String("spec", "examples/erlmcp/limits.yaml", "andon spec whose SLO is compared")
	sloth := flag.String("sloth", "", "sloth binary (default: the pinned one in $ANDON_TOOLS_BIN, .cache/bin or PATH)")
	instances := flag.Int("instances", 1000, "instances of the example's series")
	history := flag.Duration("history", 72*time.Hour, "history of the request and error counters written before Prometheus starts")
	duration := flag.Duration("duration", 4*time.Minute, "how long rule evaluations are collected")
	dir := flag.String("dir", "", "work directory (default: a temporary one, removed afterwards)")
	flag.Parse()
	if err := run(*spec, *sloth, *instances, *history, *duration, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(specPath, slothBin string, instances int, history, duration time.Duration, dir string) error {
	prom, err := pinned.Path("prometheus")
	if err != nil {
		return err
	}
	if slothBin == "" {
		if slothBin, err = pinned.Path("sloth"); err != nil {
			return err
		}
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "andon-bench-rules-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	spec, _, err := limits.Load(specPath)
	if err != nil {
		return err
	}
	if spec.SLO == nil {
		return fmt.Errorf("%s has no slo to compare", specPath)
	}
	intervals, err := writeAndonRules(spec, filepath.Join(dir, "andon.rules.yaml"))
	if err != nil {
		return err
	}
	if err := writeSlothRules(slothBin, spec, dir); err != nil {
		return err
	}
	start := time.Now().Truncate(scrape)
	fmt.Printf("writing %s of request and error counters for %d instances ...\n", model.Duration(history), instances)
	t0 := time.Now()
	if err := backfill(filepath.Join(dir, "data"), instances, start.Add(-history), start); err != nil {
		return err
	}
	fmt.Printf("  %d samples in %s\n", 2*instances*int(history/scrape), time.Since(t0).Round(time.Second))

	exp, err := serveExporter(instances, start.Add(-history))
	if err != nil {
		return err
	}
	defer exp.Close()
	port, err := freePort()
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf(`global: {scrape_interval: %s, evaluation_interval: %s}
rule_files: [andon.rules.yaml, sloth.rules.yaml]
scrape_configs:
  - job_name: erlmcp
    honor_labels: true
    static_configs: [{targets: [%q]}]
`, model.Duration(scrape), model.Duration(spec.EvaluationInterval.D()), exp.Addr().String())
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, prom, "--config.file=prometheus.yml", "--storage.tsdb.path=data",
		"--storage.tsdb.retention.time=31d", "--web.listen-address="+addr)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, logf, logf
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	load := loadavg()
	fmt.Printf("collecting rule evaluations for %s (load average %s) ...\n", model.Duration(duration), load)
	evals, err := collect("http://"+addr, duration)
	if err != nil {
		return fmt.Errorf("%w (Prometheus log: %s)", err, filepath.Join(dir, "prometheus.log"))
	}
	report(os.Stdout, evals, intervals, instances, history)
	fmt.Printf("\nload average before: %s, after: %s (2 shared cores)\n", load, loadavg())
	return nil
}

// writeAndonRules writes andon's rules for spec. Groups evaluated less often than every minute
// are evaluated every minute here, so that each is seen several times in a run: one evaluation
// costs the same at any interval; the returned real intervals weigh the per-minute cost.
func writeAndonRules(spec *limits.Spec, path string) (map[string]time.Duration, error) {
	res, err := rulegen.Generate(spec)
	if err != nil {
		return nil, err
	}
	real := map[string]time.Duration{}
	for i := range res.Groups {
		g := &res.Groups[i]
		real[g.Name] = time.Duration(g.Interval)
		g.Interval = min(g.Interval, model.Duration(time.Minute))
	}
	rules, err := res.RulesYAML()
	if err != nil {
		return nil, err
	}
	return real, os.WriteFile(path, rules, 0o644)
}

// writeSlothRules generates Sloth's rules for the spec's objective with the pinned Sloth.
func writeSlothRules(sloth string, spec *limits.Spec, dir string) error {
	in := filepath.Join(dir, "sloth.slo.yaml")
	objective := limits.FormatNumber((1 - spec.SLO.Budget()) * 100)
	if err := os.WriteFile(in, []byte(fmt.Sprintf(slothSpec, objective)), 0o644); err != nil {
		return err
	}
	out, err := exec.Command(sloth, "generate", "--no-log", "-i", in, "-o", filepath.Join(dir, "sloth.rules.yaml")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("sloth generate: %v\n%s", err, out)
	}
	return nil
}

// counters are the request and error counters of instance i at t: a steady rate from start, so
// the written history and the live exporter continue each other.
func counters(i int, start, t time.Time) (requests, errs float64) {
	r := perSecond * (0.5 + float64(i%10)/10) // 5 to 14.5 req/s
	s := t.Sub(start).Seconds()
	return 1000 + r*s, r * errShare * s
}

func instanceName(i int) string { return fmt.Sprintf("erlmcp-%04d", i) }

// backfill writes the counters every scrape interval from from to to as TSDB blocks, one a day.
func backfill(dir string, instances int, from, to time.Time) error {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	day := 24 * time.Hour
	for lo := from; lo.Before(to); lo = lo.Add(day) {
		hi := lo.Add(day)
		if hi.After(to) {
			hi = to
		}
		w, err := tsdb.NewBlockWriter(logger, dir, day.Milliseconds())
		if err != nil {
			return err
		}
		app := w.Appender(context.Background())
		for i := range instances {
			req := labels.FromStrings("__name__", "erlmcp_requests_total", "instance", instanceName(i), "job", "erlmcp")
			errs := labels.FromStrings("__name__", "erlmcp_errors_total", "instance", instanceName(i), "job", "erlmcp")
			var refReq, refErr storage.SeriesRef
			for t := lo; t.Before(hi); t = t.Add(scrape) {
				r, e := counters(i, from, t)
				if refReq, err = app.Append(refReq, req, t.UnixMilli(), r); err != nil {
					return err
				}
				if refErr, err = app.Append(refErr, errs, t.UnixMilli(), e); err != nil {
					return err
				}
			}
		}
		if err := app.Commit(); err != nil {
			return err
		}
		if _, err := w.Flush(context.Background()); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
	}
	return nil
}

// serveExporter serves every instance's erlmcp series (honor_labels keeps their instance label).
func serveExporter(instances int, start time.Time) (net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	les := make([]string, 0, buckets+1)
	for b := range buckets {
		les = append(les, limits.FormatNumber(0.01*math.Pow(2, float64(b))))
	}
	les = append(les, "+Inf")
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		var b bytes.Buffer
		now := time.Now()
		for i := range instances {
			in := instanceName(i)
			r, e := counters(i, start, now)
			fmt.Fprintf(&b, "erlmcp_requests_total{instance=%q} %g\nerlmcp_errors_total{instance=%q} %g\n", in, r, in, e)
			fmt.Fprintf(&b, "erlmcp_connection_attempts_total{instance=%q} %g\nerlmcp_connection_failures_total{instance=%q} %g\n", in, r/100, in, e/100)
			for k, le := range les {
				share := min(1, float64(k+1)/float64(buckets-2)) // latencies spread over the buckets
				fmt.Fprintf(&b, "erlmcp_request_duration_seconds_bucket{instance=%q,le=%q} %g\n", in, le, r*share)
			}
			fmt.Fprintf(&b, "erlmcp_request_duration_seconds_count{instance=%q} %g\nerlmcp_request_duration_seconds_sum{instance=%q} %g\n", in, r, in, r*0.05)
			fmt.Fprintf(&b, "erlmcp_connections_total{instance=%q} %d\nerlmcp_cpu_usage_percent{instance=%q} %d\n", in, 50+i%40, in, 20+i%15)
			fmt.Fprintf(&b, "erlmcp_memory_bytes{instance=%q} %d\nerlmcp_queue_size{instance=%q} %d\n", in, 200e6+i*1000, in, i%100)
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write(b.Bytes())
	}))
	return l, nil
}

// groupEval is what the rules API says of one group at one poll.
type groupEval struct {
	Name           string    `json:"name"`
	File           string    `json:"file"`
	Interval       float64   `json:"interval"`
	LastEvaluation time.Time `json:"lastEvaluation"`
	EvaluationTime float64   `json:"evaluationTime"`
	Rules          []struct {
		Query     string `json:"query"`
		Health    string `json:"health"`
		LastError string `json:"lastError"`
	} `json:"rules"`
}

// groupStats are the evaluation times seen of one group, one per evaluation.
type groupStats struct {
	file, name string
	seconds    []float64
	last       time.Time
	queries    []string
	errors     []string
}

// collect polls /api/v1/rules until duration has passed, keeping each group's evaluation time
// once per evaluation.
func collect(base string, duration time.Duration) (map[string]*groupStats, error) {
	deadline := time.Now().Add(duration)
	ready := time.Now().Add(2 * time.Minute)
	stats := map[string]*groupStats{}
	for time.Now().Before(deadline) {
		time.Sleep(5 * time.Second)
		resp, err := http.Get(base + "/api/v1/rules")
		if err != nil {
			if time.Now().After(ready) {
				return nil, fmt.Errorf("prometheus did not answer: %w", err)
			}
			continue
		}
		var body struct {
			Data struct {
				Groups []groupEval `json:"groups"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		for _, g := range body.Data.Groups {
			st := stats[g.Name]
			if st == nil {
				st = &groupStats{file: filepath.Base(g.File), name: g.Name}
				for _, r := range g.Rules {
					st.queries = append(st.queries, r.Query)
				}
				stats[g.Name] = st
			}
			if g.LastEvaluation.IsZero() || !g.LastEvaluation.After(st.last) {
				continue
			}
			st.last = g.LastEvaluation
			st.seconds = append(st.seconds, g.EvaluationTime)
			for _, r := range g.Rules {
				if r.LastError != "" && !slices.Contains(st.errors, r.LastError) {
					st.errors = append(st.errors, r.LastError)
				}
			}
		}
	}
	if len(stats) == 0 {
		return nil, fmt.Errorf("no rule group was evaluated in %s", model.Duration(duration))
	}
	return stats, nil
}

// report prints one row per group and the totals per generator: evaluation time per evaluation
// (median and max of those seen; the first one is left out, it warms the caches) and per minute
// at the group's real interval, and the raw range selectors each evaluation reads.
func report(w *os.File, stats map[string]*groupStats, andonIntervals map[string]time.Duration, instances int, history time.Duration) {
	names := make([]string, 0, len(stats))
	for n := range stats {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		return strings.Compare(stats[a].file+stats[a].name, stats[b].file+stats[b].name)
	})
	fmt.Fprintf(w, "\nRule groups on %d instances, %s of counter history, evaluation every %s\n", instances, model.Duration(history), model.Duration(scrape))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "FILE\tGROUP\tINTERVAL\tEVALS\tRAW RANGE SELECTORS\tMEDIAN s/EVAL\tMAX s/EVAL\ts/MINUTE\t")
	totals := map[string]float64{}
	for _, n := range names {
		st := stats[n]
		interval := andonIntervals[n]
		if interval == 0 {
			interval = scrape // Sloth's groups: the global evaluation interval
		}
		seen := st.seconds
		if len(seen) > 1 {
			seen = seen[1:]
		}
		med, top := median(seen), slices.Max(append([]float64{0}, seen...))
		perMin := med * float64(time.Minute) / float64(interval)
		kind := "sloth"
		if strings.HasPrefix(st.file, "andon") {
			kind = "andon SLO"
			if !strings.Contains(n, ":slo") {
				kind = "andon limits"
			}
		}
		totals[kind] += perMin
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.4f\t%.4f\t%.4f\t\n", st.file, n, model.Duration(interval), len(seen), rawSelectors(st.queries), med, top, perMin)
		for _, e := range st.errors {
			fmt.Fprintf(w, "  error in %s: %s\n", n, e)
		}
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nEvaluation seconds per minute: andon SLO %.4f, Sloth %.4f (andon/Sloth %.2f); andon's operating limits add %.4f (Sloth has none).\n",
		totals["andon SLO"], totals["sloth"], totals["andon SLO"]/totals["sloth"], totals["andon limits"])
}

// rawSelectors counts the range selectors over scraped series (not recorded ones, whose names
// hold a colon) in a group's queries.
func rawSelectors(queries []string) int {
	n := 0
	for _, q := range queries {
		e, err := parser.NewParser(parser.Options{}).ParseExpr(q)
		if err != nil {
			continue
		}
		parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
			if m, ok := node.(*parser.MatrixSelector); ok {
				if vs, ok := m.VectorSelector.(*parser.VectorSelector); ok && !strings.Contains(vs.Name, ":") {
					n++
				}
			}
			return nil
		})
	}
	return n
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
