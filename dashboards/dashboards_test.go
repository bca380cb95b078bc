package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/andon-sre/andon/limits"
	"github.com/andon-sre/andon/rulegen"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the generator")

var examples = []string{"erlmcp", "mcpserver"}

func init() { plugins.RegisterDefaultPlugins() }

func loadExample(t testing.TB, name string) *limits.Spec {
	t.Helper()
	spec, _, err := limits.Load(filepath.Join("..", "examples", name, "limits.yaml"))
	if err != nil {
		t.Fatalf("loading example %s: %v", name, err)
	}
	return spec
}

func generate(t testing.TB, spec *limits.Spec) (*rulegen.Result, []byte) {
	t.Helper()
	res, err := rulegen.Generate(spec)
	if err != nil {
		t.Fatalf("rulegen: %v", err)
	}
	out, err := Generate(res)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return res, out
}

func TestGoldenDashboards(t *testing.T) {
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			_, got := generate(t, loadExample(t, name))
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./dashboards -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("dashboard of %s differs from %s; review the change and run go test ./dashboards -update", name, path)
			}
		})
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	for _, name := range examples {
		_, a := generate(t, loadExample(t, name))
		_, b := generate(t, loadExample(t, name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two generations from the same spec differ", name)
		}
	}
}

// sdkRoundTrip decodes a dashboard with the SDK's types, validates it and encodes it again: the
// bytes must not change, so a field the SDK does not know (dropped by the decoder), a wrong type or
// a value the SDK would rewrite fails. Not the SDK's strict decoder: in v0.0.22 every nested
// UnmarshalJSONStrict returns an empty cog.BuildErrors as a non-nil error, so its callers stop
// early and every panel decodes to null with no error reported.
func sdkRoundTrip(out []byte) (*dashboard.Dashboard, error) {
	var d dashboard.Dashboard
	if err := json.Unmarshal(out, &d); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	again, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	// The SDK decodes a row's empty "panels": [] as a nil slice; Grafana wants the list.
	again = bytes.ReplaceAll(again, []byte(`"panels": null`), []byte(`"panels": []`))
	if !bytes.Equal(append(again, '\n'), out) {
		return nil, errors.New("decoding and encoding with the SDK's types changed the dashboard: a field the SDK does not know was written")
	}
	return &d, nil
}

// TestStrictRoundTrip decodes every dashboard with the SDK's types, validates it and encodes it
// again: the bytes must not change.
func TestStrictRoundTrip(t *testing.T) {
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			_, out := generate(t, loadExample(t, name))
			d, err := sdkRoundTrip(out)
			if err != nil {
				t.Fatal(err)
			}
			// The round trip is what catches a bad field: prove it on an unknown panel option.
			bad := bytes.Replace(out, []byte(`"colorMode": "background",`), []byte(`"colorMode": "background", "colourMode": "x",`), 1)
			if _, err := sdkRoundTrip(bad); err == nil {
				t.Errorf("the round trip accepted an unknown panel option")
			}
			if got, want := *d.Uid, "andon-"+name; got != want {
				t.Errorf("uid = %q, want %q", got, want)
			}
		})
	}
}

// panelQuery is one query found in the dashboard JSON.
type panelQuery struct {
	where string // panel title, annotation or variable name
	expr  string
	kind  string // target, annotation, variable
}

var labelValuesRE = regexp.MustCompile(`^label_values\((.*), *([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// queriesOf lists every PromQL query of a dashboard: panel targets, annotation targets and the
// series selector of each label_values variable.
func queriesOf(t testing.TB, data []byte) []panelQuery {
	t.Helper()
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Annotations struct {
			List []struct {
				Name   string `json:"name"`
				Target struct {
					Expr string `json:"expr"`
				} `json:"target"`
			} `json:"list"`
		} `json:"annotations"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	var out []panelQuery
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, panelQuery{p.Title, tg.Expr, "target"})
		}
	}
	for _, a := range d.Annotations.List {
		out = append(out, panelQuery{a.Name, a.Target.Expr, "annotation"})
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValuesRE.FindStringSubmatch(fmt.Sprint(v.Query))
		if m == nil {
			t.Fatalf("variable %s: query %v is not label_values(selector, label)", v.Name, v.Query)
		}
		out = append(out, panelQuery{v.Name, m[1], "variable"})
	}
	return out
}

// knownSeries are the series a dashboard may name: the rules' records and the declared raw ones.
func knownSeries(res *rulegen.Result) map[string]bool {
	known := map[string]bool{}
	for _, g := range res.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				known[r.Record] = true
			}
		}
	}
	for _, m := range rawMetrics {
		known[m] = true
	}
	return known
}

// unknownSeries parses expr (Grafana variables replaced) and returns the series it names that are
// not in known.
func unknownSeries(expr string, vars []string, known map[string]bool) ([]string, error) {
	e, err := promParser.ParseExpr(substitute(expr, vars, "", ".*"))
	if err != nil {
		return nil, err
	}
	var unknown []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok && !known[vs.Name] {
			unknown = append(unknown, vs.Name)
		}
		return nil
	})
	return unknown, nil
}

func TestEveryQueryNamesARecordedOrDeclaredSeries(t *testing.T) {
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			spec := loadExample(t, name)
			res, out := generate(t, spec)
			known := knownSeries(res)
			qs := queriesOf(t, out)
			if len(qs) < 40 {
				t.Fatalf("found only %d queries in the dashboard; the JSON layout changed?", len(qs))
			}
			for _, q := range qs {
				unknown, err := unknownSeries(q.expr, templateVars(spec), known)
				if err != nil {
					t.Errorf("%s %q: query does not parse: %v\n%s", q.kind, q.where, err, q.expr)
					continue
				}
				if len(unknown) > 0 {
					t.Errorf("%s %q names series no rule records and no raw series declared: %v\n%s", q.kind, q.where, unknown, q.expr)
				}
			}
		})
	}
}

// TestSeriesCheckCatchesTypos proves the check above fails when it should.
func TestSeriesCheckCatchesTypos(t *testing.T) {
	spec := loadExample(t, "erlmcp")
	res, out := generate(t, spec)
	known := knownSeries(res)
	sig := spec.Signal("error_ratio")
	recordedName := spec.RatioSeries(sig, fastest(spec, sig))
	cases := []struct {
		name, from, to string
	}{
		{"a recorded series name with a typo is caught", recordedName, strings.Replace(recordedName, "ratio_rate", "ratio_rat", 1)},
		{"a raw metric that is not declared is caught", "(" + metricActions + "[", "(andon_action_total["},
		{"a raw spec metric instead of its recording is caught", recordedName + "{", "erlmcp_requests_total{"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mutated := bytes.ReplaceAll(out, []byte(c.from), []byte(c.to))
			if bytes.Equal(mutated, out) {
				t.Fatalf("mutation %q → %q changed nothing", c.from, c.to)
			}
			caught := false
			for _, q := range queriesOf(t, mutated) {
				unknown, err := unknownSeries(q.expr, templateVars(spec), known)
				if err != nil {
					t.Fatal(err)
				}
				caught = caught || len(unknown) > 0
			}
			if !caught {
				t.Errorf("mutation %q → %q was not caught", c.from, c.to)
			}
		})
	}
}

// TestRawMetricsAreInTheContract: the raw series the dashboard reads are the ones the receiver and
// the admission middleware promise to export.
func TestRawMetricsAreInTheContract(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "contracts.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rawMetrics {
		if m == metricAlerts || m == metricUp {
			continue // Prometheus' own
		}
		name := strings.TrimSuffix(m, "_bucket")
		if !bytes.Contains(doc, []byte("`"+name+"`")) && !bytes.Contains(doc, []byte("`"+name+"{")) {
			t.Errorf("raw metric %s is not in docs/contracts.md: fix the name or the contract", name)
		}
	}
}

func TestSignalSteps(t *testing.T) {
	th := func(v float64) *limits.Threshold { return &limits.Threshold{Value: limits.Quantity{Value: v}} }
	cases := []struct {
		name string
		sig  limits.Signal
		want string
	}{
		{"an above signal is green below its first limit and takes each level's colour from its threshold up",
			limits.Signal{Direction: limits.Above, Thresholds: limits.Thresholds{Yellow: th(1), Red: th(2), Emergency: th(3)}},
			"green yellow@1 red@2 purple@3"},
		{"levels without a threshold get no step",
			limits.Signal{Direction: limits.Above, Thresholds: limits.Thresholds{Red: th(350), Emergency: th(450)}},
			"green red@350 purple@450"},
		{"a below signal starts at its worst level and turns green from its first limit up",
			limits.Signal{Direction: limits.Below, Thresholds: limits.Thresholds{Yellow: th(0.9), Red: th(0.5), Emergency: th(0.1)}},
			"purple red@0.1 yellow@0.5 green@0.9"},
		{"a below signal with one level is that level's colour below it",
			limits.Signal{Direction: limits.Below, Thresholds: limits.Thresholds{Red: th(10)}},
			"red green@10"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var parts []string
			for _, s := range signalSteps(&c.sig) {
				if s.Value == nil {
					parts = append(parts, s.Color)
				} else {
					parts = append(parts, fmt.Sprintf("%s@%s", s.Color, limits.FormatNumber(*s.Value)))
				}
			}
			if got := strings.Join(parts, " "); got != c.want {
				t.Errorf("steps = %s, want %s", got, c.want)
			}
		})
	}
}

func TestUID(t *testing.T) {
	long := strings.Repeat("a-very-long-service-name", 3)
	cases := []struct {
		name, service, want string
	}{
		{"a short service keeps its name", "erlmcp", "andon-erlmcp"},
		{"a long service is cut to Grafana's 40 characters with a hash that keeps it unique", long, UID(long)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := UID(c.service)
			if got != c.want || len(got) > maxUIDLen {
				t.Errorf("UID(%q) = %q (%d chars), want %q within %d", c.service, got, len(got), c.want, maxUIDLen)
			}
		})
	}
	if UID(long) == UID(long+"x") {
		t.Errorf("two long services share the uid %q", UID(long))
	}
}

func TestProviderYAML(t *testing.T) {
	// The fields of Grafana's dashboard provider config (pkg/services/provisioning/dashboards).
	var cfg struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name                  string `yaml:"name"`
			OrgID                 int    `yaml:"orgId"`
			Folder                string `yaml:"folder"`
			Type                  string `yaml:"type"`
			DisableDeletion       bool   `yaml:"disableDeletion"`
			AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
			UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
			Options               struct {
				Path                      string `yaml:"path"`
				FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(ProviderYAML()))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("provider YAML: %v", err)
	}
	if cfg.APIVersion != 1 || len(cfg.Providers) != 1 {
		t.Fatalf("want apiVersion 1 and one provider, got %+v", cfg)
	}
	p := cfg.Providers[0]
	if p.Type != "file" || p.Options.Path != ProviderDir || p.UpdateIntervalSeconds <= 0 {
		t.Errorf("provider %+v: want a file provider reading %s", p, ProviderDir)
	}
}

// shapePanel is the part of a panel TestDashboardShape looks at.
type shapePanel struct {
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

// TestDashboardShape checks what the issue asks of the layout, on the mcpserver example.
func TestDashboardShape(t *testing.T) {
	_, out := generate(t, loadExample(t, "mcpserver"))
	var d struct {
		Panels []shapePanel `json:"panels"`
	}
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	var rows []string
	byKey := map[string]shapePanel{} // type/title
	for _, p := range d.Panels {
		if p.Type == "row" {
			rows = append(rows, p.Title)
		}
		byKey[p.Type+"/"+p.Title] = p
	}
	if len(rows) != 5 {
		t.Errorf("rows = %q, want andon, signals, SLO, traffic, ledger", rows)
	}
	units := map[string]string{"error ratio": "percentunit", "latency p95": "s", "cpu": "percent", "memory": "decbytes",
		"memory growth": "Bps", "sessions": "short", "connection failures": "percentunit", "queue depth": "short"}
	for title, unit := range units {
		p, ok := byKey["timeseries/"+title]
		if !ok {
			t.Errorf("no time series panel %q", title)
			continue
		}
		if got := p.FieldConfig.Defaults.Unit; got != unit {
			t.Errorf("panel %q unit = %q, want %q", title, got, unit)
		}
		if !strings.Contains(p.Description, "→") {
			t.Errorf("panel %q description does not say what each level does: %q", title, p.Description)
		}
		if _, ok := byKey["stat/"+title]; !ok {
			t.Errorf("no andon level stat for signal %q", title)
		}
	}
	for _, title := range []string{"timeseries/Burn rate 1h / 5m (limit 14.4×)", "stat/Defects per million (30d)", "stat/Yield (30d)",
		"stat/Error budget left (30d)", "table/Alerts of mcpserver", "stat/Open andons", "timeseries/Load against limits"} {
		if _, ok := byKey[title]; !ok {
			t.Errorf("no panel %s", title)
		}
	}
}

// FuzzGenerate: any spec limits accepts and rulegen compiles gives a dashboard that decodes
// strictly and whose every query parses. Seeds: the example specs (testdata/fuzz/FuzzGenerate).
func FuzzGenerate(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, _, err := limits.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		res, err := rulegen.Generate(spec)
		if err != nil {
			return
		}
		out, err := Generate(res)
		if err != nil {
			t.Fatalf("a spec that compiles to rules gives no dashboard: %v", err)
		}
		if _, err := sdkRoundTrip(out); err != nil {
			t.Fatal(err)
		}
		known := knownSeries(res)
		for _, q := range queriesOf(t, out) {
			if unknown, err := unknownSeries(q.expr, templateVars(spec), known); err != nil || len(unknown) > 0 {
				t.Fatalf("%s %q: unknown %v, err %v: %s", q.kind, q.where, unknown, err, q.expr)
			}
		}
	})
}

// BenchmarkGenerate: building and encoding one dashboard (rules compiled beforehand).
func BenchmarkGenerate(b *testing.B) {
	for _, name := range examples {
		b.Run(name, func(b *testing.B) {
			res, err := rulegen.Generate(loadExample(b, name))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var size int
			for b.Loop() {
				out, err := Generate(res)
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			b.ReportMetric(float64(size), "bytes/dashboard")
		})
	}
}
