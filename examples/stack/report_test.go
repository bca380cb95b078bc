package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andon-sre/andon/harness"
)

// reportFixture is a run shaped like the demo's: 110 points, the loop's events, an alert event
// and the warm-up's two events before the run began (listed in the table, not drawn).
func reportFixture() (*harness.Result, []Event) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	res := &harness.Result{Profile: DefaultScenario.profile(), Start: start, Seconds: 110}
	for i := range 110 {
		p := harness.Point{T: float64(i + 1), Intended: 50, Sent: 50, Completed: 50, P95: 0.005}
		if i >= 30 && i < 90 {
			p.Intended, p.Sent, p.Completed, p.Errors, p.P95 = 300, 300, 300, 200, 0.5
		}
		res.Timeline = append(res.Timeline, p)
	}
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	events := []Event{{at(-22), EvWarmup, ""}, {at(-1), EvSteady, ""}, {at(15), EvBaseline, ""}, {at(30), EvOnset, ""}, {at(31.8), EvCrossed, ""}, {at(32.8), EvPending, ""},
		{at(36.8), EvAlert, "McpserverLatencyP95Yellow firing"}, {at(37.8), EvFiring, ""}, {at(38.8), EvNotified, ""},
		{at(38.8), EvAndon, ""}, {at(38.8), EvApplied, ""}, {at(44.8), EvRecovered, ""}, {at(90), EvRecovery, ""},
		{at(109.8), EvReverted, ""}}
	return res, events
}

// TestReport checks what the page holds: every loop event drawn on each chart at its time, the
// red limit at its height, labels on rows that keep them apart, every event in the table.
func TestReport(t *testing.T) {
	res, events := reportFixture()
	var b bytes.Buffer
	if err := WriteReport(&b, res, events, 0.28); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	drawn := len(events) - 3 // the EvAlert and the warm-up's events are not drawn
	if got, want := strings.Count(page, `<line class="ev"`), 3*drawn; got != want {
		t.Errorf("%d event lines, want %d (3 charts × %d loop events)", got, want, drawn)
	}
	x := strconv.FormatFloat(chartW*38.8/110, 'g', -1, 64)
	if got := strings.Count(page, `<line class="ev" x1="`+x+`"`); got != 3*3 {
		t.Errorf("notification, andon and shedding at 38.8s: %d lines at x=%s, want 9", got, x)
	}
	// p95 chart: max is 500ms, so the 280ms limit sits at 220 - 220×280/500.
	if y := strconv.FormatFloat(chartH-chartH*280/500, 'g', -1, 64); !strings.Contains(page, `class="lim" x1="0" x2="900" y1="`+y+`"`) {
		t.Errorf("no red limit line at y=%s", y)
	}
	for _, e := range events {
		if !strings.Contains(page, "<td>"+e.Name+"</td>") {
			t.Errorf("timeline table lacks %q", e.Name)
		}
	}
	c := plot("t", "ms", res, []series{{"p95", "#000", make([]float64, len(res.Timeline))}}, math.NaN(), res.Seconds, events)
	for i, a := range c.Events {
		for _, o := range c.Events[:i] {
			if a.Y == o.Y && math.Abs(a.X-o.X) < 6*float64(len(o.Label)) {
				t.Errorf("labels %q and %q share row %v %.0fpx apart", o.Label, a.Label, a.Y, a.X-o.X)
			}
		}
		if a.Anchor == "end" && a.X < chartW*0.8 {
			t.Errorf("%q at x=%.0f is anchored at its end; only labels near the right edge are", a.Label, a.X)
		}
	}
	checkInChromium(t, page, 3, 1+1+4, drawn) // p95; errors; intended, sent, succeeded, failed
}

// checkInChromium loads the page in headless Chromium and reads what its script measured: charts,
// lines with length, event markers (none outside their chart) and overlapping labels (none).
// Without Chromium it skips, unless ANDON_REQUIRE_CHROMIUM is set (make e2e; `make chromium` installs it).
func checkInChromium(t *testing.T, page string, charts, lines, eventsPerChart int) {
	chromium := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		if os.Getenv("ANDON_REQUIRE_CHROMIUM") != "" {
			t.Fatal("ANDON_REQUIRE_CHROMIUM is set but no chromium is on PATH")
		}
		t.Skip("chromium not installed (`make chromium`): the page's drawing is not checked")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1000,1400",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--dump-dom", "file://"+file)
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	m := regexp.MustCompile(`drawn charts=(\d+) lines=(\d+) events=(\d+) outside=(\d+) overlaps=(\d+)`).FindSubmatch(dom)
	if m == nil {
		t.Fatalf("the page did not report what it drew: %s", regexp.MustCompile(`(?s)<pre id="stack-report-status">.*?</pre>`).Find(dom))
	}
	got := make([]int, 5)
	for i := range got {
		got[i], _ = strconv.Atoi(string(m[i+1]))
	}
	t.Logf("chromium drew %d charts, %d lines, %d event markers (%d outside their chart), %d overlapping labels", got[0], got[1], got[2], got[3], got[4])
	if want := []int{charts, lines, charts * eventsPerChart, 0, 0}; !slices.Equal(got, want) {
		t.Errorf("drawn charts, lines, events, outside, overlaps = %v, want %v", got, want)
	}
}
