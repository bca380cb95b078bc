// Package cireport reads the reports CI already writes — JUnit XML, `go test
// -json` output, SARIF — and turns their failures into andon trigger
// requests: one andon per failure type found in a report (a failed build, a
// failed test run, a set of findings), with the failing cases in its details.
// Tolerant of what producers add (unknown elements and fields are ignored),
// strict about what it needs (a report it cannot read is an error, never "no failures").
package cireport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/andon-sre/andon/andon"
)

// Format names a report format.
type Format string

// The formats Parse reads.
const (
	JUnit  Format = "junit"
	GoTest Format = "go-test"
	SARIF  Format = "sarif"
)

// Bounds on what is read and what goes into an andon's details.
const (
	MaxReportBytes = 64 << 20 // a larger report is refused, not truncated
	maxListed      = 20       // failures listed one by one in details
	maxMessage     = 400      // bytes of a failure's message kept
)

// Failure is one failing test case, failed build or finding.
type Failure struct {
	Suite   string `json:"suite,omitempty"` // package, suite, class or tool
	Name    string `json:"name"`            // test case, rule id or package
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message,omitempty"` // bounded to maxMessage bytes
}

// String is the one-line form used in details: "suite name at file:line: message".
func (f Failure) String() string {
	var b strings.Builder
	if f.Suite != "" && f.Suite != f.Name {
		b.WriteString(f.Suite + " ")
	}
	b.WriteString(f.Name)
	if f.File != "" {
		b.WriteString(" at " + f.File)
		if f.Line > 0 {
			b.WriteString(":" + strconv.Itoa(f.Line))
		}
	}
	if f.Message != "" {
		b.WriteString(": " + strings.ReplaceAll(f.Message, "\n", " | "))
	}
	return b.String()
}

// Report is what a parser found.
type Report struct {
	Format Format
	Tools  []string // SARIF tool names, in order of appearance
	Tests  int      // test cases run (JUnit, go test); 0 for SARIF
	// Failures by the failure type they stop the line for.
	Failures map[andon.FailureType][]Failure
}

func (r *Report) add(t andon.FailureType, f Failure) {
	if r.Failures == nil {
		r.Failures = map[andon.FailureType][]Failure{}
	}
	f.Message = bound(f.Message)
	r.Failures[t] = append(r.Failures[t], f)
}

// Count is the number of failures of every type.
func (r *Report) Count() int {
	n := 0
	for _, fs := range r.Failures {
		n += len(fs)
	}
	return n
}

// Options tune parsing.
type Options struct {
	// MinLevel is the lowest SARIF level that stops the line: error,
	// warning (default) or note.
	MinLevel string
}

// Parse reads one report of format f from r.
func Parse(f Format, r io.Reader, o Options) (*Report, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxReportBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxReportBytes {
		return nil, fmt.Errorf("report larger than %d MiB: split it (one file per suite or per tool)", MaxReportBytes>>20)
	}
	switch f {
	case JUnit:
		return parseJUnit(b)
	case GoTest:
		return parseGoTest(b)
	case SARIF:
		return parseSARIF(b, o)
	}
	return nil, fmt.Errorf("unknown report format %q: use junit, go-test or sarif", f)
}

// TriggerOptions say what the andons opened from a report block and where.
type TriggerOptions struct {
	SKU    string
	Stage  string            // default: the stage the failure type belongs to
	Type   andon.FailureType // when set, every failure opens one andon of this type
	Source string            // the report's file name, recorded in details
	Extra  map[string]any    // more details (CLI --detail); they win over the report's
}

// defaultStage is where each failure type is found in a pipeline.
var defaultStage = map[andon.FailureType]string{
	andon.CompilationFailure: andon.StageCompilation,
	andon.TestFailure:        andon.StageTesting,
	andon.SHACLViolation:     andon.StageValidation,
}

// Triggers turns a report into trigger requests, one per failure type, in
// the order of andon.FailureTypes. Each carries an origin
// (ci/<format>/<sku>/<type>), so re-running the same CI step while its
// andon is open does not open a second one. No failures: no triggers.
func Triggers(rep *Report, o TriggerOptions) []andon.Trigger {
	groups := rep.Failures
	if o.Type != "" && rep.Count() > 0 {
		var all []Failure
		for _, t := range andon.FailureTypes {
			all = append(all, groups[t]...)
		}
		groups = map[andon.FailureType][]Failure{o.Type: all}
	}
	var out []andon.Trigger
	for _, t := range andon.FailureTypes {
		fs := groups[t]
		if len(fs) == 0 {
			continue
		}
		stage := o.Stage
		if stage == "" {
			stage = defaultStage[t]
		}
		out = append(out, andon.Trigger{
			Type: t, SKU: o.SKU, Stage: stage,
			Origin:  "ci/" + string(rep.Format) + "/" + o.SKU + "/" + string(t),
			Details: details(rep, fs, o),
		})
	}
	return out
}

// details name the failures: "failed_cases" (names, comma-separated) and
// "failed", the first maxListed as objects (suite, name, file, line, column,
// message); "failures_not_listed" counts the rest.
func details(rep *Report, fs []Failure, o TriggerOptions) map[string]any {
	d := map[string]any{"report": string(rep.Format), "failures": len(fs)}
	if o.Source != "" {
		d["source"] = o.Source
	}
	if len(rep.Tools) > 0 {
		d["tool"] = strings.Join(rep.Tools, ", ")
	}
	if rep.Tests > 0 {
		d["tests"] = rep.Tests
	}
	listed := fs[:min(len(fs), maxListed)]
	names := make([]string, len(listed))
	for i, f := range listed {
		names[i] = f.Name
	}
	d["failed"] = listed
	d["failed_cases"] = strings.Join(names, ", ")
	if len(fs) > maxListed {
		d["failures_not_listed"] = len(fs) - maxListed
	}
	for k, v := range o.Extra {
		d[k] = v
	}
	return d
}

// bound keeps at most maxMessage bytes of s, cut at a rune boundary.
func bound(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// position finds the first "file.ext:line[:col]" in compiler or test output.
var position = regexp.MustCompile(`([A-Za-z0-9_./\\-]+\.[A-Za-z0-9]+):(\d+)(?::(\d+))?`)

// locate fills File/Line/Column from the message when the report gave none.
func locate(f *Failure) {
	if f.File != "" {
		return
	}
	m := position.FindStringSubmatch(f.Message)
	if m == nil {
		return
	}
	f.File = m[1]
	f.Line, _ = strconv.Atoi(m[2])
	f.Column, _ = strconv.Atoi(m[3])
	f.Message = strings.TrimPrefix(f.Message, m[0]+": ") // said once, in File and Line
}

// dropParents removes a failed test whose subtest ("parent/child") also failed
// in the same suite: Go reports both, and the child says what broke.
func dropParents(fs []Failure) []Failure {
	return slices.DeleteFunc(fs, func(p Failure) bool {
		return slices.ContainsFunc(fs, func(c Failure) bool {
			return c.Suite == p.Suite && strings.HasPrefix(c.Name, p.Name+"/")
		})
	})
}

// errNotA says the input is not the expected format and how to produce it.
func errNotA(f Format, why string) error {
	hint := map[Format]string{
		JUnit:  "pass the JUnit XML file your test runner writes (e.g. gotestsum --junitfile, pytest --junitxml, surefire-reports/*.xml)",
		GoTest: "pass the output of 'go test -json ./...'",
		SARIF:  "pass a SARIF 2.1.0 log (e.g. staticcheck -f sarif, golangci-lint --output.sarif.path)",
	}[f]
	return fmt.Errorf("%w: not a %s report: %s: %s", errFormat, f, why, hint)
}

var errFormat = errors.New("unreadable report")

// lineCol turns a byte offset of b into "line:col" for error messages.
func lineCol(b []byte, off int64) string {
	if off < 0 || off > int64(len(b)) {
		return "?"
	}
	before := b[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("%d:%d", line, col)
}
