package cireport

import (
	"bytes"
	"fmt"
	"testing"
)

// A large CI run: 200 packages × 50 tests, one failure in ten, as go test -json
// and as the JUnit file gotestsum writes for it.
func largeReports() (goTest, junit []byte) {
	var g, j bytes.Buffer
	j.WriteString("<testsuites>\n")
	for p := range 200 {
		pkg := fmt.Sprintf("example.com/m/p%03d", p)
		fmt.Fprintf(&j, "<testsuite name=%q tests=\"50\">\n", pkg)
		for i := range 50 {
			name := fmt.Sprintf("Test%03d", i)
			fmt.Fprintf(&g, `{"Action":"run","Package":%q,"Test":%q}`+"\n", pkg, name)
			fmt.Fprintf(&g, `{"Action":"output","Package":%q,"Test":%q,"Output":"=== RUN   %s\n"}`+"\n", pkg, name, name)
			if i%10 == 0 {
				fmt.Fprintf(&g, `{"Action":"output","Package":%q,"Test":%q,"Output":"    x_test.go:%d: got 1, want 2\n"}`+"\n", pkg, name, i)
				fmt.Fprintf(&g, `{"Action":"fail","Package":%q,"Test":%q}`+"\n", pkg, name)
				fmt.Fprintf(&j, "<testcase classname=%q name=%q><failure message=\"Failed\">x_test.go:%d: got 1, want 2</failure></testcase>\n", pkg, name, i)
			} else {
				fmt.Fprintf(&g, `{"Action":"pass","Package":%q,"Test":%q}`+"\n", pkg, name)
				fmt.Fprintf(&j, "<testcase classname=%q name=%q/>\n", pkg, name)
			}
		}
		fmt.Fprintf(&g, `{"Action":"fail","Package":%q}`+"\n", pkg)
		j.WriteString("</testsuite>\n")
	}
	j.WriteString("</testsuites>\n")
	return g.Bytes(), j.Bytes()
}

func benchParse(b *testing.B, f Format, in []byte) {
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		rep, err := Parse(f, bytes.NewReader(in), Options{})
		if err != nil || rep.Count() != 1000 {
			b.Fatalf("%v, %d failures", err, rep.Count())
		}
	}
}

func BenchmarkParseGoTest10kTests(b *testing.B) { g, _ := largeReports(); benchParse(b, GoTest, g) }
func BenchmarkParseJUnit10kTests(b *testing.B)  { _, j := largeReports(); benchParse(b, JUnit, j) }
