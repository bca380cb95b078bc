package cireport

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/andon-sre/andon/andon"
)

// testEvent is one line of `go test -json` (cmd/test2json), including the
// build events Go 1.24 added (build-output, build-fail, FailedBuild).
type testEvent struct {
	Action      string
	Package     string
	Test        string
	Output      string
	ImportPath  string
	FailedBuild string
}

// maxOutputLines bounds the output kept per test or package.
const maxOutputLines = 40

// parseGoTest reads `go test -json` output. A failed test is a test
// failure; a package whose build failed is a compilation failure (one per
// compiler error); a package that failed without a failing test (panic in
// init, TestMain, timeout) is a test failure named after the package.
// Lines that are not JSON (stderr mixed in) are skipped; a stream with no
// event at all is an error.
func parseGoTest(b []byte) (*Report, error) {
	rep := &Report{Format: GoTest}
	type key struct{ pkg, test string }
	output := map[key][]string{}
	build := map[string][]string{}
	var failedTests []key
	failedPkgTests := map[string]bool{}
	type pkgFail struct{ pkg, build string }
	var failedPkgs []pkgFail
	events, lineNo, firstBad := 0, 0, 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), MaxReportBytes)
	for sc.Scan() {
		lineNo++
		line := bytes.TrimSpace(sc.Bytes())
		var ev testEvent
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil || ev.Action == "" {
			if firstBad == 0 && len(line) > 0 {
				firstBad = lineNo
			}
			continue
		}
		events++
		switch ev.Action {
		case "build-output":
			build[ev.ImportPath] = appendBounded(build[ev.ImportPath], ev.Output)
		case "output":
			k := key{ev.Package, ev.Test}
			output[k] = appendBounded(output[k], ev.Output)
		case "run":
			if ev.Test != "" {
				rep.Tests++
			}
		case "fail":
			if ev.Test != "" {
				failedTests = append(failedTests, key{ev.Package, ev.Test})
				failedPkgTests[ev.Package] = true
			} else {
				failedPkgs = append(failedPkgs, pkgFail{ev.Package, ev.FailedBuild})
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, errNotA(GoTest, fmt.Sprintf("line %d: %v", lineNo+1, err))
	}
	if events == 0 {
		why := "it is empty"
		if firstBad > 0 {
			why = fmt.Sprintf("no test2json event in it (line %d is not one)", firstBad)
		}
		return nil, errNotA(GoTest, why)
	}
	var tests []Failure
	for _, k := range failedTests {
		f := Failure{Suite: k.pkg, Name: k.test, Message: testMessage(output[k])}
		locate(&f)
		tests = append(tests, f)
	}
	// Packages run in parallel and interleave: order by package for
	// deterministic details, keeping each package's order of failure.
	slices.SortStableFunc(tests, func(a, b Failure) int { return strings.Compare(a.Suite, b.Suite) })
	for _, f := range dropParents(tests) {
		rep.add(andon.TestFailure, f)
	}
	slices.SortStableFunc(failedPkgs, func(a, b pkgFail) int { return strings.Compare(a.pkg, b.pkg) })
	for _, p := range failedPkgs {
		switch {
		case p.build != "":
			compileErrors(rep, p.pkg, build[p.build])
		case !failedPkgTests[p.pkg]:
			f := Failure{Suite: p.pkg, Name: p.pkg, Message: testMessage(output[key{p.pkg, ""}])}
			locate(&f)
			rep.add(andon.TestFailure, f)
		}
	}
	return rep, nil
}

// compileErrors adds one compilation failure per "file:line:col: message"
// line of a failed build, or one for the package when none parses.
func compileErrors(rep *Report, pkg string, lines []string) {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "#") {
			continue
		}
		f := Failure{Suite: pkg, Name: pkg, Message: l}
		locate(&f)
		if f.File == "" {
			continue
		}
		if _, msg, ok := strings.Cut(l, ": "); ok {
			f.Message = msg
		}
		rep.add(andon.CompilationFailure, f)
		n++
	}
	if n == 0 {
		rep.add(andon.CompilationFailure, Failure{Suite: pkg, Name: pkg, Message: strings.Join(lines, "\n")})
	}
}

// testMessage keeps a test's own lines, without go test's framing.
func testMessage(lines []string) string {
	var keep []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || t == "FAIL" || t == "PASS" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") ||
			strings.HasPrefix(t, "FAIL\t") || strings.HasPrefix(t, "ok  \t") {
			continue
		}
		keep = append(keep, t)
	}
	return strings.Join(keep, "\n")
}

// appendBounded keeps the last maxOutputLines lines (the end of a panic is
// as telling as its start, but the first lines of a test say what failed:
// the first half is kept and the rest rolls).
func appendBounded(ls []string, s string) []string {
	s = strings.TrimRight(s, "\n")
	if len(ls) < maxOutputLines {
		return append(ls, s)
	}
	half := maxOutputLines / 2
	copy(ls[half:], ls[half+1:])
	ls[len(ls)-1] = s
	return ls
}
