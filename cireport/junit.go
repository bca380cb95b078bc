package cireport

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/andon-sre/andon/andon"
)

// junitSuite is <testsuite>, and also <testsuites> (its <testsuite>
// children land in Suites). Runners nest suites; all levels are read.
type junitSuite struct {
	Name   string       `xml:"name,attr"`
	File   string       `xml:"file,attr"`
	Cases  []junitCase  `xml:"testcase"`
	Suites []junitSuite `xml:"testsuite"`
}

type junitCase struct {
	Name      string         `xml:"name,attr"`
	Classname string         `xml:"classname,attr"`
	File      string         `xml:"file,attr"`
	Line      string         `xml:"line,attr"` // some runners write it; not always a number
	Failures  []junitProblem `xml:"failure"`
	Errors    []junitProblem `xml:"error"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// parseJUnit reads a JUnit XML report: every <testcase> with a <failure>
// or <error> is a failure. A case whose output says "[build failed]"
// (gotestsum's convention) is a compilation failure.
func parseJUnit(b []byte) (*Report, error) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	var root xml.StartElement
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil, errNotA(JUnit, "no XML element in it")
		}
		if err != nil {
			return nil, errNotA(JUnit, fmt.Sprintf("XML at %s: %v", lineCol(b, dec.InputOffset()), err))
		}
		if se, ok := tok.(xml.StartElement); ok {
			root = se
			break
		}
	}
	if root.Name.Local != "testsuites" && root.Name.Local != "testsuite" {
		return nil, errNotA(JUnit, fmt.Sprintf("root element <%s>, want <testsuites> or <testsuite>", root.Name.Local))
	}
	var s junitSuite
	if err := dec.DecodeElement(&s, &root); err != nil {
		return nil, errNotA(JUnit, fmt.Sprintf("XML at %s: %v", lineCol(b, dec.InputOffset()), err))
	}
	rep := &Report{Format: JUnit}
	byType := map[andon.FailureType][]Failure{}
	var walk func(s junitSuite)
	walk = func(s junitSuite) {
		for _, c := range s.Cases {
			rep.Tests++
			problems := append(c.Failures, c.Errors...)
			if len(problems) == 0 {
				continue
			}
			f := Failure{Suite: cmp.Or(c.Classname, s.Name), Name: c.Name, File: cmp.Or(c.File, s.File), Message: junitMessage(problems)}
			f.Line, _ = strconv.Atoi(c.Line)
			locate(&f)
			t := andon.TestFailure
			if strings.Contains(f.Message, "[build failed]") {
				t = andon.CompilationFailure
			}
			byType[t] = append(byType[t], f)
		}
		for _, sub := range s.Suites {
			walk(sub)
		}
	}
	walk(s)
	for _, t := range andon.FailureTypes {
		for _, f := range dropParents(byType[t]) {
			rep.add(t, f)
		}
	}
	return rep, nil
}

// junitMessage keeps what a person needs: the message attribute unless it is
// a generic "Failed", and the body without the runner's RUN/FAIL framing.
func junitMessage(ps []junitProblem) string {
	var parts []string
	for _, p := range ps {
		if m := strings.TrimSpace(p.Message); m != "" && m != "Failed" && !strings.Contains(p.Text, m) {
			parts = append(parts, m)
		}
		for _, l := range strings.Split(p.Text, "\n") {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- FAIL") {
				continue
			}
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "\n")
}
