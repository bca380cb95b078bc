package explain

import (
	"bytes"
	"math"
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

// TestDerivedSLONumbers: the objective (the seed's green boundary) and the SRE Workbook's burn
// factors.
func TestDerivedSLONumbers(t *testing.T) {
	_, out := explainExample(t, "erlmcp")
	for _, want := range []string{
		"objective 99.95% over 30d, judged per service (all instances together)",
		"error budget  0.05% of requests = 500 defects per million (Six Sigma: 3.4 DPMO)",
		"as time       21m36s of full outage per 30d",
		"1 req/s the period holds 2592000 requests, 1296 of them may fail",
		"1h & 5m      2%            14.4×        0.72%",
		"6h & 30m     5%            6×           0.3%",
		"1d & 2h      10%           3×           0.15%",
		"3d & 6h      10%           1×           0.05%",
		"29 alerts: 17 signal limits, 4 burn-rate, 8 no-data (1 target down, 7 absent series)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explanation lacks %q:\n%s", want, out)
		}
	}
}

// TestOnCallNumbers: with the seed's Six Sigma objective, one failed request crosses the 1h and
// 6h burn rates below 5.7 and 2.3 req/s (the issue's own figures); the guard needs 3 failures;
// the rules need 30d of retention; a factor-1 window fires now and then at the objective's rate.
func TestOnCallNumbers(t *testing.T) {
	spec, _ := explainExample(t, "erlmcp")
	six := *spec.SLO
	six.Objective = limits.Quantity{Raw: "99.99966%", Value: 0.9999966}
	spec.SLO = &six
	out := explainSpec(t, spec)
	for _, want := range []string{
		"a burn-rate alert needs 1 req/s or more (min_rate) and 3 failed requests or more (min_events) in its long window",
		"--storage.tsdb.retention.time=30d or more",
		"1h & 5m      5.7 req/s                     3 failures in 1h",
		"6h & 30m     2.3 req/s                     3 failures in 6h",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explanation lacks %q:\n%s", want, out)
		}
	}
	row := regexp.MustCompile(`(?m)^  3d & 6h\s+\S+ req/s\s+3 failures in 3d\s+(\S+)\s+(\S+)$`).FindStringSubmatch(out)
	if row == nil || row[1] == "0" || row[2] == "0" {
		t.Errorf("the 3d window (factor 1) should fire now and then at the objective's own rate: %q\n%s", row, out)
	}
}

// TestPoissonTail: exact against hand-computed values, and continuous where the normal
// approximation takes over.
func TestPoissonTail(t *testing.T) {
	cases := []struct {
		name         string
		lambda, k    float64
		want, within float64
	}{
		{"P(X ≥ 1) at λ=1 is 1 − e⁻¹", 1, 1, 1 - math.Exp(-1), 1e-12},
		{"P(X ≥ 3) at λ=2 is 1 − 5e⁻²", 2, 3, 1 - 5*math.Exp(-2), 1e-12},
		{"P(X ≥ 0) is 1", 5, 0, 1, 1e-12},
		{"no failures expected: never", 0, 1, 0, 0},
		{"the normal approximation at λ=2000 is close to one half at the mean", 2000, 2000.5, 0.5, 0.01},
	}
	for _, c := range cases {
		if got := poissonTail(c.lambda, c.k); math.Abs(got-c.want) > c.within {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	if a, b := poissonTail(1000, 1030), poissonTail(1000.0001, 1030); math.Abs(a-b) > 0.01 {
		t.Errorf("the tail jumps where the approximation takes over: %v vs %v", a, b)
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
