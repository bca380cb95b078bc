package limits

import (
	"fmt"
	"strings"
)

// PosError is an error at a place in the spec file.
type PosError struct {
	Pos Pos
	Msg string
}

func (e *PosError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Pos.Line, e.Pos.Col, e.Msg) }

// Severity tells errors (the spec is unusable) from warnings (usable, but probably not meant).
type Severity string

const (
	SevError   Severity = "error"
	SevWarning Severity = "warning"
)

// Diagnostic is one finding about a spec, with where it is and how to fix it.
type Diagnostic struct {
	File     string
	Pos      Pos
	Severity Severity
	Msg      string
}

func (d Diagnostic) String() string {
	loc := d.File
	if d.Pos.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", d.File, d.Pos.Line, d.Pos.Col)
	}
	return fmt.Sprintf("%s: %s: %s", loc, d.Severity, d.Msg)
}

// Diagnostics are all findings about a spec; as an error they list the errors only.
type Diagnostics []Diagnostic

// Errors returns the diagnostics of severity error.
func (ds Diagnostics) Errors() Diagnostics { return ds.filter(SevError) }

// Warnings returns the diagnostics of severity warning.
func (ds Diagnostics) Warnings() Diagnostics { return ds.filter(SevWarning) }

func (ds Diagnostics) filter(s Severity) Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == s {
			out = append(out, d)
		}
	}
	return out
}

func (ds Diagnostics) Error() string {
	lines := make([]string, 0, len(ds))
	for _, d := range ds {
		lines = append(lines, d.String())
	}
	return strings.Join(lines, "\n")
}

// collector gathers diagnostics for one file.
type collector struct {
	file string
	ds   Diagnostics
}

func (c *collector) errorf(p Pos, format string, args ...any) {
	if p.Line == 0 {
		p = Pos{1, 1} // a default value has no place of its own; every error gets one
	}
	c.ds = append(c.ds, Diagnostic{File: c.file, Pos: p, Severity: SevError, Msg: fmt.Sprintf(format, args...)})
}

func (c *collector) warnf(p Pos, format string, args ...any) {
	c.ds = append(c.ds, Diagnostic{File: c.file, Pos: p, Severity: SevWarning, Msg: fmt.Sprintf(format, args...)})
}

// commaList prints names as "a, b, c" for messages.
func commaList[T ~string](names []T) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = string(n)
	}
	return strings.Join(parts, ", ")
}
