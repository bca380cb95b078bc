package cireport

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseRefusesWhatItCannotRead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format Format
		in     string
		want   string
	}{
		{"an empty JUnit file is no report", JUnit, "", "no XML element"},
		{"HTML is not JUnit", JUnit, "<html><body/></html>", "root element <html>"},
		{"broken XML says where", JUnit, "<testsuites>\n<testsuite name='a'>\n<testcase name='x'></testsuite>", "XML at 3:"},
		{"an empty go test stream is no report", GoTest, "", "it is empty"},
		{"plain go test output is not -json", GoTest, "--- FAIL: TestX (0.00s)\nFAIL\n", "line 1 is not one"},
		{"JSON without runs is not SARIF", SARIF, `{"version":"2.1.0"}`, `no "runs" array`},
		{"SARIF 1.0 is refused", SARIF, `{"version":"1.0.0","runs":[]}`, `version "1.0.0"`},
		{"broken SARIF JSON says where", SARIF, "{\"version\":\"2.1.0\",\n\"runs\":[}", "JSON at 2:"},
		{"a SARIF run of the wrong type says where", SARIF, `{"version":"2.1.0","runs":{}}`, "at 1:"},
		{"an unknown format is refused", "tap", "ok 1", `unknown report format "tap"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.format, strings.NewReader(tc.in), Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if tc.format != "tap" && !errors.Is(err, errFormat) {
				t.Errorf("error %v is not errFormat", err)
			}
		})
	}
	if _, err := Parse(SARIF, strings.NewReader(`{"version":"2.1.0","runs":[]}`), Options{MinLevel: "none"}); err == nil || !strings.Contains(err.Error(), "use error, warning or note") {
		t.Errorf("MinLevel none: %v", err)
	}
}

func TestParseToleratesWhatProducersAdd(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format Format
		in     string
		opts   Options
		want   map[string][]string // failure type → failure strings (substring match)
	}{
		{"a bare <testsuite> root with <error>, nested suites and unknown elements", JUnit,
			`<?xml version="1.0"?><testsuite name="outer"><properties/><testsuite name="inner" file="spec/a.rb">
			<testcase name="works"/><testcase classname="A" name="breaks" line="12"><error message="NoMethodError" type="E">undefined method</error></testcase>
			<testcase name="skipped"><skipped/></testcase><system-out>noise</system-out></testsuite></testsuite>`, Options{},
			map[string][]string{"test_failure": {"A breaks at spec/a.rb:12: NoMethodError | undefined method"}}},
		{"gotestsum's build failure is a compilation failure", JUnit,
			`<testsuites><testsuite name="p"><testcase name="TestMain"><failure message="Failed">FAIL	p [build failed]</failure></testcase></testsuite></testsuites>`, Options{},
			map[string][]string{"compilation_failure": {"TestMain: FAIL	p [build failed]"}}},
		{"stderr mixed into go test -json is skipped; a package panic without failing test is named", GoTest,
			"go: downloading x\n" +
				`{"Action":"start","Package":"p"}` + "\n" +
				`{"Action":"output","Package":"p","Output":"panic: boom\n"}` + "\n" +
				`{"Action":"output","Package":"p","Output":"FAIL\tp\t0.01s\n"}` + "\n" +
				`{"Action":"fail","Package":"p"}` + "\n", Options{},
			map[string][]string{"test_failure": {"p: panic: boom"}}},
		{"suppressed, absent, passing and note-level SARIF results do not count; SHACL tools are shacl_violation", SARIF,
			`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"pySHACL","rules":[{"id":"r","defaultConfiguration":{"level":"note"}}]}},"results":[
			{"ruleId":"sh:MinCountConstraintComponent","level":"error","message":{"text":"ex:alice lacks ex:name"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"data.ttl"},"region":{"startLine":4}}}]},
			{"ruleId":"x","level":"error","message":{"text":"waived"},"suppressions":[{"kind":"external"}]},
			{"ruleId":"x","level":"error","baselineState":"absent","message":{"text":"fixed"}},
			{"ruleId":"x","level":"error","kind":"pass","message":{"text":"ok"}},
			{"ruleId":"r","message":{"text":"only a note"}}]}]}`, Options{},
			map[string][]string{"shacl_violation": {"pySHACL sh:MinCountConstraintComponent at data.ttl:4: ex:alice lacks ex:name"}}},
		{"note level counts when asked", SARIF,
			`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"lint"}},"results":[{"rule":{"id":"n"},"level":"note","message":{"text":"hm"}}]}]}`, Options{MinLevel: "note"},
			map[string][]string{"compilation_failure": {"lint n: hm"}}},
		{"a clean SARIF log has no failures", SARIF, `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"lint"}},"results":[]}]}`, Options{}, map[string][]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Parse(tc.format, strings.NewReader(tc.in), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for ft, fs := range rep.Failures {
				for _, f := range fs {
					got[string(ft)] = append(got[string(ft)], f.String())
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for ft, want := range tc.want {
				if len(got[ft]) != len(want) {
					t.Fatalf("%s: got %q, want %q", ft, got[ft], want)
				}
				for i := range want {
					if !strings.Contains(got[ft][i], want[i]) {
						t.Errorf("%s[%d] = %q, want it to contain %q", ft, i, got[ft][i], want[i])
					}
				}
			}
		})
	}
}

func TestTriggersBoundDetails(t *testing.T) {
	rep := &Report{Format: JUnit, Tests: 30}
	for i := range 25 {
		rep.add("test_failure", Failure{Suite: "s", Name: "T" + string(rune('a'+i)), Message: strings.Repeat("é", 1000)})
	}
	trs := Triggers(rep, TriggerOptions{SKU: "b", Extra: map[string]any{"commit": "abc", "report": "mine"}})
	if len(trs) != 1 {
		t.Fatalf("%d triggers", len(trs))
	}
	d := trs[0].Details
	listed, _ := d["failed"].([]Failure)
	if d["failures"] != 25 || d["failures_not_listed"] != 5 || len(listed) != maxListed || d["commit"] != "abc" || d["report"] != "mine" {
		t.Errorf("details: %v", d)
	}
	if m := listed[0].Message; len(m) > maxMessage+3 || !strings.HasSuffix(m, "…") || !strings.Contains(m, "é") {
		t.Errorf("message not bounded at a rune boundary: %d bytes %q", len(m), m[len(m)-10:])
	}
	if trs[0].Origin != "ci/junit/b/test_failure" {
		t.Errorf("origin %q", trs[0].Origin)
	}
	if got := Triggers(&Report{Format: SARIF}, TriggerOptions{SKU: "b", Type: "shacl_violation"}); len(got) != 0 {
		t.Errorf("a report without failures opens nothing, even with a type override: %+v", got)
	}
}

func TestParseRefusesTooLargeReports(t *testing.T) {
	_, err := Parse(GoTest, bytes.NewReader(make([]byte, MaxReportBytes+1)), Options{})
	if err == nil || !strings.Contains(err.Error(), "larger than 64 MiB") {
		t.Fatalf("error %v", err)
	}
}
