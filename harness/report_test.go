package harness

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/andon-sre/andon/internal/headless"
)

func TestReportDrawsInHeadlessChromium(t *testing.T) {
	srv := startServer(t, stateless2026, nil)
	res := runBounded(t, Options{Target: Target{URL: srv.URL}, Profile: mustProfile(t, openProfile),
		Thresholds: []Threshold{{Metric: "latency_p99", Value: 0.005, Label: "red p99"}, {Metric: "rate", Value: 250, Label: "limit"}, {Metric: "error_ratio", Value: 0.005, Label: "red"}}})
	var summary bytes.Buffer
	if err := WriteSummary(&summary, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tools/call", "echo", "tools/list", "p99 uncorrected", "intended"} {
		if !strings.Contains(summary.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, summary.String())
		}
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var html bytes.Buffer
	if err := WriteHTML(&html, res); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(html.Bytes(), []byte("http://")) && bytes.Contains(html.Bytes(), []byte("<script src")) {
		t.Error("report loads scripts from the network; it must be self-contained")
	}
	if err := os.WriteFile(page, html.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, err := headless.DumpDOM(headless.Require(t), page, dir)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`drawn charts=(\d+) points=(\d+) thresholds=(\d+)`).FindSubmatch(dom)
	if m == nil {
		t.Fatalf("the page did not report drawing; DOM status: %s", regexp.MustCompile(`(?s)<pre id="andon-report-status">.*?</pre>`).Find(dom))
	}
	charts, _ := strconv.Atoi(string(m[1]))
	points, _ := strconv.Atoi(string(m[2]))
	thresholds, _ := strconv.Atoi(string(m[3]))
	// 4 + 3 + 1 + 2 lines, one point per timeline entry each.
	if want := 10 * len(res.Timeline); charts != 4 || points != want || thresholds != 3 {
		t.Errorf("drew %d charts, %d points, %d thresholds; want 4, %d, 3", charts, points, thresholds, want)
	}
}
