package limits

import (
	"fmt"
	"strings"
	"testing"
)

// base is a minimal valid spec; cases append to it or replace it. Its lines are numbered so
// expected positions can be read off: line 1 service, 2 selector, 3 signals, 4 the signal.
const base = `service: svc
selector: '{job="svc"}'
signals:
  - name: errs
    kind: ratio
    description: failed requests
    errors: e_total
    total: r_total
    thresholds: {red: 1%}
`

// withSignal is base with a second signal whose mapping starts at line 10, column 5.
func withSignal(sig string) string { return base + "  - " + strings.TrimPrefix(sig, "\n") }

func TestBaseSpecIsValidWithoutWarnings(t *testing.T) {
	_, ds, err := Parse("base.yaml", []byte(base))
	if err != nil || len(ds) != 0 {
		t.Fatalf("base spec: err %v, diagnostics:\n%v", err, ds)
	}
}

// TestErrors holds one case per error message of the package: the spec, where the error points
// (line:col) and a part of its message.
func TestErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		at   string
		msg  string
	}{
		// YAML and structure (load.go)
		{"an empty file is not a spec", "", "1:1", "the spec is empty"},
		{"a file of comments only is empty", "# nothing\n", "1:1", "the spec is empty"},
		{"a second YAML document is rejected where it starts", base + "---\nservice: other\n", "10:1", "one YAML document"},
		{"a spec must be a mapping, not a list", "- service: svc\n", "1:1", "must be a YAML mapping"},
		{"malformed YAML reports the line the scanner gives", "service: [svc\nselector: x\n", "1:1", "did not find expected"},
		{"a duplicate key points at the second one", base + "service: again\n", "10:1", `mapping key "service" already defined at line 1`},
		{"control characters are located in the text", "service: s\x01vc\n", "1:11", "control characters are not allowed"},
		{"invalid UTF-8 is located in the text", "service: svc\ndescription: 'a\xffb'\n", "2:16", "UTF-8"},
		{"an unknown anchor points at the alias", "service: svc\ndescription: *nowhere\n", "2:14", "unknown anchor 'nowhere'"},
		{"an empty list item is not a signal", base + "  -\n", "10:4", "`signals[1]` is empty"},
		{"a wrong type points at the value", "service: svc\nsignals:\n  - name: p\n    quantile: high\n", "4:15", "cannot unmarshal !!str `high` into float64"},
		{"an unknown top-level key is named with the known ones", base + "servce: x\n", "10:1", `unknown key "servce" in the spec (known keys: alertmanager, dashboard_url, description,`},
		{"an unknown nested key names its path", base + "    treshold: 1\n", "10:5", "unknown key \"treshold\" in `signals[0]`"},
		{"an unknown key in levels names the level", base + "levels:\n  red:\n    fore: 1m\n", "12:5", "unknown key \"fore\" in `levels.red`"},
		{"a threshold must be a quantity or a mapping", withSignal("{name: g, kind: gauge, metric: m, description: d, thresholds: {red: [1]}}\n"), "10:73", "a threshold is a quantity"},
		{"a threshold mapping rejects unknown keys", withSignal("{name: g, kind: gauge, metric: m, description: d, thresholds: {red: {value: 1, four: 1m}}}\n"), "10:84", `unknown key "four" in a threshold`},
		{"a threshold mapping needs a value", withSignal("{name: g, kind: gauge, metric: m, description: d, thresholds: {red: {for: 1m}}}\n"), "10:73", "a threshold mapping needs `value`"},
		{"an unknown action is named with the known ones", base + "levels:\n  red:\n    actions: [page, reboot]\n", "12:21", `unknown action "reboot" (known: page, shed, reject_new, drain, andon)`},
		{"only shed takes parameters", base + "levels:\n  red:\n    actions: [{drain: {now: true}}]\n", "12:15", "only shed takes parameters"},
		{"shed parameters must be a mapping", base + "levels:\n  red:\n    actions: [{shed: 0.5}]\n", "12:22", "shed parameters are a mapping"},
		{"a shed fraction must be a number", base + "levels:\n  red:\n    actions: [{shed: {fraction: half}}]\n", "12:33", "shed fraction must be a number"},
		{"shed tiers must be a list of numbers", base + "levels:\n  red:\n    actions: [{shed: {tiers: batch}}]\n", "12:30", "shed tiers must be a list"},
		{"shed rejects unknown parameters", base + "levels:\n  red:\n    actions: [{shed: {fraction: 0.5, tier: [3]}}]\n", "12:38", `unknown key "tier" in shed`},
		{"an action is a name or a shed mapping, not a list", base + "levels:\n  red:\n    actions: [[page]]\n", "12:15", "an action is one of page, shed"},
		{"a duration must be a scalar", base + "scrape_interval: [15s]\n", "10:18", "expected a duration such as 30s"},
		{"a duration needs a unit", base + "scrape_interval: 15\n", "10:18", `invalid duration "15": use a number with a unit`},
		{"a quantity must be a scalar", withSignal("{name: g, kind: gauge, metric: m, description: d, thresholds: {red: {value: [1]}}}\n"), "10:81", "expected a number with an optional unit"},

		// The spec as a whole (validate.go)
		{"service is required", "selector: '{job=\"svc\"}'\nsignals: []\n", "1:1", "`service` is required"},
		{"service must be an identifier", strings.Replace(base, "service: svc", "service: my-svc", 1), "1:1", `service "my-svc" must be letters, digits and underscores`},
		{"extra label names must be valid", base + "labels: {team-name: x}\n", "1:1", `label name "team-name" is not a valid Prometheus label name`},
		{"extra labels may not be andon's own", base + "labels: {severity: low}\n", "1:1", `label "severity" is set by andon itself`},
		{"an unparsable selector is an error", strings.Replace(base, `'{job="svc"}'`, `'{job="svc"'`, 1), "1:1", `selector "{job=\"svc\"" does not parse`},
		{"a selector may not name a metric", strings.Replace(base, `'{job="svc"}'`, `'up{job="svc"}'`, 1), "1:1", "names a metric; it should only hold label matchers"},
		{"group_by labels must be usable", base + "group_by: [level]\n", "1:1", `group_by label "level" is not a usable label name`},
		{"scrape_interval must be positive", base + "scrape_interval: 0s\n", "10:18", "scrape_interval must be positive"},
		{"evaluation_interval must be positive", base + "evaluation_interval: 0s\n", "10:22", "evaluation_interval must be positive"},
		{"runbook_url must be absolute", base + "runbook_url: runbooks/svc\n", "1:1", `runbook_url "runbooks/svc" is not an absolute URL`},
		{"signals must not be empty", "service: svc\nselector: '{job=\"svc\"}'\nsignals: []\n", "1:1", "`signals` is empty"},
		{"a signal name may appear once", withSignal("{name: errs, kind: gauge, metric: m, description: d, thresholds: {red: 1}}\n"), "10:5", `signal "errs" is defined twice (first at line 4)`},
		{"no_data.for must be positive", base + "no_data: {for: 0s}\n", "10:16", "no_data.for must be positive"},
		{"no_data.level must be a level", base + "no_data: {level: orange}\n", "1:1", `no_data.level "orange" is not one of yellow, red, emergency`},
		// alertmanager (alertmanager.go)
		{"the webhook URL must be http(s)", base + "alertmanager:\n  webhook_url: andon:9095\n", "11:3", `alertmanager.webhook_url "andon:9095" is not an http(s) URL`},
		{"the credentials file must be absolute", base + "alertmanager:\n  credentials_file: token\n", "11:3", `alertmanager.credentials_file "token" must be an absolute path`},
		{"a receiver named twice in a level", base + "alertmanager:\n  notify: {red: [pager, pager]}\n", "11:3", `alertmanager.notify.red names receiver "pager" twice`},
		{"an empty receiver name", base + "alertmanager:\n  notify: {yellow: ['']}\n", "11:3", `alertmanager.notify.yellow has an empty receiver name`},
		{"the andon receiver is not a person", base + "alertmanager:\n  notify: {red: [andon-svc]}\n", "11:3", `"andon-svc" is the generated andon receiver`},

		// Levels
		{"a level's for must be positive", base + "levels:\n  red: {for: 0s}\n", "11:14", "levels.red.for must be positive"},
		{"a negative keep_firing_for is not a duration", base + "levels:\n  yellow: {keep_firing_for: -1m}\n", "11:29", `invalid duration "-1m"`},
		{"severity is warning or critical", base + "levels:\n  yellow: {severity: info}\n", "11:11", `levels.yellow.severity "info" must be warning or critical`},
		{"the long window must be longer than the short one", base + "levels:\n  red:\n    windows: {short: 2m, long: 1m}\n", "12:32", "levels.red.windows.long (1m) must be longer than short (2m)"},
		{"a window must hold two scrapes", base + "levels:\n  red:\n    windows: {short: 20s, long: 2m}\n", "12:22", "levels.red.windows.short (20s) must be at least 2 × scrape_interval (15s)"},
		{"an action may be listed once", base + "levels:\n  red:\n    actions: [page, page]\n", "12:21", "action page is listed twice"},
		{"a shed fraction is in (0, 1]", base + "levels:\n  red:\n    actions: [{shed: {fraction: 1.5}}]\n", "12:15", "shed fraction 1.5 must be in (0, 1]"},
		{"a shed tier is 1, 2 or 3", base + "levels:\n  red:\n    actions: [{shed: {tiers: [4]}}]\n", "12:15", "shed tier 4 is not a tier"},

		// Signals
		{"a signal needs a name", withSignal("{kind: gauge, metric: m, description: d, thresholds: {red: 1}}\n"), "10:5", "a signal needs a `name`"},
		{"a signal name must be an identifier", withSignal("{name: queue-depth, kind: gauge, metric: m, description: d, thresholds: {red: 1}}\n"), "10:5", `signal name "queue-depth" must be letters`},
		{"a signal kind must be known", withSignal("{name: g, kind: counter, metric: m, description: d, thresholds: {red: 1}}\n"), "10:5", `signal g: kind "counter" is not one of ratio, latency, gauge, rate, growth`},
		{"fields of another kind are rejected", withSignal("{name: g, kind: gauge, metric: m, histogram: h, description: d, thresholds: {red: 1}}\n"), "10:5", "signal g: `histogram` does not apply to kind gauge"},
		{"a unit must fit the kind", withSignal("{name: g, kind: latency, unit: bytes, histogram: h, quantile: 0.9, description: d, thresholds: {red: 1s}}\n"), "10:5", `signal g: unit "bytes" does not apply to kind latency`},
		{"direction is above or below", withSignal("{name: g, kind: gauge, direction: up, metric: m, description: d, thresholds: {red: 1}}\n"), "10:5", `signal g: direction "up" must be above or below`},
		{"aggregate is sum, max, min or avg", withSignal("{name: g, kind: gauge, aggregate: p50, metric: m, description: d, thresholds: {red: 1}}\n"), "10:5", `signal g: aggregate "p50" must be sum, max, min or avg`},
		{"a kind's required metric is named", withSignal("{name: g, kind: gauge, description: d, thresholds: {red: 1}}\n"), "10:5", "signal g: kind gauge needs `metric`, e.g. erlmcp_memory_bytes"},
		{"an unparsable metric reference is an error", withSignal("{name: g, kind: gauge, metric: 'm{', description: d, thresholds: {red: 1}}\n"), "10:5", `signal g: metric: "m{" does not parse as a metric selector`},
		{"min_rate must be a rate", strings.Replace(base, "    thresholds", "    min_rate: 1s\n    thresholds", 1), "9:15", `signal errs: min_rate: "1s" does not fit unit per_second`},
		{"min_rate must not be negative", strings.Replace(base, "    thresholds", "    min_rate: -1\n    thresholds", 1), "9:15", "signal errs: min_rate must not be negative"},
		{"a quantile is between 0 and 1", withSignal("{name: p, kind: latency, histogram: h, quantile: 95, description: d, thresholds: {red: 1s}}\n"), "10:5", "signal p: quantile must be between 0 and 1 exclusive"},
		{"cores must be positive", withSignal("{name: cpu, kind: rate, unit: percent, metric: c, cores: -2, description: d, thresholds: {red: 70%}}\n"), "10:5", "signal cpu: cores must be positive"},
		{"NaN cores are rejected", withSignal("{name: cpu, kind: rate, unit: percent, metric: c, cores: .nan, description: d, thresholds: {red: 70%}}\n"), "10:5", "signal cpu: cores must be positive"},
		{"a growth window must hold two scrapes", withSignal("{name: mg, kind: growth, metric: m, window: 15s, description: d, thresholds: {yellow: 1MB/s}}\n"), "10:49", "signal mg window (15s) must be at least 2 × scrape_interval"},
		{"a latency threshold needs a unit", withSignal("{name: p, kind: latency, histogram: h, quantile: 0.95, description: d, thresholds: {red: 150}}\n"), "10:94", `signal p: thresholds.red: "150" does not fit unit seconds: write a duration with a unit such as 150ms`},
		{"an unknown unit is named", withSignal("{name: p, kind: latency, histogram: h, quantile: 0.95, description: d, thresholds: {red: 150 msec}}\n"), "10:94", `has an unknown unit "msec"`},
		{"a NaN threshold is not a number", withSignal("{name: g, kind: gauge, metric: m, description: d, thresholds: {red: .nan}}\n"), "10:73", `signal g: thresholds.red: ".nan" is not a number with a unit`},
		{"an overflowing threshold is not finite", withSignal("{name: g, kind: gauge, metric: m, description: d, thresholds: {red: 1e400}}\n"), "10:73", `"1e400" is not a finite number`},
		{"a negative threshold is an error", withSignal("{name: g, kind: gauge, metric: m, description: d, thresholds: {red: -5}}\n"), "10:73", "signal g: thresholds.red -5 is negative; use direction: below"},
		{"a ratio threshold above 100% is an error", strings.Replace(base, "{red: 1%}", "{red: 150%}", 1), "9:23", "signal errs: thresholds.red 150% is above 100%"},
		{"a per-signal for must be positive", strings.Replace(base, "{red: 1%}", "{red: {value: 1%, for: 0s}}", 1), "9:40", "signal errs: thresholds.red.for must be positive"},
		{"thresholds must escalate upwards", strings.Replace(base, "{red: 1%}", "{yellow: 0.5%, red: 0.1%}", 1), "9:37", "signal errs: thresholds must escalate: red (0.1%) must be higher than yellow (0.5%) for direction above"},
		{"thresholds must escalate downwards for direction below", withSignal("{name: free, kind: gauge, direction: below, metric: m, description: d, thresholds: {yellow: 10, red: 20}}\n"), "10:106", "thresholds must escalate: red (20) must be lower than yellow (10) for direction below"},
		{"equal thresholds do not escalate", strings.Replace(base, "{red: 1%}", "{red: 1%, emergency: 1%}", 1), "9:38", "emergency (1%) must be higher than red (1%)"},
		{"a signal needs a threshold", strings.Replace(base, "{red: 1%}", "{}", 1), "4:5", "signal errs has no thresholds"},

		// SLO
		{"slo.objective is required", base + "slo: {signal: errs}\n", "10:6", "slo.objective is required"},
		{"slo.objective must be a ratio", base + "slo: {objective: 99.9ms, signal: errs}\n", "10:18", `slo.objective: "99.9ms" does not fit unit ratio`},
		{"slo.objective is below 100%", base + "slo: {objective: 100%, signal: errs}\n", "10:18", "slo.objective 100% must be between 0% and 100% exclusive"},
		{"slo.signal must be a ratio signal", withSignal("{name: g, kind: gauge, metric: m, description: d, thresholds: {red: 1}}\nslo: {objective: 99.9%, signal: g}\n"), "11:6", `slo.signal "g" must name a signal of kind ratio`},
		{"slo.period must be a day or more", base + "slo: {objective: 99.9%, signal: errs, period: 12h}\n", "10:47", "slo.period 12h is too short"},
		{"a burn window needs long", base + "slo:\n  objective: 99.9%\n  signal: errs\n  windows: [{budget_consumed: 2%}]\n", "13:13", "slo.windows[0].long is required"},
		{"a burn window pair may appear once", base + "slo:\n  objective: 99.9%\n  signal: errs\n  windows: [{long: 1h, budget_consumed: 2%}, {long: 1h, budget_consumed: 5%}]\n", "13:46", "slo.windows[1] repeats the window pair 1h_5m"},
		{"a burn short window is shorter than long", base + "slo:\n  objective: 99.9%\n  signal: errs\n  windows: [{long: 1h, short: 1h, budget_consumed: 2%}]\n", "13:31", "slo.windows[0].short (1h) must be shorter than long (1h)"},
		{"a burn short window holds two scrapes", base + "slo:\n  objective: 99.9%\n  signal: errs\n  windows: [{long: 1h, short: 10s, budget_consumed: 2%}]\n", "13:31", "slo.windows[0].short (10s) must be at least 2 × scrape_interval"},
		{"a burn for must be positive", base + "slo:\n  objective: 99.9%\n  signal: errs\n  windows: [{long: 1h, for: 0s, budget_consumed: 2%}]\n", "13:29", "slo.windows[0].for must be positive"},
		{"a burn level must be a level", base + "slo:\n  objective: 99.9%\n  signal: errs\n  windows: [{long: 1h, level: amber, budget_consumed: 2%}]\n", "13:13", `slo.windows[0].level "amber" is not one of yellow, red, emergency`},
		{"a burn window needs budget_consumed", base + "slo:\n  objective: 99.9%\n  signal: errs\n  windows: [{long: 1h}]\n", "13:13", "slo.windows[0].budget_consumed is required"},
		{"budget_consumed must be a ratio", base + "slo:\n  objective: 99.9%\n  signal: errs\n  windows: [{long: 1h, budget_consumed: 2MB}]\n", "13:41", `slo.windows[0].budget_consumed: "2MB" does not fit unit ratio`},
		{"budget_consumed is at most 100%", base + "slo:\n  objective: 99.9%\n  signal: errs\n  windows: [{long: 1h, budget_consumed: 120%}]\n", "13:41", "slo.windows[0].budget_consumed must be in (0%, 100%]"},
		{"a burn window is no longer than the period", base + "slo:\n  objective: 99.9%\n  signal: errs\n  period: 7d\n  windows: [{long: 8d, budget_consumed: 100%}]\n", "14:20", "slo.windows[0].long (8d) is longer than the period (1w)"},
		{"an unreachable default burn window points at the slo", base + "slo:\n  objective: 10%\n  signal: errs\n", "11:3", "slo.windows[0] (1h_5m) can never fire: burn factor 14.4 × budget 0.9"},
		{"an unreachable burn-rate alert is an error", base + "slo:\n  objective: 90%\n  signal: errs\n  windows: [{long: 1h, budget_consumed: 2%}]\n", "13:13", "slo.windows[0] (1h_5m) can never fire: burn factor 14.4 × budget 0.1 = 1.44 needs an error ratio above 100%"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec, ds, err := Parse("spec.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("no error; diagnostics: %v", ds)
			}
			if spec != nil {
				t.Errorf("a spec with errors was returned")
			}
			want := fmt.Sprintf("spec.yaml:%s: error: ", tc.at)
			for _, d := range ds.Errors() {
				if strings.Contains(d.Msg, tc.msg) {
					if got := d.String(); !strings.HasPrefix(got, want) {
						t.Errorf("position: got %q, want prefix %q", got, want)
					}
					return
				}
			}
			t.Errorf("no error contains %q; got:\n%v", tc.msg, ds)
		})
	}
}
