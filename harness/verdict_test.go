package harness

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseCheck(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Check
		err      string
	}{
		{"a latency takes a unit", "p95<280ms", Check{Expr: "p95<280ms", Metric: "p95", Op: "<", Value: 0.280}, ""},
		{"a ratio takes a percentage", "errors<0.5%", Check{Expr: "errors<0.5%", Metric: "errors", Op: "<", Value: 0.005}, ""},
		{"a ratio takes a fraction", "dropped <= 0.01", Check{Expr: "dropped <= 0.01", Metric: "dropped", Op: "<=", Value: 0.01}, ""},
		{"a rate is a plain number", "rate>=1000", Check{Expr: "rate>=1000", Metric: "rate", Op: ">=", Value: 1000}, ""},
		{"p99.9 is a metric", "p99.9<1s", Check{Expr: "p99.9<1s", Metric: "p99.9", Op: "<", Value: 1}, ""},
		{"a latency without a unit is refused", "p95<280", Check{}, "not a duration with a unit"},
		{"an unknown metric is named", "p42<1s", Check{}, `unknown metric "p42"`},
		{"no operator is explained", "p95=280ms", Check{}, "want <metric><op><value>"},
		{"a negative value is refused", "errors<-1%", Check{}, "finite number >= 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCheck(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got.Metric != tc.want.Metric || got.Op != tc.want.Op || got.Expr != tc.want.Expr || got.Value-tc.want.Value > 1e-12 || tc.want.Value-got.Value > 1e-12 {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// FuzzParseCheck: any text parses into a check whose value is finite and
// non-negative, or fails with an error.
func FuzzParseCheck(f *testing.F) {
	for _, s := range []string{"p95<280ms", "errors<0.5%", "dropped<=0", "rate>=1e3", "max>1h", "p99.9 < 1.5s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCheck(s)
		if err != nil {
			return
		}
		if c.Value < 0 || c.Value != c.Value || (c.Op != "<" && c.Op != "<=" && c.Op != ">" && c.Op != ">=") {
			t.Fatalf("%q parsed into %+v", s, c)
		}
	})
}

func TestJudge(t *testing.T) {
	run := &Result{Profile: &Profile{Name: "j"}, Intended: 100, Sent: 100, Completed: 100, Errors: 1, AchievedRPS: 50,
		Overall: OpResult{Latency: Quantiles{P95: 0.100}},
		Stages: []StageResult{
			{Name: "step 1 (50/s)", Intended: 50, Completed: 50, Latency: Quantiles{P95: 0.010}},
			{Name: "step 2 (500/s)", Intended: 50, Completed: 50, Errors: 1, Latency: Quantiles{P95: 0.400}},
		}}
	must := func(s string) Check {
		c, err := ParseCheck(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name   string
		res    func() *Result
		checks []string
		pass   bool
		failed []string // "check [scope]" that must fail
	}{
		{"a stage can fail a threshold the whole run meets", func() *Result { return run }, []string{"p95<300ms"}, false, []string{"p95<300ms [step 2 (500/s)]"}},
		{"every scope within every threshold passes", func() *Result { return run }, []string{"p95<1s", "errors<5%", "rate>=50"}, true, nil},
		{"a run without completed requests cannot show its error ratio", func() *Result {
			r := *run
			r.Completed, r.Errors, r.Stages = 0, 0, nil
			return &r
		}, []string{"errors<1%"}, false, []string{"errors<1% [run]"}},
		{"an interrupted run fails whatever it measured", func() *Result {
			r := *run
			r.Interrupted = true
			return &r
		}, []string{"p95<1s"}, false, []string{"run completes [run]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var checks []Check
			for _, s := range tc.checks {
				checks = append(checks, must(s))
			}
			res := tc.res()
			v := judge(checks, res)
			if v.Pass != tc.pass {
				t.Errorf("pass %v, want %v: %+v", v.Pass, tc.pass, v.Results)
			}
			failed := map[string]bool{}
			for _, r := range v.Results {
				if !r.Pass {
					failed[r.Check+" ["+r.Scope+"]"] = true
				}
			}
			for _, f := range tc.failed {
				if !failed[f] {
					t.Errorf("%s did not fail; failed: %v", f, failed)
				}
			}
			res.Verdict = v
			path := filepath.Join(t.TempDir(), JUnitFile)
			if err := WriteJUnit(path, res); err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(path)
			var suite junitSuite
			if err := xml.Unmarshal(data, &suite); err != nil || suite.Tests != len(v.Results) || suite.Failures != len(failed) {
				t.Errorf("junit: %v, %d tests %d failures; want %d and %d\n%s", err, suite.Tests, suite.Failures, len(v.Results), len(failed), data)
			}
		})
	}
}

func TestChooseTool(t *testing.T) {
	ro := func(b bool) *bool { return &b }
	tool := func(name string, readOnly *bool, required ...string) toolInfo {
		t := toolInfo{Name: name}
		t.InputSchema.Required = required
		t.InputSchema.Properties = map[string]struct {
			Type any   `json:"type"`
			Enum []any `json:"enum"`
		}{}
		for _, r := range required {
			t.InputSchema.Properties[r] = struct {
				Type any   `json:"type"`
				Enum []any `json:"enum"`
			}{Type: "string"}
		}
		if readOnly != nil {
			t.Annotations = &struct {
				ReadOnlyHint    *bool `json:"readOnlyHint"`
				DestructiveHint *bool `json:"destructiveHint"`
				OpenWorldHint   *bool `json:"openWorldHint"`
			}{ReadOnlyHint: readOnly}
		}
		return t
	}
	for _, tc := range []struct {
		name  string
		tools []toolInfo
		want  string
	}{
		{"echo wins, annotated or not (the reference server annotates nothing)", []toolInfo{tool("work", nil), tool("echo", nil, "text"), tool("fail", nil)}, "echo"},
		{"else the read-only tool with the fewest required arguments", []toolInfo{tool("get-sum", ro(true), "a", "b"), tool("delete", ro(false)), tool("get-env", ro(true))}, "get-env"},
		{"nothing read-only or echo-like is refused", []toolInfo{tool("work", nil), tool("delete", ro(false))}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chooseTool(tc.tools)
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), "--tool") {
					t.Errorf("picked %s (%v), want an error naming --tool", got.Name, err)
				}
				return
			}
			if err != nil || got.Name != tc.want {
				t.Errorf("picked %q (%v), want %q", got.Name, err, tc.want)
			}
		})
	}
}

// A server too busy to answer its first calls (HTTP 503) is retried within
// the start-up budget and detected as what it is: a 2026-07-28 server, not
// an older one that does not know server/discover.
func TestStartupRetriesABusyServer(t *testing.T) {
	var refused atomic.Int64
	srv := startServer(t, stateless2026, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if refused.Add(1) <= 3 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	p := mustProfile(t, `{name: busy, duration: 500ms, rate: {rps: 20}, timeout: 2s, mix: [{weight: 1, method: tools/list}]}`)
	res := runBounded(t, Options{Target: Target{URL: srv.URL}, Profile: p})
	if res.Era != Era20260728 {
		t.Errorf("era %s, want 2026-07-28: a busy answer is not an era mismatch", res.Era)
	}
	var probe *OpResult
	for i, o := range res.Operations {
		if o.Name == "(era probe)" {
			probe = &res.Operations[i]
		}
	}
	if probe == nil || probe.Count != 4 || probe.Errors != 3 || probe.Classes["http_503"] != 3 {
		t.Errorf("era probe row %+v, want 4 attempts, the first 3 failed with http_503", probe)
	}
}

// A server that stays silent past the start-up budget is reported as a
// timeout, never as a server of another era.
func TestStartupDiagnosisSaysTimeout(t *testing.T) {
	srv := startServer(t, stateless2026, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // so the server notices the client leaving
			<-r.Context().Done()
		})
	})
	p := mustProfile(t, `{name: silent, duration: 1s, rate: {rps: 10}, timeout: 300ms, mix: [{weight: 1, method: tools/list}]}`)
	for _, era := range []string{EraAuto, Era20260728} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := Run(ctx, Options{Target: Target{URL: srv.URL, Era: era}, Profile: p, StartupTimeout: time.Second})
		cancel()
		if err == nil || Classify(err) != ClassTimeout || !strings.Contains(err.Error(), "says nothing about the era") ||
			strings.Contains(err.Error(), "does not speak") || !strings.Contains(err.Error(), "attempts") {
			t.Errorf("--protocol %s: error %v; want a timeout after several attempts, not an era mismatch", era, err)
		}
	}
}
