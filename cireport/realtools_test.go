package cireport

import (
	"bytes"
	"strings"
	"testing"

	"github.com/andon-sre/andon/cireport/cireporttest"
)

func TestRealToolReports(t *testing.T) {
	r := cireporttest.Produce(t)

	t.Run("gotestsum's JUnit with two failing tests gives one test_failure naming both", func(t *testing.T) {
		rep, err := Parse(JUnit, bytes.NewReader(r.JUnit), Options{})
		if err != nil {
			t.Fatal(err)
		}
		fs := rep.Failures
		if len(fs) != 1 || len(fs["test_failure"]) != 2 || rep.Tests != 3 {
			t.Fatalf("want 2 test failures of 3 tests, got %d tests and %+v", rep.Tests, fs)
		}
		got := fs["test_failure"][0].String() + "\n" + fs["test_failure"][1].String()
		for _, want := range []string{"TestSum", "Sum(1, 2) = 4, want 3", "app_test.go:9", "TestDiv", `division <by> zero & "quoted"`} {
			if !strings.Contains(got, want) {
				t.Errorf("failures lack %q:\n%s", want, got)
			}
		}
		trs := Triggers(rep, TriggerOptions{SKU: "build-7", Source: "junit.xml"})
		if len(trs) != 1 || trs[0].Stage != "testing" || trs[0].Details["failures"] != 2 ||
			trs[0].Details["failed_cases"] != "TestSum, TestDiv" || len(trs[0].Details["failed"].([]Failure)) != 2 {
			t.Errorf("triggers: %+v", trs)
		}
	})

	t.Run("go test -json gives test failures without the subtest's parent, and the build errors apart", func(t *testing.T) {
		rep, err := Parse(GoTest, bytes.NewReader(r.GoTestJSON), Options{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range rep.Failures["test_failure"] {
			names = append(names, f.Name)
		}
		if strings.Join(names, ",") != "TestSum,TestDiv,TestTable/negative" {
			t.Errorf("test failures %v, want TestSum, TestDiv, TestTable/negative (parent TestTable dropped)", names)
		}
		ce := rep.Failures["compilation_failure"]
		// go test vets what it builds: the Printf misuse in lint fails the build too.
		if len(ce) != 2 || ce[0].File != "broken/broken.go" || ce[0].Line != 3 || !strings.Contains(ce[0].Message, "cannot use") ||
			ce[1].File != "lint/lint.go" || !strings.Contains(ce[1].Message, "wrong type") {
			t.Errorf("compilation failures: %+v", ce)
		}
		trs := Triggers(rep, TriggerOptions{SKU: "build-7"})
		if len(trs) != 2 || trs[0].Type != "test_failure" || trs[1].Type != "compilation_failure" || trs[1].Stage != "compilation" {
			t.Errorf("want a test_failure and a compilation_failure andon, got %+v", trs)
		}
	})

	t.Run("staticcheck's SARIF gives its findings and the compile error with file and line", func(t *testing.T) {
		rep, err := Parse(SARIF, bytes.NewReader(r.SARIF), Options{})
		if err != nil {
			t.Fatal(err)
		}
		fs := rep.Failures["compilation_failure"]
		var sa, compile *Failure
		for i := range fs {
			switch fs[i].Name {
			case "SA5009":
				sa = &fs[i]
			case "compile":
				compile = &fs[i]
			}
		}
		if sa == nil || sa.File != "lint/lint.go" || sa.Line != 6 || !strings.Contains(sa.Message, "Printf format %d") {
			t.Errorf("SA5009 finding: %+v in %+v", sa, fs)
		}
		if compile == nil || compile.File != "broken/broken.go" || compile.Line != 3 {
			t.Errorf("compile finding: %+v in %+v", compile, fs)
		}
		if len(rep.Tools) != 1 || rep.Tools[0] != "Staticcheck" {
			t.Errorf("tools %v", rep.Tools)
		}
		trs := Triggers(rep, TriggerOptions{SKU: "build-7", Type: "shacl_violation", Stage: "validation"})
		if len(trs) != 1 || trs[0].Type != "shacl_violation" || trs[0].Details["tool"] != "Staticcheck" {
			t.Errorf("--type override: %+v", trs)
		}
	})
}
