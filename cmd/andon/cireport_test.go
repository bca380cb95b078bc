package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andon-sre/andon/andon"
	"github.com/andon-sre/andon/cireport/cireporttest"
)

// TestTriggerFromCIReports feeds 'andon trigger --from-*' the reports real
// tools wrote (gotestsum's JUnit, go test -json, staticcheck's SARIF) and
// reads back what the ledger recorded.
func TestTriggerFromCIReports(t *testing.T) {
	r := cireporttest.Produce(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "andon.db")
	initLedger(t, db)

	code, out := runLedgerCLIOut(t, "trigger", "--db", db, "--sku", "build-7", "--from-junit", r.JUnitFile, "--detail", "commit=abc123", "-o", "json")
	var opened []andon.Andon
	if err := json.Unmarshal([]byte(out), &opened); code != 0 || err != nil || len(opened) != 1 {
		t.Fatalf("--from-junit: exit %d, %v, printed %s", code, err, out)
	}
	code, out = runLedgerCLIOut(t, "show", opened[0].ID, "--db", db, "-o", "json")
	var shown struct{ Andon andon.Andon }
	if err := json.Unmarshal([]byte(out), &shown); code != 0 || err != nil {
		t.Fatalf("show: exit %d, %v", code, err)
	}
	a := shown.Andon
	if a.Type != andon.TestFailure || a.Stage != "testing" || a.SKU != "build-7" || a.Details["failures"] != 2.0 || a.Details["commit"] != "abc123" {
		t.Errorf("andon from JUnit: %+v", a)
	}
	// details are JSON: the failing cases as objects with their location and message
	failed, _ := a.Details["failed"].([]any)
	if a.Details["failed_cases"] != "TestSum, TestDiv" || len(failed) != 2 {
		t.Fatalf("details do not name both cases: %v", a.Details)
	}
	for i, want := range []string{"TestSum", "TestDiv"} {
		f, _ := failed[i].(map[string]any)
		if f["name"] != want || f["file"] != "app_test.go" || f["line"] == nil || f["message"] == "" {
			t.Errorf("failed[%d] = %v, want %s with file, line and message", i, f, want)
		}
	}

	code, out = runLedgerCLIOut(t, "trigger", "--db", db, "--sku", "build-7", "--from-junit", r.JUnitFile)
	if code != 0 || !strings.Contains(out, opened[0].ID) || !strings.Contains(out, "already open") {
		t.Errorf("the same report again: exit %d, printed %q; want the open andon, not a second", code, out)
	}

	code, out = runLedgerCLIOut(t, "trigger", "--db", db, "--sku", "build-7", "--from-sarif", r.SARIFFile)
	if code != 0 || !strings.Contains(out, "compilation_failure at stage compilation") || !strings.Contains(out, "SA5009") {
		t.Errorf("--from-sarif: exit %d, printed %q", code, out)
	}

	goTest := filepath.Join(dir, "go-test.json")
	if err := os.WriteFile(goTest, r.GoTestJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out = runLedgerCLIOut(t, "trigger", "--db", db, "--sku", "build-8", "--from-go-test", goTest)
	if code != 0 || strings.Count(out, " opened ") != 2 || !strings.Contains(out, "TestTable/negative") {
		t.Errorf("--from-go-test: exit %d, printed %q; want a test_failure and a compilation_failure andon", code, out)
	}
	if code := runLedgerCLI(t, "gate", "--db", db, "--sku", "build-8", "--stage", "deployment"); code != 1 {
		t.Errorf("gate after CI failures: exit %d, want 1", code)
	}

	// Refusals: nothing is opened, and the exit code says why.
	notJUnit := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notJUnit, []byte("all good\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"an unreadable report is no answer", []string{"--from-junit", notJUnit}, 2},
		{"a missing report is no answer", []string{"--from-sarif", filepath.Join(dir, "nope.sarif")}, 2},
		{"two reports at once are a usage error", []string{"--from-junit", r.JUnitFile, "--from-sarif", r.SARIFFile}, 2},
		{"an unknown --type override is refused", []string{"--from-sarif", r.SARIFFile, "--type", "lint"}, 1},
		{"neither --type nor a report is a usage error", nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code := runLedgerCLI(t, append([]string{"trigger", "--db", db, "--sku", "build-9"}, tc.args...)...); code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
		})
	}
	if code := runLedgerCLI(t, "gate", "--db", db, "--sku", "build-9"); code != 0 {
		t.Errorf("a refused trigger opened an andon: gate exit %d", code)
	}
}

// The rule: an empty or unknown stage is refused (exit 1) naming the list; the
// gate blocks the andon's stage and every later one, and every stage with --block-all-stages.
func TestStagesAreValidatedAndOrdered(t *testing.T) {
	db := filepath.Join(t.TempDir(), "andon.db")
	initLedger(t, db)
	for _, stage := range []string{"", "test", "Testing"} {
		code, _ := runLedgerCLIOut(t, "trigger", "--db", db, "--type", "test_failure", "--sku", "Z", "--stage", stage)
		if code != 1 {
			t.Errorf("--stage %q: exit %d, want 1", stage, code)
		}
	}
	if code := runLedgerCLI(t, "trigger", "--db", db, "--type", "test_failure", "--sku", "Z", "--stage", "testing"); code != 0 {
		t.Fatalf("--stage testing: exit %d", code)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--stage", "compilation"}, 0},                       // before the failure: the fix can be built
		{[]string{"--stage", "testing"}, 1},                           // its own stage
		{[]string{"--stage", "deployment"}, 1},                        // every later one
		{[]string{"--stage", "compilation", "--block-all-stages"}, 1}, // configured to stop the whole line
		{nil, 1},                         // no stage asked: any open andon blocks
		{[]string{"--stage", "prod"}, 2}, // unknown: no answer, never proceed
		{[]string{"--stage", "build", "--stages", "build,test"}, 1}, // recorded under another list: blocks every stage
	} {
		if code := runLedgerCLI(t, append([]string{"gate", "--db", db, "--sku", "Z"}, tc.args...)...); code != tc.code {
			t.Errorf("gate %v: exit %d, want %d", tc.args, code, tc.code)
		}
	}
	if code := runLedgerCLI(t, "trigger", "--db", db, "--type", "test_failure", "--sku", "Z", "--stage", "a", "--stages", "a,a"); code != 2 {
		t.Errorf("a stage list with a repeat: exit %d, want 2", code)
	}
}

func TestTriggerRichContext(t *testing.T) {
	db := filepath.Join(t.TempDir(), "andon.db")
	initLedger(t, db)
	code, out := runLedgerCLIOut(t, "trigger", "--db", db, "--type", "shacl_violation", "--sku", "data", "--stage", "validation", "-o", "json",
		"--detail", "expected=1", "--detail-json", "got=2", "--detail-json", `report={"violations":[{"path":"ex:name","count":3}]}`,
		"--build-id", "4711", "--commit", "abc123", "--pipeline-url", "https://ci.example/p/4711", "--meta", "runner=linux-2")
	var a andon.Andon
	if err := json.Unmarshal([]byte(out), &a); code != 0 || err != nil {
		t.Fatalf("trigger: exit %d, %v, %s", code, err, out)
	}
	report, _ := a.Details["report"].(map[string]any)
	if a.Details["expected"] != "1" || a.Details["got"] != 2.0 || report == nil || a.Metadata == nil ||
		a.Metadata.BuildID != "4711" || a.Metadata.PipelineURL != "https://ci.example/p/4711" || a.Metadata.Extra["runner"] != "linux-2" {
		t.Errorf("andon: %+v %+v", a.Details, a.Metadata)
	}
	for _, args := range [][]string{{"--detail-json", "x=word"}, {"--pipeline-url", "ci/4711"}, {"--meta", "novalue"}} {
		if code := runLedgerCLI(t, append([]string{"trigger", "--db", db, "--type", "test_failure", "--sku", "b", "--stage", "testing"}, args...)...); code != 1 {
			t.Errorf("%v: exit %d, want 1", args, code)
		}
	}
}
