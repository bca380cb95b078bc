package cireport

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// fuzzParse checks every parser on outside input: no panic, and what it
// accepts turns into triggers whose details are bounded.
func fuzzParse(f *testing.F, format Format, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := Parse(format, bytes.NewReader(b), Options{})
		if err != nil {
			return
		}
		for _, tr := range Triggers(rep, TriggerOptions{SKU: "fuzz"}) {
			listed, _ := tr.Details["failed"].([]Failure)
			if tr.Type == "" || tr.Stage == "" || tr.Details["failures"] == nil || len(listed) == 0 || len(listed) > maxListed {
				t.Fatalf("incomplete trigger %+v", tr)
			}
			for _, f := range listed {
				if len(f.Message) > maxMessage+len("…") || (utf8.ValidString(string(b)) && !utf8.ValidString(f.Message)) {
					t.Fatalf("message unbounded or cut inside a rune: %d bytes", len(f.Message))
				}
			}
		}
	})
}

func FuzzJUnit(f *testing.F) {
	fuzzParse(f, JUnit,
		`<testsuites><testsuite name="p"><testcase classname="p" name="TestA"><failure message="Failed">a_test.go:3: boom</failure></testcase></testsuite></testsuites>`,
		`<testsuite name="s"><testsuite><testcase name="x" line="x"><error/></testcase></testsuite></testsuite>`)
}

func FuzzGoTest(f *testing.F) {
	fuzzParse(f, GoTest,
		`{"Action":"run","Package":"p","Test":"TestA"}`+"\n"+`{"Action":"output","Package":"p","Test":"TestA","Output":"a_test.go:3: boom\n"}`+"\n"+`{"Action":"fail","Package":"p","Test":"TestA"}`,
		`{"ImportPath":"p","Action":"build-output","Output":"p.go:1:2: bad\n"}`+"\n"+`{"Action":"fail","Package":"p","FailedBuild":"p"}`)
}

func FuzzSARIF(f *testing.F) {
	fuzzParse(f, SARIF,
		`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"t"}},"results":[{"ruleId":"r","level":"error","message":{"text":"m"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"f.go"},"region":{"startLine":2}}}]}]}]}`,
		`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"SHACL"}},"results":[{"message":{"text":"# p\nx.go:1:1: y"}}]}]}`)
}
