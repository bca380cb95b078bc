package rulegen

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andon-sre/andon/limits"
)

// specs100 builds 100 services from the erlmcp example (8 signals and an SLO each), renamed.
func specs100(b *testing.B) []*limits.Spec {
	data, err := os.ReadFile(filepath.Join("..", "examples", "erlmcp", "limits.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	specs := make([]*limits.Spec, 100)
	for i := range specs {
		y := strings.Replace(string(data), "service: erlmcp", fmt.Sprintf("service: svc%03d", i), 1)
		if specs[i], _, err = limits.Parse(fmt.Sprintf("svc%03d.yaml", i), []byte(y)); err != nil {
			b.Fatal(err)
		}
	}
	return specs
}

// BenchmarkGenerate100Services: rules for 100 services through Generate alone, RulesYAML alone
// (rendering Generate's results), and both (the rulefmt load is CheckRules, run by `andon check`).
// Goal: generate+rules_yaml under 200 ms per 100 services.
func BenchmarkGenerate100Services(b *testing.B) {
	specs := specs100(b)
	results := make([]*Result, len(specs))
	for i, s := range specs {
		var err error
		if results[i], err = Generate(s); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name             string
		generate, render bool
	}{{"generate", true, false}, {"rules_yaml", false, true}, {"generate+rules_yaml", true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				for i, s := range specs {
					res := results[i]
					if bc.generate {
						var err error
						if res, err = Generate(s); err != nil {
							b.Fatal(err)
						}
					}
					if bc.render {
						if _, err := res.RulesYAML(); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			b.ReportMetric(time.Since(start).Seconds()*1000/float64(b.N), "ms/100svc")
		})
	}
}

// BenchmarkAlertmanager100Services: the Alertmanager snippets of 100 services.
func BenchmarkAlertmanager100Services(b *testing.B) {
	specs := specs100(b)
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range specs {
			if _, err := AlertmanagerYAML(s, DefaultAlertmanagerOptions()); err != nil {
				b.Fatal(err)
			}
		}
	}
}
