package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andon-sre/andon/kaizen"
)

func TestReportWritesHTMLAndJSON(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "andon.db")
	initLedger(t, db)
	if code := runLedgerCLI(t, "trigger", "--db", db, "--type", "test_failure", "--sku", "build-1", "--stage", "testing"); code != 0 {
		t.Fatalf("trigger: exit %d", code)
	}
	out := filepath.Join(dir, "out")
	code, stdout := runLedgerCLIOut(t, "report", "--db", db, "--out-dir", out)
	if code != 0 || !strings.Contains(stdout, "1 andon(s) opened") {
		t.Fatalf("report: exit %d, printed %q", code, stdout)
	}
	var r kaizen.Report
	b, err := os.ReadFile(filepath.Join(out, kaizenJSON))
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	if err != nil || r.Opened != 1 || len(r.Trend) != 30 || r.ByStage[0].Key != "testing" {
		t.Fatalf("report JSON: %v %+v", err, r)
	}
	if html, err := os.ReadFile(filepath.Join(out, kaizenHTML)); err != nil || !strings.Contains(string(html), `id="kaizen-status"`) {
		t.Fatalf("report HTML: %v", err)
	}
	for _, args := range [][]string{{"--from", "June"}, {"--from", "2026-07-01", "--to", "2026-06-01"}, {"--db", filepath.Join(dir, "missing.db")}} {
		if code := runLedgerCLI(t, append([]string{"report", "--db", db, "--out-dir", out}, args...)...); code != 2 {
			t.Errorf("report %v: exit %d, want 2", args, code)
		}
	}
}
