package kaizen

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/andon-sre/andon/andon"
	"github.com/andon-sre/andon/internal/chromium"
)

var start = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// history writes a month into a real SQLite ledger through the ledger API:
// test failures on build-1 that recur, a compilation failure resolved after
// two days, an operating-limit andon overlapping another on svc, one still open.
func history(t *testing.T) ([]andon.Andon, time.Time) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "andon.db")
	if _, err := andon.InitSQLite(path, start); err != nil {
		t.Fatal(err)
	}
	store, err := andon.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := start.Add(-10 * 24 * time.Hour)
	l := &andon.Ledger{Store: store, Now: func() time.Time { return now }}
	ctx := context.Background()
	open := func(ft andon.FailureType, sku, stage string) string {
		res, err := l.Trigger(ctx, andon.Trigger{Type: ft, SKU: sku, Stage: stage})
		if err != nil {
			t.Fatal(err)
		}
		return res.Andon.ID
	}
	resolve := func(id, cause string) {
		if _, err := l.Resolve(ctx, id, andon.Resolution{RootCause: cause, FixApplied: "fix of " + cause, PreventionAdded: "guard against " + cause, Resolver: "ana"}); err != nil {
			t.Fatal(err)
		}
	}
	at := func(d time.Duration) { now = start.Add(d) }
	day := 24 * time.Hour

	id := open(andon.TestFailure, "build-1", "testing") // before the period: makes the next one a recurrence
	now = now.Add(time.Hour)
	resolve(id, "flaky clock")
	at(2 * day)
	id = open(andon.TestFailure, "build-1", "testing")
	at(2*day + 3*time.Hour)
	resolve(id, "flaky clock again")
	at(5 * day)
	id = open(andon.CompilationFailure, "build-1", "compilation")
	at(7 * day)
	resolve(id, "toolchain bump")
	at(10 * day)
	a := open(andon.OperatingLimit, "svc", "execution")
	at(10*day + time.Hour)
	b := open(andon.SLOBurn, "svc", "execution")
	at(10*day + 2*time.Hour)
	resolve(a, "connection leak")
	at(10*day + 4*time.Hour)
	resolve(b, "retry storm")
	at(20 * day)
	open(andon.TestFailure, "build-1", "testing") // recurrence, still open
	at(25 * day)
	all, err := l.List(ctx, andon.Filter{Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return all, now
}

func TestBuildFromALedgerMonth(t *testing.T) {
	all, now := history(t)
	r, err := Build(all, Options{From: start, To: start.Add(30 * 24 * time.Hour)}, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Opened != 5 || r.Resolved != 4 || r.StillOpen != 1 || r.Recurrences != 2 || r.RecurrenceRate != 0.4 {
		t.Errorf("opened %d resolved %d open %d recurrences %d rate %v; want 5 4 1 2 0.4", r.Opened, r.Resolved, r.StillOpen, r.Recurrences, r.RecurrenceRate)
	}
	// resolved in the period: 3h, 2d, 2h, 3h
	if want := (3*3600 + 48*3600 + 2*3600 + 3*3600) / 4.0; r.MTTRSeconds != want {
		t.Errorf("MTTR %v, want %v", r.MTTRSeconds, want)
	}
	if len(r.ByType) != 4 || r.ByType[0] != (Count{Key: "test_failure", Opened: 2, Resolved: 1}) {
		t.Errorf("by type %+v", r.ByType)
	}
	if len(r.ByStage) != 3 || r.ByStage[0] != (Count{Key: "execution", Opened: 2, Resolved: 2}) || r.ByStage[1].Key != "testing" { // ties by name
		t.Errorf("by stage %+v", r.ByStage)
	}
	// build-1: 3h + 2d + 5d open until now (day 25); svc: 10:00–14:00 once, the overlap counted once
	if len(r.Blocked) != 2 || r.Blocked[0].SKU != "build-1" || r.Blocked[0].BlockedSeconds != (3+48+120)*3600 || r.Blocked[1].BlockedSeconds != 4*3600 {
		t.Errorf("blocked %+v", r.Blocked)
	}
	if len(r.Slowest) != 4 || r.Slowest[0].RootCause != "toolchain bump" || r.Slowest[0].PreventionAdded != "guard against toolchain bump" {
		t.Errorf("slowest %+v", r.Slowest)
	}
	if len(r.Recurring) != 1 || r.Recurring[0] != (Recurring{SKU: "build-1", Type: "test_failure", Recurrences: 2}) {
		t.Errorf("recurring %+v", r.Recurring)
	}
	if len(r.Trend) != 30 || r.Trend[2].Opened != 1 || r.Trend[2].Resolved != 1 || r.Trend[2].MTTRSeconds != 3*3600 || r.Trend[7].MTTRSeconds != 48*3600 {
		t.Errorf("trend %+v", r.Trend[:8])
	}
	if _, err := Build(all, Options{From: start, To: start}, now); err == nil {
		t.Error("an empty period is accepted")
	}
}

func TestReportDrawsInHeadlessChromium(t *testing.T) {
	all, now := history(t)
	r, err := Build(all, Options{From: start, To: start.Add(30 * 24 * time.Hour)}, now)
	if err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Opened != r.Opened {
		t.Fatalf("JSON round trip: %v", err)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "kaizen.html")
	var html bytes.Buffer
	if err := WriteHTML(&html, r); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(html.Bytes(), []byte("<script src")) {
		t.Error("the page loads scripts: it must be self-contained")
	}
	for _, want := range []string{"toolchain bump", "guard against toolchain bump", "40.0% (2)", "2d0h"} {
		if !bytes.Contains(html.Bytes(), []byte(want)) {
			t.Errorf("page lacks %q", want)
		}
	}
	if err := os.WriteFile(page, html.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := chromium.DumpDOM(t, page, "test-kaizen-report")
	m := regexp.MustCompile(`drawn charts=(\d+) bars=(\d+) points=(\d+)`).FindSubmatch(dom)
	if m == nil {
		t.Fatalf("the page did not report drawing: %s", regexp.MustCompile(`(?s)<pre id="kaizen-status">.*?</pre>`).Find(dom))
	}
	charts, _ := strconv.Atoi(string(m[1]))
	bars, _ := strconv.Atoi(string(m[2]))
	points, _ := strconv.Atoi(string(m[3]))
	// bars: 4 types × 2 + 3 stages × 2 + 2 skus + 1 recurring pair; points: 30 buckets × (1 + 2)
	if charts != 6 || bars != 17 || points != 90 {
		t.Errorf("drew %d charts, %d bars, %d points; want 6, 17, 90", charts, bars, points)
	}
}
