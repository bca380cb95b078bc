package cireport

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/andon-sre/andon/andon"
)

// The parts of a SARIF 2.1.0 log (OASIS) that name a finding and where it is.
type sarifLog struct {
	Version string      `json:"version"`
	Runs    *[]sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool struct {
		Driver struct {
			Name  string      `json:"name"`
			Rules []sarifRule `json:"rules"`
		} `json:"driver"`
	} `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifRule struct {
	ID                   string `json:"id"`
	DefaultConfiguration *struct {
		Level string `json:"level"`
	} `json:"defaultConfiguration"`
}

type sarifResult struct {
	RuleID string `json:"ruleId"`
	Rule   *struct {
		ID string `json:"id"`
	} `json:"rule"`
	Level         string `json:"level"`
	Kind          string `json:"kind"`
	BaselineState string `json:"baselineState"`
	Message       struct {
		Text string `json:"text"`
	} `json:"message"`
	Locations []struct {
		PhysicalLocation *struct {
			ArtifactLocation struct {
				URI string `json:"uri"`
			} `json:"artifactLocation"`
			Region *struct {
				StartLine   int `json:"startLine"`
				StartColumn int `json:"startColumn"`
			} `json:"region"`
		} `json:"physicalLocation"`
	} `json:"locations"`
	Suppressions []struct {
		Status string `json:"status"`
	} `json:"suppressions"`
}

// sarifLevels ranks levels; "none" never stops the line.
var sarifLevels = map[string]int{"none": 0, "note": 1, "warning": 2, "error": 3}

// parseSARIF reads a SARIF log: every result of kind "fail" at or above
// MinLevel that is not suppressed and not absent from the baseline is a
// finding. A run whose tool or rules name SHACL is a shacl_violation; every
// other run (compilers, linters) a compilation_failure.
func parseSARIF(b []byte, o Options) (*Report, error) {
	minLevel := cmp.Or(o.MinLevel, "warning")
	min, ok := sarifLevels[minLevel]
	if !ok || min == 0 {
		return nil, fmt.Errorf("SARIF level %q: use error, warning or note", o.MinLevel)
	}
	var lg sarifLog
	if err := json.Unmarshal(b, &lg); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, errNotA(SARIF, fmt.Sprintf("JSON at %s: %v", lineCol(b, se.Offset), err))
		case errors.As(err, &te):
			return nil, errNotA(SARIF, fmt.Sprintf("at %s (%s): %v", lineCol(b, te.Offset), te.Field, err))
		}
		return nil, errNotA(SARIF, err.Error())
	}
	if lg.Runs == nil {
		return nil, errNotA(SARIF, "no \"runs\" array")
	}
	if !strings.HasPrefix(lg.Version, "2.") {
		return nil, errNotA(SARIF, fmt.Sprintf("version %q, want 2.1.0", lg.Version))
	}
	rep := &Report{Format: SARIF}
	for _, run := range *lg.Runs {
		tool := run.Tool.Driver.Name
		if tool != "" && !slices.Contains(rep.Tools, tool) {
			rep.Tools = append(rep.Tools, tool)
		}
		defaults := map[string]string{}
		for _, r := range run.Tool.Driver.Rules {
			if r.DefaultConfiguration != nil {
				defaults[r.ID] = r.DefaultConfiguration.Level
			}
		}
		t := andon.CompilationFailure
		if isSHACL(tool) {
			t = andon.SHACLViolation
		}
		for _, res := range run.Results {
			rule := res.RuleID
			if rule == "" && res.Rule != nil {
				rule = res.Rule.ID
			}
			level := cmp.Or(res.Level, defaults[rule], "warning")
			if cmp.Or(res.Kind, "fail") != "fail" || sarifLevels[level] < min || suppressed(res) || res.BaselineState == "absent" {
				continue
			}
			f := Failure{Suite: tool, Name: cmp.Or(rule, "finding"), Message: dropHeader(res.Message.Text)}
			if len(res.Locations) > 0 && res.Locations[0].PhysicalLocation != nil {
				pl := res.Locations[0].PhysicalLocation
				f.File = pl.ArtifactLocation.URI
				if pl.Region != nil {
					f.Line, f.Column = pl.Region.StartLine, pl.Region.StartColumn
				}
			}
			if f.File == "" {
				locate(&f) // compile errors name their position in the message
			}
			ft := t
			if isSHACL(rule) {
				ft = andon.SHACLViolation
			}
			rep.add(ft, f)
		}
	}
	return rep, nil
}

// suppressed: a suppression without a status is accepted (SARIF §3.35.3).
func suppressed(r sarifResult) bool {
	for _, s := range r.Suppressions {
		if s.Status == "" || s.Status == "accepted" {
			return true
		}
	}
	return false
}

func isSHACL(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "shacl") || strings.HasPrefix(n, "sh:")
}

// dropHeader removes a leading "# package" line (Go tools' build output).
func dropHeader(s string) string {
	if strings.HasPrefix(s, "# ") {
		if _, rest, ok := strings.Cut(s, "\n"); ok {
			return rest
		}
	}
	return s
}
