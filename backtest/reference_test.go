package backtest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/andon-sre/andon/backtest/history"
	"github.com/andon-sre/andon/internal/pinned"
	"github.com/andon-sre/andon/limits"
	"github.com/andon-sre/andon/promtest"
	"github.com/andon-sre/andon/rulegen"
)

// referenceHistory is three days of two erlmcp instances scraped every 15s: every alert level,
// low traffic, counter resets, missed scrapes, targets down and Prometheus itself down.
var referenceHistory = history.Options{Start: historyStart, Duration: 72 * time.Hour, Interval: 15 * time.Second, Instances: 2}

// exampleRules generates the erlmcp example's rules without annotations: promtool compares
// annotations too, and the backtest leaves them out (they never change when an alert fires).
func exampleRules(t testing.TB, path string) []byte { return exampleRulesEvery(t, path, 0) }

// exampleRulesEvery is exampleRules with every group evaluated at interval (0: the groups' own):
// promtool's unit-test engine evaluates every group at the test's evaluation_interval, so a
// comparison with it must replay the groups at that interval too (the spec's 1m slo-long group
// would otherwise be evaluated at other instants than promtool's).
func exampleRulesEvery(t testing.TB, path string, interval time.Duration) []byte {
	t.Helper()
	spec, diags, err := limits.Load(path)
	if err != nil || len(diags.Errors()) > 0 {
		t.Fatalf("%s: %v %v", path, err, diags)
	}
	res := ok[*rulegen.Result](t)(rulegen.Generate(spec))
	for gi := range res.Groups {
		if interval > 0 {
			res.Groups[gi].Interval = model.Duration(interval)
		}
		for ri := range res.Groups[gi].Rules {
			res.Groups[gi].Rules[ri].Annotations = nil
		}
	}
	return ok[[]byte](t)(res.RulesYAML())
}

// TestFiringsEqualPromtool is the proof of the backtest: three days of history are backfilled
// into a real Prometheus with promtool; the backtest reads them back (remote read, and the query
// API: both must agree) and replays the erlmcp example's rules; then promtool's own rule-unit-test
// engine (rules manager, group order, for, keep_firing_for) evaluates the same rules over the same
// series, and must find exactly the alerts the backtest says were firing, at every transition the
// backtest saw (and the evaluation before it) and every 10 minutes in between, for every alert
// name. promtool loads at most 10,000 samples per query (promqltest's fixed limit), which a 3-day
// rate over 15-second samples reaches after 41.6 hours: so the operating limits (the example
// without `slo:`) are checked over the three days, and the whole example, SLO burn-rate alerts
// included, over the first 40 hours.
func TestFiringsEqualPromtool(t *testing.T) {
	if os.Getenv("ANDON_BACKTEST_REFERENCE") == "" {
		t.Skip("minutes long: run by `make test-backtest` (ANDON_BACKTEST_REFERENCE=1)")
	}
	pinned.Require(t, "promtool")
	url := prometheusWithHistory(t, referenceHistory)
	whole := filepath.Join("..", "examples", "erlmcp", "limits.yaml")
	first40h := referenceHistory
	first40h.Duration = 40 * time.Hour
	for _, c := range []struct {
		name string
		spec string
		h    history.Options
	}{
		{"operating limits over three days", withoutSLO(t, whole), referenceHistory},
		{"the whole example over 40 hours", whole, first40h},
	} {
		t.Run(c.name, func(t *testing.T) {
			rules := exampleRulesEvery(t, c.spec, c.h.Interval)
			rep := replayBothWays(t, url, rules, c.h)
			agreeWithPromtool(t, rep, rules, c.h)
		})
	}
	t.Run("the CLI prints the same firings, diffs a baseline, and gates on a page budget", func(t *testing.T) {
		to := referenceHistory.Start.Add(referenceHistory.Duration - referenceHistory.Interval)
		rs := ok[*RuleSet](t)(ParseRules("erlmcp", exampleRules(t, whole)))
		src := ok[Source](t)(NewSource(context.Background(), url, APIRemoteRead, 5*time.Minute))
		// The range the CLI's --range 3d --to asks for: groups of a longer interval than the
		// scrape's are evaluated at instants that depend on where the range starts.
		rep := ok[*Report](t)(Run(context.Background(), src, rs, Options{From: to.Add(-72 * time.Hour), To: to}))
		testCLI(t, url, rep, to)
	})
}

// withoutSLO writes the spec at path with its `slo:` section (its last) cut off.
func withoutSLO(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), "\nslo:")
	if i < 0 {
		t.Fatalf("%s has no slo: section any more: update the test", path)
	}
	out := filepath.Join(t.TempDir(), "limits.yaml")
	if err := os.WriteFile(out, b[:i+1], 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// replayBothWays replays rules over h through remote read and through the query API, which must
// agree, and returns the remote read report.
func replayBothWays(t *testing.T, url string, rules []byte, h history.Options) *Report {
	t.Helper()
	ctx := context.Background()
	rs := ok[*RuleSet](t)(ParseRules("erlmcp", rules))
	var reports []*Report
	for _, api := range []string{APIRemoteRead, APIQuery} {
		src := ok[Source](t)(NewSource(ctx, url, api, 5*time.Minute))
		start := time.Now()
		rep := ok[*Report](t)(Run(ctx, src, rs, Options{From: h.Start, To: h.Start.Add(h.Duration - h.Interval)}))
		t.Logf("%s: %d raw series, %d samples, replayed in %s", src, rep.Series, rep.Samples, time.Since(start).Round(time.Millisecond))
		reports = append(reports, rep)
	}
	if a, b := episodesOf(reports[0]), episodesOf(reports[1]); !slices.Equal(a, b) {
		t.Errorf("remote read and the query API disagree (%d and %d episodes):\n%s", len(a), len(b), strings.Join(diffLines(a, b), "\n"))
	}
	// The history must exercise every level, no-data and target-down, or agreement proves little.
	for _, a := range reports[0].Alerts {
		if a.Fired == 0 {
			t.Errorf("%s never fired in the reference history: the comparison would not cover it", a.Name)
		}
	}
	return reports[0]
}

// agreeWithPromtool has promtool evaluate the same rules over the same series and check every
// firing of rep.
func agreeWithPromtool(t *testing.T, rep *Report, rules []byte, h history.Options) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	checks, cases := promtoolTest(t, rep, rules, h, filepath.Join(dir, "test.yaml"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute) // minutes on a quiet machine; a loaded one starves it
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, pinned.Require(t, "promtool"), "test", "rules", filepath.Join(dir, "test.yaml")).CombinedOutput()
	if err != nil {
		s := string(out)
		if len(s) > 6000 {
			s = s[:6000] + "\n…"
		}
		t.Fatalf("promtool disagrees with the backtest (%d eval times, %d alert checks): %v\n%s", checks, cases, err, s)
	}
	t.Logf("promtool agrees at %d evaluation times (%d alert checks) in %s", checks, cases, time.Since(start).Round(time.Millisecond))
}

// testCLI runs `andon backtest` against the reference Prometheus: its JSON holds the firings
// promtool just agreed with; --baseline shows the difference; --max-pages-per-month gates.
func testCLI(t *testing.T, url string, want *Report, to time.Time) {
	bin := filepath.Join(t.TempDir(), "andon")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/andon").CombinedOutput(); err != nil {
		t.Fatalf("building cmd/andon: %v\n%s", err, out)
	}
	spec := filepath.Join("..", "examples", "erlmcp", "limits.yaml")
	run := func(args ...string) (string, string, int) {
		var stdout, stderr strings.Builder
		cmd := exec.Command(bin, append([]string{"backtest", "-f", spec, "--prometheus", url, "--range", "3d", "--to", to.Format(time.RFC3339)}, args...)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return stdout.String(), stderr.String(), code
	}
	out, errOut, code := run("-o", "json", "--quiet")
	if code != 0 {
		t.Fatalf("andon backtest -o json: exit %d\n%s", code, errOut)
	}
	var doc Output
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("JSON: %v\n%.2000s", err, out)
	}
	if got, w := episodesOf(doc.Candidate), episodesOf(want); !slices.Equal(got, w) {
		t.Errorf("the CLI found %d episodes, the promtool-checked replay %d:\n%s", len(got), len(w), strings.Join(diffLines(w, got), "\n"))
	}

	baseline := filepath.Join(t.TempDir(), "baseline.yaml")
	b, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(baseline, []byte(strings.Replace(string(b), "thresholds: {yellow: 0.05%", "thresholds: {yellow: 0.1%", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	html := filepath.Join(t.TempDir(), "report.html")
	out, errOut, code = run("--baseline", baseline, "--html", html)
	if code != 0 {
		t.Fatalf("andon backtest --baseline: exit %d\n%s", code, errOut)
	}
	t.Logf("andon backtest --baseline:\n%s", out)
	for _, w := range []string{"ErlmcpErrorRatioYellow", "difference: " + baseline + " → " + spec, " through "} {
		if !strings.Contains(out+errOut, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	if st, err := os.Stat(html); err != nil || st.Size() == 0 {
		t.Errorf("--html wrote nothing: %v", err)
	}

	pages := want.TotalPagesPerMonth()
	_, errOut, code = run("--quiet", "--max-pages-per-month", fmt.Sprint(pages-1))
	if code != 2 || !strings.Contains(errOut, "over the budget") {
		t.Errorf("a budget below the %.2f pages/month: exit %d, want 2 with the reason\n%s", pages, code, errOut)
	}
	_, errOut, code = run("--quiet", "--max-pages-per-month", fmt.Sprint(pages+1))
	if code != 0 {
		t.Errorf("a budget above the %.2f pages/month: exit %d, want 0\n%s", pages, code, errOut)
	}
}

func episodesOf(r *Report) []string {
	var out []string
	for _, a := range r.Alerts {
		for _, e := range a.Episodes {
			out = append(out, fmt.Sprintf("%s %s %s %v", e.Labels, e.Start.Format(time.RFC3339), e.End.Format(time.RFC3339), e.Ongoing))
		}
	}
	return out
}

// promtoolTest writes a promtool rule test of the same series whose expected alerts are the
// backtest's firings; it returns how many evaluation times and alert checks it holds.
func promtoolTest(t *testing.T, rep *Report, rules []byte, h history.Options, path string) (int, int) {
	t.Helper()
	steps := h.Steps()
	values := make([][]string, h.Instances*history.PerInstance)
	for s := range values {
		values[s] = slices.Repeat([]string{"_"}, steps)
	}
	err := history.Walk(h, func(s int, ts int64, v float64) error {
		values[s][int((ts-h.Start.UnixMilli())/h.Interval.Milliseconds())] = fmt.Sprint(v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	g := promtest.Group{Interval: h.Interval.String(), StartTimestamp: h.Start.Format(time.RFC3339)}
	for s, vs := range values {
		g.InputSeries = append(g.InputSeries, promtest.Series{Series: history.Exposition(h.Labels(s)), Values: strings.Join(vs, " ")})
	}
	// Check times: every transition and the evaluation before it, and a 10-minute grid.
	times := map[time.Time]bool{}
	for at := rep.From; !at.After(rep.To); at = at.Add(10 * time.Minute) {
		times[at] = true
	}
	for _, a := range rep.Alerts {
		for _, e := range a.Episodes {
			for _, at := range []time.Time{e.Start, e.Start.Add(-h.Interval), e.End, e.End.Add(-h.Interval)} {
				if !at.Before(rep.From) && !at.After(rep.To) {
					times[at] = true
				}
			}
		}
	}
	sorted := slices.SortedFunc(maps.Keys(times), func(a, b time.Time) int { return a.Compare(b) })
	cases := 0
	for _, at := range sorted {
		for _, a := range rep.Alerts {
			c := promtest.AlertTest{EvalTime: model.Duration(at.Sub(h.Start)).String(), Alertname: a.Name, ExpAlerts: []promtest.ExpAlert{}}
			for _, e := range a.Episodes {
				if !e.Start.After(at) && (at.Before(e.End) || e.Ongoing) {
					lbls := map[string]string{}
					e.Labels.Range(func(l labels.Label) {
						if l.Name != labels.AlertName {
							lbls[l.Name] = l.Value
						}
					})
					c.ExpAlerts = append(c.ExpAlerts, promtest.ExpAlert{ExpLabels: lbls})
				}
			}
			g.AlertRuleTests = append(g.AlertRuleTests, c)
			cases++
		}
	}
	var file struct {
		Groups []struct {
			Name string `yaml:"name"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(rules, &file); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, gr := range file.Groups {
		order = append(order, gr.Name)
	}
	b, err := yaml.Marshal(promtest.File{RuleFiles: []string{"rules.yaml"}, EvaluationInterval: h.Interval.String(), GroupEvalOrder: order, Tests: []promtest.Group{g}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return len(sorted), cases
}
