package rulegen

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/andon-sre/andon/limits"
)

var update = flag.Bool("update", false, "rewrite golden files")

// examples are the two example specs and testdata/kitchen.yaml, which holds every kind, unit
// and option the examples leave out.
var examples = []string{"erlmcp", "mcpserver", "kitchen"}

func specPath(name string) string {
	if name == "kitchen" {
		return filepath.Join("testdata", "kitchen.yaml")
	}
	return filepath.Join("..", "examples", name, "limits.yaml")
}

func loadExample(t testing.TB, name string) *limits.Spec {
	t.Helper()
	spec, _, err := limits.Load(specPath(name))
	if err != nil {
		t.Fatalf("loading example %s: %v", name, err)
	}
	return spec
}

// generateRules generates spec's rules and renders the rule file.
func generateRules(t testing.TB, spec *limits.Spec) (*Result, []byte) {
	t.Helper()
	res, err := Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := res.RulesYAML()
	if err != nil {
		t.Fatal(err)
	}
	return res, rules
}

// outputs renders every output of rulegen for spec, by golden file suffix.
func outputs(t testing.TB, spec *limits.Spec) map[string][]byte {
	t.Helper()
	res, rules := generateRules(t, spec)
	if err := CheckRules(rules); err != nil {
		t.Fatal(err)
	}
	pr, err := res.PrometheusRuleYAML()
	if err != nil {
		t.Fatal(err)
	}
	am, err := AlertmanagerYAML(spec, DefaultAlertmanagerOptions())
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"rules.yaml": rules, "prometheusrule.yaml": pr, "alertmanager.yaml": am}
}

func TestGolden(t *testing.T) {
	for _, ex := range examples {
		for suffix, got := range outputs(t, loadExample(t, ex)) {
			t.Run(ex+"/"+suffix, func(t *testing.T) {
				path := filepath.Join("testdata", ex+"."+suffix+".golden")
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run `go test ./rulegen -update` to create it)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from the generator's output; if the change is meant, run `go test ./rulegen -update` and review the diff", path)
				}
			})
		}
	}
}

// The committed bundles and the golden files must agree: two views of the same generator.
func TestGoldenMatchesCommittedBundle(t *testing.T) {
	for _, ex := range examples[:2] {
		for golden, bundled := range map[string]string{
			ex + ".rules.yaml.golden":        filepath.Join("rules", ex+".rules.yaml"),
			ex + ".alertmanager.yaml.golden": filepath.Join("alertmanager", ex+".yaml"),
		} {
			want, err1 := os.ReadFile(filepath.Join("testdata", golden))
			got, err2 := os.ReadFile(filepath.Join("..", "examples", ex, "generated", bundled))
			if err1 != nil || err2 != nil {
				t.Fatalf("%v %v", err1, err2)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("examples/%s/generated/%s differs from testdata/%s: run `make generate`", ex, bundled, golden)
			}
		}
	}
}

func TestDeterministic(t *testing.T) {
	for _, ex := range examples {
		first := outputs(t, loadExample(t, ex))
		for i := 0; i < 5; i++ {
			again := outputs(t, loadExample(t, ex))
			for k := range first {
				if !bytes.Equal(first[k], again[k]) {
					t.Fatalf("%s %s: generating twice gave different bytes", ex, k)
				}
			}
		}
	}
}

// TestAlertContract checks the label and annotation contract of docs/contracts.md on every alert.
func TestAlertContract(t *testing.T) {
	for _, ex := range examples {
		spec := loadExample(t, ex)
		res, err := Generate(spec)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, a := range res.Alerts {
			r := a.Rule
			id := ex + "/" + a.Name + "/" + r.Labels["signal"] + "/" + r.Labels["level"] + "/" + r.Labels["burn_window"] + r.Labels["metric"]
			if names[id] {
				t.Errorf("%s: two alerts with the same labels", id)
			}
			names[id] = true
			for _, l := range []string{"service", "signal", "level", "severity", "action"} {
				if r.Labels[l] == "" {
					t.Errorf("%s: label %s missing", id, l)
				}
			}
			if sev := r.Labels["severity"]; sev != "warning" && sev != "critical" {
				t.Errorf("%s: severity %q", id, sev)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: summary or description missing", id)
			}
			if r.For == 0 {
				t.Errorf("%s: for is 0s", id)
			}
			if strings.Contains(r.Labels["action"], "shed") != (r.Annotations["shed_fraction"] != "") {
				t.Errorf("%s: shed action and shed_fraction annotation disagree", id)
			}
			if strings.Contains(r.Labels["action"], "andon") {
				want := map[AlertKind]string{AlertBurn: limits.AndonTypeSLOBurn}[a.Kind]
				if want == "" {
					want = limits.AndonTypeOperatingLimit
				}
				if r.Annotations["andon_type"] != want {
					t.Errorf("%s: andon_type %q, want %q", id, r.Annotations["andon_type"], want)
				}
			}
			if (a.Kind == AlertBurn) != (r.Labels["burn_window"] != "") {
				t.Errorf("%s: burn_window label on the wrong alert", id)
			}
			if _, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr); err != nil {
				t.Errorf("%s: %v", id, err)
			}
		}
	}
}

// The seed's own defects must not come back: a ratio compared, not a rate; red reachable.
func TestErrorRatioAlertsCompareRatiosAndAreReachable(t *testing.T) {
	res, err := Generate(loadExample(t, "erlmcp"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ErlmcpErrorRatioYellow":    "service_instance:erlmcp_error_ratio:ratio_rate1m > 0.0005 and service_instance:erlmcp_error_ratio:ratio_rate3m > 0.0005",
		"ErlmcpErrorRatioRed":       "service_instance:erlmcp_error_ratio:ratio_rate1m > 0.005 and service_instance:erlmcp_error_ratio:ratio_rate1m30s > 0.005",
		"ErlmcpErrorRatioEmergency": "service_instance:erlmcp_error_ratio:ratio_rate1m > 0.01 and service_instance:erlmcp_error_ratio:ratio_rate2m > 0.01",
	}
	// The guards read the long window: traffic at min_rate, and min_events failures seen there
	// (the rate × the window's sampled span, one scrape less than the window).
	guards := map[string]string{
		"ErlmcpErrorRatioYellow":    " and service_instance:erlmcp_error_ratio_total:rate3m >= 1 and round(service_instance:erlmcp_error_ratio_errors:rate3m * 165) >= 3",
		"ErlmcpErrorRatioRed":       " and service_instance:erlmcp_error_ratio_total:rate1m30s >= 1 and round(service_instance:erlmcp_error_ratio_errors:rate1m30s * 75) >= 3",
		"ErlmcpErrorRatioEmergency": " and service_instance:erlmcp_error_ratio_total:rate2m >= 1 and round(service_instance:erlmcp_error_ratio_errors:rate2m * 105) >= 3",
	}
	for _, a := range res.Alerts {
		if w, ok := want[a.Name]; ok {
			if a.Rule.Expr != w+guards[a.Name] {
				t.Errorf("%s: expr %q, want %q", a.Name, a.Rule.Expr, w+guards[a.Name])
			}
			delete(want, a.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("alerts not generated: %v", want)
	}
}

func TestGenerateDoesNotMutateSpec(t *testing.T) {
	spec := loadExample(t, "erlmcp")
	snapshot := spec.Signals[0].Thresholds.Red.Value
	if _, err := Generate(spec); err != nil {
		t.Fatal(err)
	}
	if spec.Signals[0].Thresholds.Red.Value != snapshot || len(spec.GroupBy) != 1 {
		t.Errorf("Generate changed the spec")
	}
}

// parseBack is the proof that every expression parses: it must name the first bad rule.
func TestParseBackRejectsUnparsablePromQL(t *testing.T) {
	res, err := Generate(loadExample(t, "erlmcp"))
	if err != nil {
		t.Fatal(err)
	}
	if err := parseBack(res.Groups); err != nil {
		t.Fatal(err)
	}
	rules := res.Groups[len(res.Groups)-1].Rules
	rules[len(rules)-1].Expr = "sum(rate(x[5m])"
	rules[0].Expr = "up ==="
	err = parseBack(res.Groups)
	if err == nil || !strings.Contains(err.Error(), rules[0].Record+rules[0].Alert) || !strings.Contains(err.Error(), `"up ==="`) {
		t.Errorf("parseBack error %v, want one naming %s and its expression", err, rules[0].Record)
	}
}
