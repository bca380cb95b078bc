package rulegen

import (
	"bytes"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"gopkg.in/yaml.v3"

	"github.com/andon-sre/andon/limits"
)

// emitSpecs: the examples, the demo stack's spec, the kitchen sink and a spec of awkward strings.
var emitSpecs = []string{
	filepath.Join("..", "examples", "erlmcp", "limits.yaml"),
	filepath.Join("..", "examples", "mcpserver", "limits.yaml"),
	filepath.Join("..", "examples", "stack", "limits.yaml"),
	filepath.Join("testdata", "kitchen.yaml"),
	filepath.Join("testdata", "awkward.yaml"),
}

// The emitted rule file and PrometheusRule read back, with yaml.v3 and with rulefmt.Parse, as
// exactly the groups in memory: a quoting bug in the emitter fails here.
func TestEmittedYAMLReadsBackAsGenerated(t *testing.T) {
	for _, path := range emitSpecs {
		t.Run(filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path), func(t *testing.T) {
			spec, _, err := limits.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			res, rules := generateRules(t, spec)
			want := normalize(res.Groups)
			var decoded rulefmt.RuleGroups
			strictDecode(t, rules, &decoded)
			sameGroups(t, "yaml.v3 decode of RulesYAML", decoded.Groups, want)

			parsed, errs := rulefmt.Parse(rules, false, model.UTF8Validation, promParser, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if len(errs) > 0 {
				t.Fatalf("rulefmt.Parse: %v", errs)
			}
			sameGroups(t, "rulefmt.Parse of RulesYAML", parsed.Groups, want)

			pr, err := res.PrometheusRuleYAML()
			if err != nil {
				t.Fatal(err)
			}
			var resource struct {
				APIVersion string `yaml:"apiVersion"`
				Kind       string `yaml:"kind"`
				Metadata   struct {
					Name   string            `yaml:"name"`
					Labels map[string]string `yaml:"labels"`
				} `yaml:"metadata"`
				Spec struct {
					Groups []rulefmt.RuleGroup `yaml:"groups"`
				} `yaml:"spec"`
			}
			strictDecode(t, pr, &resource)
			if resource.APIVersion != "monitoring.coreos.com/v1" || resource.Kind != "PrometheusRule" ||
				resource.Metadata.Name != "andon-"+spec.Service ||
				!reflect.DeepEqual(resource.Metadata.Labels, map[string]string{"app.kubernetes.io/managed-by": "andon", "service": spec.Service}) {
				t.Errorf("PrometheusRule header reads back as %+v %+v", resource.APIVersion, resource.Metadata)
			}
			sameGroups(t, "yaml.v3 decode of PrometheusRuleYAML", resource.Spec.Groups, want)
		})
	}
}

// The awkward spec really is awkward: its strings need every style the emitter has.
func TestAwkwardSpecUsesEveryStyle(t *testing.T) {
	spec, _, err := limits.Load(filepath.Join("testdata", "awkward.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, rules := generateRules(t, spec)
	for _, want := range []string{
		"\n          yes_label: \"yes\"\n", "\n          hex: \"0x1\"\n", "\n          tilde: \"~\"\n", "\n          empty: \"\"\n",
		"\n          colon: 'a: b'\n", "\n          dash: '- item'\n", "\n          quotes: it's \"quoted\"\n",
		"\n          line_sep: \"a\\u2028b\"\n", "\n          nbsp: \"non\\xA0breaking\"\n", "\n          tabbed_lines: \"head\\n\\ttabbed\"\n",
		"\n          newline_end: |\n            one\n", "\n          newlines_end: |+\n            one\n\n", "\n          newline: |-\n",
		"\n          cr: \"a\\r\\nb\"\n", "\n          indented_lines: |\n            head\n              indented\n",
	} {
		if !strings.Contains(string(rules), want) {
			t.Errorf("rule file lacks %q", want)
		}
	}
}

// Groups, rules and maps the generator never makes but rulefmt allows: every field, odd keys.
func TestEmitEveryField(t *testing.T) {
	offset := model.Duration(90_000_000_000)
	groups := []rulefmt.RuleGroup{
		{Name: "yes", Interval: model.Duration(60_000_000_000), QueryOffset: &offset, Limit: 7,
			Labels: map[string]string{"<<": "merge", "a b": "space", "ü": "", "null": "~", "0": "0", strings.Repeat("long", 300): "explicit key"},
			Rules: []rulefmt.Rule{
				{Record: "x", Expr: "{__name__=\"x\"}"},
				{Alert: "- A: b", Expr: "1\n+ 2\n", For: model.Duration(1_000_000_000), KeepFiringFor: model.Duration(86_400_000_000_000),
					Annotations: map[string]string{"multi\nline key": "v", "k": "\u0085\u2029\ufeff\x00\x7f\U0010FFFF\uE000"}},
			}},
		{Name: "empty", Rules: []rulefmt.Rule{}},
	}
	for _, indent := range []int{0, 2} {
		e := newEmitter("# head\n", 0)
		if indent > 0 {
			e.key(0, "spec")
			e.b = append(e.b, '\n')
		}
		e.groups(indent, groups)
		out, err := e.bytes()
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Groups []rulefmt.RuleGroup `yaml:"groups"`
			Spec   struct {
				Groups []rulefmt.RuleGroup `yaml:"groups"`
			} `yaml:"spec"`
		}
		strictDecode(t, out, &got)
		if indent > 0 {
			got.Groups = got.Spec.Groups
		}
		sameGroups(t, "every field", got.Groups, normalize(groups))
	}
}

func TestEmitRejectsInvalidUTF8(t *testing.T) {
	for _, g := range []rulefmt.RuleGroup{
		{Name: "g", Rules: []rulefmt.Rule{{Alert: "A", Expr: "up", Labels: map[string]string{"k": "bad \xff"}}}},
		{Name: "g", Rules: []rulefmt.Rule{{Alert: "A", Expr: "up", Labels: map[string]string{"bad \xff": "v"}}}},
	} {
		e := newEmitter("", 0)
		e.groups(0, []rulefmt.RuleGroup{g})
		if _, err := e.bytes(); err == nil || !strings.Contains(err.Error(), `group "g", rule "A"`) {
			t.Errorf("error %v, want one naming group g, rule A", err)
		}
	}
}

// FuzzScalar: any valid UTF-8 string, written as a value and as a key where rule files hold
// them, reads back as itself.
func FuzzScalar(f *testing.F) {
	for _, s := range []string{"", "plain", "yes", "No", "null", "~", "0x1", "1e3", ".inf", "-.5", "1:20", "2001-12-14",
		"a: b", "a #b", "#c", "- x", "? x", "'", "\"", "\\", "{{ $labels.x }}", "[a]", " lead", "trail ", "a\nb", "a\n",
		"a\n\n", "\nb", " a\nb", "a\r\nb", "\t", "ü✓", "\u2028", "\u0085", "\ufeff", "\x00", "<<", "%x", "@x", "`x`", "3,2", "1h_5m",
		strings.Repeat("k", 1025), strings.Repeat("\x05", 256), strings.Repeat("é", 1000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		groups := []rulefmt.RuleGroup{{Name: s, Rules: []rulefmt.Rule{
			{Record: s, Expr: s, Labels: map[string]string{s: s, "after": "x"}},
			{Alert: "a", Expr: "b", Annotations: map[string]string{"k": s}},
		}}}
		e := newEmitter("", 0)
		e.groups(2, groups)
		out, err := e.bytes()
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			X struct {
				Groups []rulefmt.RuleGroup `yaml:"groups"`
			} `yaml:"x"`
		}
		if err := yaml.Unmarshal(append([]byte("x:\n"), out...), &got); err != nil {
			t.Fatalf("%q: %v\n%s", s, err, out)
		}
		if !reflect.DeepEqual(normalize(got.X.Groups), normalize(groups)) {
			t.Fatalf("%q reads back as %#v\n%s", s, got.X.Groups, out)
		}
	})
}

func strictDecode(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
}

// normalize copies groups with empty maps as nil: YAML leaves empty maps out.
func normalize(gs []rulefmt.RuleGroup) []rulefmt.RuleGroup {
	out := make([]rulefmt.RuleGroup, len(gs))
	for i, g := range gs {
		if len(g.Labels) == 0 {
			g.Labels = nil
		}
		g.Rules = append([]rulefmt.Rule{}, g.Rules...)
		for j := range g.Rules {
			r := &g.Rules[j]
			if len(r.Labels) == 0 {
				r.Labels = nil
			}
			if len(r.Annotations) == 0 {
				r.Annotations = nil
			}
		}
		out[i] = g
	}
	return out
}

func sameGroups(t *testing.T, what string, got, want []rulefmt.RuleGroup) {
	t.Helper()
	got = normalize(got)
	if len(got) != len(want) {
		t.Fatalf("%s: %d groups, want %d", what, len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("%s: group %d differs:\n got %#v\nwant %#v", what, i, got[i], want[i])
		}
	}
}
