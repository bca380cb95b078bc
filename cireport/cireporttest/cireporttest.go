// Package cireporttest produces real CI reports for tests: it lays out a small
// Go module that fails in every way CI reports, and runs the real tools on it
// (go test -json, gotestsum's JUnit, staticcheck's SARIF). Reports are never written by hand.
package cireporttest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/andon-sre/andon/internal/pinned"
)

// throwAway is a small Go module that fails in every way CI reports: two
// failing tests in app, a failing subtest in table, a compile error in
// broken, and lint findings in lint. The reports parsed below are written
// by the real tools running on it, never by hand.
var throwAway = map[string]string{
	"go.mod":              "module example.com/throwaway\n\ngo 1.26\n",
	"app/app.go":          "package app\n\nfunc Sum(a, b int) int { return a + b + 1 }\n",
	"app/app_test.go":     "package app\n\nimport \"testing\"\n\nfunc TestOK(t *testing.T) {}\n\nfunc TestSum(t *testing.T) {\n\tif got := Sum(1, 2); got != 3 {\n\t\tt.Errorf(\"Sum(1, 2) = %d, want 3\", got)\n\t}\n}\n\nfunc TestDiv(t *testing.T) {\n\tt.Fatal(\"division <by> zero & \\\"quoted\\\"\")\n}\n",
	"table/table_test.go": "package table\n\nimport \"testing\"\n\nfunc TestTable(t *testing.T) {\n\tt.Run(\"negative\", func(t *testing.T) { t.Error(\"negative input accepted\") })\n\tt.Run(\"zero\", func(t *testing.T) {})\n}\n",
	"broken/broken.go":    "package broken\n\nfunc G() int { return \"s\" }\n",
	"lint/lint.go":        "package lint\n\nimport \"fmt\"\n\nfunc F() {\n\tfmt.Printf(\"%d\\n\", \"x\")\n}\n",
}

// CI tools are built by `make test-cireport` (mk/cireport.mk); plain `go test`
// skips without them unless ANDON_REQUIRE_CI_TOOLS is set.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := pinned.Path(name)
	if err != nil {
		if os.Getenv("ANDON_REQUIRE_CI_TOOLS") != "" {
			t.Fatalf("ANDON_REQUIRE_CI_TOOLS is set: %v (make cireport-tools)", err)
		}
		t.Skipf("%v: run `make test-cireport`", err)
	}
	return p
}

// writeThrowAway lays the module out in a fresh directory.
func writeThrowAway(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range throwAway {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// run runs a tool in dir and returns its stdout; a non-zero exit is expected
// (the module fails on purpose) unless the tool wrote nothing.
func run(t *testing.T, dir string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	// A clean Go environment: the caller's -race, GOWORK or GOFLAGS must not leak in.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-count=1", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.String())
	}
	return out
}

// Reports are the reports the real tools wrote for the throw-away module.
type Reports struct {
	GoTestJSON, JUnit, SARIF []byte
	JUnitFile, SARIFFile     string // the same, as files
}

// Produce runs go test -json, gotestsum --junitfile (app only: exactly
// two failing cases) and staticcheck -f sarif on the throw-away module.
func Produce(t *testing.T) Reports {
	t.Helper()
	gotestsum, staticcheck := requireTool(t, "gotestsum"), requireTool(t, "staticcheck")
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go on PATH")
	}
	dir := writeThrowAway(t)
	var r Reports
	r.GoTestJSON = run(t, dir, gobin, "test", "-json", "./...")
	r.JUnitFile = filepath.Join(dir, "junit.xml")
	run(t, dir, gotestsum, "--junitfile", r.JUnitFile, "--format", "dots", "--", "./app")
	r.SARIF = run(t, dir, staticcheck, "-f", "sarif", "./...")
	r.SARIFFile = filepath.Join(dir, "lint.sarif")
	if err := os.WriteFile(r.SARIFFile, r.SARIF, 0o644); err != nil {
		t.Fatal(err)
	}
	if r.JUnit, err = os.ReadFile(r.JUnitFile); err != nil {
		t.Fatal(err)
	}
	return r
}
