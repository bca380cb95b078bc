package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andon-sre/andon/backtest/history"
	"github.com/andon-sre/andon/internal/chromium"
)

// variantRules is the example with the yellow error-ratio limit doubled: the baseline of the
// comparison tests ("what does this change do to my pager").
func variantRules(t testing.TB) []byte {
	t.Helper()
	spec, err := os.ReadFile("../examples/erlmcp/limits.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const from, to = "thresholds: {yellow: 0.05%, red: 0.5%, emergency: 1%}", "thresholds: {yellow: 0.1%, red: 0.5%, emergency: 1%}"
	if !bytes.Contains(spec, []byte(from)) {
		t.Fatalf("the example's error-ratio thresholds are no longer %q: update the test", from)
	}
	path := filepath.Join(t.TempDir(), "limits.yaml")
	if err := os.WriteFile(path, bytes.Replace(spec, []byte(from), []byte(to), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	return exampleRules(t, path)
}

// sixHours is a candidate and a baseline report over six hours of generated history.
func sixHours(t *testing.T) (cand, base *Report) {
	t.Helper()
	h := history.Options{Start: historyStart, Duration: 6 * time.Hour, Interval: 15 * time.Second, Instances: 2}
	src := newMemSource(h)
	o := Options{From: h.Start, To: h.Start.Add(h.Duration - h.Interval)}
	run := func(name string, rules []byte) *Report {
		rs := ok[*RuleSet](t)(ParseRules(name, rules))
		return ok[*Report](t)(Run(context.Background(), src, rs, o))
	}
	return run("candidate", exampleRules(t, "../examples/erlmcp/limits.yaml")), run("baseline", variantRules(t))
}

func TestCompareShowsWhatAThresholdChangeDoes(t *testing.T) {
	cand, base := sixHours(t)
	var d *Diff
	for _, x := range Compare(cand, base) {
		if x.Name == "ErlmcpErrorRatioYellow" {
			d = &x
		}
	}
	if d == nil {
		t.Fatal("ErlmcpErrorRatioYellow missing from the comparison")
	}
	// Halving the yellow limit (0.1% → 0.05%) can only make it fire more, and in this history it does.
	if d.Fired <= 0 || d.PagesPerMonth <= 0 {
		t.Errorf("yellow at 0.05%% vs 0.1%%: Δfired %d, Δpages/month %.2f; want both > 0", d.Fired, d.PagesPerMonth)
	}
	for _, x := range Compare(cand, base) {
		if x.Name != "ErlmcpErrorRatioYellow" && x.Name != "ErlmcpErrorBudgetBurn" && x.Fired != 0 {
			t.Errorf("%s changed by %+d firings, but only the yellow error limit differs", x.Name, x.Fired)
		}
	}
	var table bytes.Buffer
	if err := WriteTable(&table, cand, base); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ALERT", "ErlmcpErrorRatioYellow", "difference: baseline → candidate", "pages per month:"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	b, err := json.Marshal(JSON(cand, base))
	if err != nil {
		t.Fatal(err)
	}
	var back Output
	if err := json.Unmarshal(b, &back); err != nil || len(back.Diff) == 0 || back.Candidate.Alert("ErlmcpErrorRatioYellow") == nil {
		t.Errorf("JSON does not round-trip: %v", err)
	}
}

// TestReportDrawsInHeadlessChromium loads the HTML report in Chromium and reads back what its
// script drew: a chart per alert, the candidate's signal line, both thresholds and firing bands.
func TestReportDrawsInHeadlessChromium(t *testing.T) {
	cand, base := sixHours(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var html bytes.Buffer
	if err := WriteHTML(&html, cand, base); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(html.Bytes(), []byte("<script src")) {
		t.Error("report loads scripts: it must be self-contained")
	}
	if err := os.WriteFile(page, html.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := chromium.DumpDOM(t, page, "test-backtest-report")
	m := regexp.MustCompile(`drawn charts=(\d+) points=(\d+) thresholds=(\d+) bands=(\d+)`).FindSubmatch(dom)
	if m == nil {
		t.Fatalf("the page did not report drawing; status: %s", regexp.MustCompile(`(?s)<pre id="andon-report-status">.*?</pre>`).Find(dom))
	}
	n := func(i int) int { v, _ := strconv.Atoi(string(m[i])); return v }
	wantCharts, wantPoints, wantThresholds, wantBands := 0, 0, 0, 0
	for _, c := range JSON(cand, base).Candidate.Alerts {
		wantCharts++
		for _, v := range c.Timeline {
			if v == v { // not NaN
				wantPoints++
			}
		}
		if c.Threshold != nil {
			wantThresholds++
		}
		wantBands += len(merged(c.Episodes))
	}
	for _, c := range base.Alerts {
		if c.Threshold != nil {
			wantThresholds++
		}
		wantBands += len(merged(c.Episodes))
	}
	if n(1) != wantCharts || n(2) != wantPoints || n(3) != wantThresholds || n(4) != wantBands {
		t.Errorf("drew %s, want charts=%d points=%d thresholds=%d bands=%d", m[0], wantCharts, wantPoints, wantThresholds, wantBands)
	}
	if wantPoints == 0 || wantBands == 0 {
		t.Errorf("nothing to draw (points %d, bands %d): the test would prove nothing", wantPoints, wantBands)
	}
}
