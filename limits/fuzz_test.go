package limits

import (
	"strings"
	"testing"
)

// FuzzParse: no input panics Parse, and every error carries a position in the file.
// The seed corpus is in testdata/fuzz/FuzzParse (go test runs it); f.Add adds the examples.
func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte(base + "slo: {objective: 99.99966%, signal: errs}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, ds, err := Parse("fuzz.yaml", data)
		if err != nil && spec != nil {
			t.Fatalf("an error and a spec: %v", err)
		}
		if err == nil && spec == nil {
			t.Fatalf("neither a spec nor an error; diagnostics %v", ds)
		}
		for _, d := range ds.Errors() {
			if d.Pos.Line < 1 || d.Pos.Col < 1 {
				t.Fatalf("error without a position: %q", d)
			}
			if !strings.HasPrefix(d.String(), "fuzz.yaml:") {
				t.Fatalf("error without the file name: %q", d)
			}
		}
	})
}
