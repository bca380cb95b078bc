// Package bundle writes everything generated from one spec into a directory:
//
//	rules/<svc>.rules.yaml            Prometheus rule file (or rules/<svc>.prometheusrule.yaml)
//	alertmanager/<svc>.yaml           Alertmanager routing snippet
//	tests/<svc>.test.yaml             promtool unit tests of every alert
//	dashboards/<svc>.json             Grafana dashboard
//	dashboards/provider.yaml          Grafana file-provisioning example
package bundle

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/andon-sre/andon/limits"
	"github.com/andon-sre/andon/rulegen"
)

// Format of the rules output.
const (
	FormatRules          = "rules"
	FormatPrometheusRule = "prometheusrule"
)

// Options control what the bundle holds.
type Options struct {
	Format       string
	Alertmanager rulegen.AlertmanagerOptions
}

// File is one output: its path inside the bundle and its bytes.
type File struct {
	Path string
	Data []byte
}

// Part generates extra files of the bundle from the compiled rules (tests, dashboards).
type Part func(res *rulegen.Result) ([]File, error)

// Parts are the generators beyond rules and Alertmanager, registered by the packages that own them.
var Parts []Part

// RulesPath is where the rule file of spec lives in a bundle.
func RulesPath(spec *limits.Spec) string {
	return filepath.Join("rules", spec.Service+".rules.yaml")
}

// Build generates every file of the bundle in memory.
func Build(spec *limits.Spec, o Options) ([]File, error) {
	res, err := rulegen.Generate(spec)
	if err != nil {
		return nil, err
	}
	var files []File
	switch o.Format {
	case FormatRules, "":
		data, err := res.RulesYAML()
		if err != nil {
			return nil, err
		}
		files = append(files, File{RulesPath(spec), data})
	case FormatPrometheusRule:
		data, err := res.PrometheusRuleYAML()
		if err != nil {
			return nil, err
		}
		files = append(files, File{filepath.Join("rules", spec.Service+".prometheusrule.yaml"), data})
	default:
		return nil, fmt.Errorf("unknown format %q: use rules or prometheusrule", o.Format)
	}
	am, err := rulegen.AlertmanagerYAML(spec, o.Alertmanager)
	if err != nil {
		return nil, err
	}
	files = append(files, File{filepath.Join("alertmanager", spec.Service+".yaml"), am})
	for _, part := range Parts {
		more, err := part(res)
		if err != nil {
			return nil, err
		}
		files = append(files, more...)
	}
	return files, nil
}

// Write builds the bundle and writes it under dir, each file atomically (temp file + rename) so
// a reader never sees half a rule file.
func Write(spec *limits.Spec, dir string, o Options) ([]File, error) {
	files, err := Build(spec, o)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		p := filepath.Join(dir, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, f.Data, 0o644); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, p); err != nil {
			return nil, err
		}
	}
	return files, nil
}
