package explain

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/andon-sre/andon/limits"
	"github.com/andon-sre/andon/rulegen"
)

func explainExample(t *testing.T, ex string) (*limits.Spec, string) {
	t.Helper()
	spec, _, err := limits.Load(filepath.Join("..", "examples", ex, "limits.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return spec, explainSpec(t, spec)
}

func explainSpec(t *testing.T, spec *limits.Spec) string {
	t.Helper()
	res, err := rulegen.Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Write(&b, res); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestTableHoldsEverySignalAndLevel: one row per threshold the spec sets, with its level's
// timing and actions, and no row for a level the signal does not set.
func TestTableHoldsEverySignalAndLevel(t *testing.T) {
	for _, ex := range []string{"erlmcp", "mcpserver"} {
		t.Run(ex, func(t *testing.T) {
			spec, out := explainExample(t, ex)
			rows := 0
			for _, sig := range spec.Signals {
				for _, l := range limits.Levels {
					row := regexp.MustCompile(`(?m)^` + sig.Name + `\s+\S+\s+` + string(l) + `\s+[<>] (\S+)\s+.*\s(\S+)\s+(\S+)\s+` + regexp.QuoteMeta(firstAction(spec, l)) + `.*$`)
					th := sig.Thresholds.Get(l)
					m := row.FindStringSubmatch(out)
					if th == nil {
						if m != nil {
							t.Errorf("a row for %s %s, which sets no threshold: %q", sig.Name, l, m[0])
						}
						continue
					}
					rows++
					if m == nil {
						t.Errorf("no row for %s %s in:\n%s", sig.Name, l, out)
						continue
					}
					if want := limits.FormatThreshold(sig, th.Value.Value); m[1] != want {
						t.Errorf("%s %s: threshold %s, want %s", sig.Name, l, m[1], want)
					}
					if want := dur(spec.For(sig, l)); m[2] != want {
						t.Errorf("%s %s: for %s, want %s", sig.Name, l, m[2], want)
					}
					if want := dur(spec.KeepFiringFor(sig, l)); m[3] != want {
						t.Errorf("%s %s: keep firing %s, want %s", sig.Name, l, m[3], want)
					}
				}
			}
			lines := regexp.MustCompile(`(?m)^\w+\s+(ratio|p\d+|gauge|rate|growth)\s+(yellow|red|emergency)\s`).FindAllString(out, -1)
			if len(lines) != rows {
				t.Errorf("%d table rows, want %d (one per threshold)", len(lines), rows)
			}
		})
	}
}

func firstAction(spec *limits.Spec, l limits.Level) string {
	return actions(spec.Levels.Get(l).Actions[:1])
}

// TestDerivedSLONumbers: the Six Sigma objective and the SRE Workbook's burn factors.
func TestDerivedSLONumbers(t *testing.T) {
	_, out := explainExample(t, "erlmcp")
	for _, want := range []string{
		"objective 99.99966% over 30d",
		"error budget  0.00034% of requests = 3.4 defects per million",
		"as time       8s813ms of full outage per 30d",
		"1 req/s the period holds 2592000 requests, 8.8128 of them may fail",
		"1h & 5m      2%            14.4×        0.004896%",
		"6h & 30m     5%            6×           0.00204%",
		"1d & 2h      10%           3×           0.00102%",
		"3d & 6h      10%           1×           0.00034%",
		"27 alerts: 16 signal limits, 4 burn-rate, 7 no-data (1 target down, 6 absent series)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explanation lacks %q:\n%s", want, out)
		}
	}
}

func TestNoSLONoSLOSection(t *testing.T) {
	spec, _, err := limits.Parse("s.yaml", []byte("service: s\nselector: '{job=\"s\"}'\nsignals:\n  - {name: q, kind: gauge, metric: m, description: d, thresholds: {red: 10}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if out := explainSpec(t, spec); strings.Contains(out, "SLO on") || !strings.Contains(out, "whole service") {
		t.Errorf("unexpected explanation:\n%s", out)
	}
}

// The retention the dashboard needs is stated, with the panels that need the most, and compared
// with Prometheus' 15d default: the 30d SLO panels need more.
func TestRetentionIsStated(t *testing.T) {
	_, out := explainExample(t, "erlmcp")
	want := "Prometheus retention: the dashboard needs ≥ 30d3h (Error budget left (30d), Defects per million (30d), Yield (30d)); Prometheus keeps 15d by default: set --storage.tsdb.retention.time."
	if !strings.Contains(out, want) {
		t.Fatalf("explain lacks %q:\n%s", want, out)
	}
}
