package limits

import (
	"fmt"
	"strings"
	"testing"
)

// TestLints holds one case per lint: the spec, where the warning points (line:col) and parts of
// its message, the fix included. Lints are warnings: the spec still loads.
func TestLints(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		at   string
		msgs []string
	}{
		{"an error counter read as a rate against a ratio threshold (the seed's mistake)",
			withSignal(`{name: err_rate, kind: rate, unit: ratio, metric: erlmcp_errors_total, description: d, thresholds: {red: 0.05%}}
`), "10:5", []string{"compares errors per second with a ratio threshold", "use `kind: ratio` with `errors: erlmcp_errors_total`", "erlmcp_requests_total"}},
		{"a failures counter in percent is the same mistake",
			withSignal(`{name: f, kind: rate, unit: percent, metric: 'conn_failures_total{x="y"}', description: d, thresholds: {red: 2%}}
`), "10:5", []string{"error counter conn_failures_total", "conn_requests_total"}},
		{"burn-rate alerts below the lowest limit contradict the limits and name the objective that fixes it",
			strings.Replace(base, "{red: 1%}", "{yellow: 0.05%, red: 1%}", 1) + "slo:\n  objective: 99.99966%\n  signal: errs\n",
			"11:14", []string{"contradicts signal errs's limits", "1h_5m at 0.004896% (14.4×)", "below its lowest limit (yellow 0.05%)", "lower the objective to 99.95% or less", "lower thresholds.yellow to 0.00034% or less"}},
		{"a for shorter than two evaluation intervals",
			base + "levels:\n  red: {for: 15s}\n", "11:14", []string{"levels.red.for (15s) is shorter than two evaluation intervals (30s)", "use for: 30s or more"}},
		{"a threshold's own for is checked too",
			strings.Replace(base, "{red: 1%}", "{red: {value: 1%, for: 20s}}", 1), "9:40", []string{"thresholds.red.for (20s)"}},
		{"a rate window of fewer than four scrapes",
			base + "levels:\n  red: {windows: {short: 30s, long: 2m}}\n", "11:26", []string{"levels.red.windows.short (30s) holds fewer than 4 scrapes at scrape_interval 15s", "use 1m or more"}},
		{"absent-series alerts at a critical level",
			base + "no_data: {level: red}\n", "1:1", []string{"no_data.level red makes every absent-series alert", "critical", "use no_data.level: yellow"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, ds, err := Parse("s.yaml", []byte(c.yaml))
			if err != nil {
				t.Fatalf("a lint must not be an error: %v", err)
			}
			for _, d := range ds.Warnings() {
				if fmt.Sprintf("%d:%d", d.Pos.Line, d.Pos.Col) != c.at {
					continue
				}
				missing := false
				for _, m := range c.msgs {
					missing = missing || !strings.Contains(d.Msg, m)
				}
				if !missing {
					return
				}
			}
			t.Errorf("no warning at %s with %q; got:\n%v", c.at, c.msgs, ds)
		})
	}
}

// The defaults lint clean, even with a slow scrape and evaluation: defaults grow with them.
func TestDefaultsLintClean(t *testing.T) {
	for _, extra := range []string{"", "scrape_interval: 30s\n", "scrape_interval: 1m\nevaluation_interval: 1m\n"} {
		_, ds, err := Parse("s.yaml", []byte(base+extra+"slo: {objective: 99%, signal: errs}\n"))
		if err != nil || len(ds) > 0 {
			t.Errorf("%q: err %v, diagnostics:\n%v", extra, err, ds)
		}
	}
}

func TestMinEventsValidation(t *testing.T) {
	for _, c := range []struct{ name, value, msg string }{
		{"zero would let one failure alert", "0", "at least 1"},
		{"a fraction is not a count of requests", "2.5", "whole number"},
		{"not a number", "many", "min_events"},
	} {
		_, ds, err := Parse("s.yaml", []byte(strings.Replace(base, "    thresholds:", "    min_events: "+c.value+"\n    thresholds:", 1)))
		if err == nil || !strings.Contains(ds.Errors().Error(), c.msg) || !strings.Contains(ds.Errors().Error(), "s.yaml:9:17") {
			t.Errorf("%s: err %v", c.name, ds)
		}
	}
}
