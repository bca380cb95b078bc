package harness

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// findChromium returns a headless-capable Chromium or "".
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

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
	chromium := findChromium()
	if chromium == "" && os.Getenv("ANDON_REQUIRE_CHROMIUM") != "" {
		t.Fatal("ANDON_REQUIRE_CHROMIUM is set but no chromium is on PATH")
	}
	if chromium == "" {
		t.Skip("chromium not installed: run `make test-report` (installs Debian's chromium) to check that the charts draw")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--dump-dom", "file://"+page)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
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
