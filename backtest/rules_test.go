package backtest

import (
	"strings"
	"testing"
)

func TestParseRulesRefusesWhatItCannotReplay(t *testing.T) {
	for _, tc := range []struct {
		name, rules, want string
	}{
		{"a rule reads a series recorded later in the same group",
			"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: r > 1\n  - record: r\n    expr: sum(x)\n", "recorded only later"},
		{"a rule reads a series recorded by a later group",
			"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: r > 1\n- name: h\n  rules:\n  - record: r\n    expr: sum(x)\n", "recorded only later"},
		{"an alert is built on ALERTS",
			"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: ALERTS{alertname=\"B\"} == 1\n", "ALERTS"},
		{"a group has a query offset",
			"groups:\n- name: g\n  query_offset: 1m\n  rules:\n  - alert: A\n    expr: x > 1\n", "query_offset"},
		{"a selector has no metric name",
			"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: '{job=\"x\"} > 1'\n", "no metric name"},
		{"the file does not parse",
			"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x >\n", "f.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRules("f.yaml", []byte(tc.rules))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestParseRulesFindsRawInputsAndLookBacks(t *testing.T) {
	rs, err := ParseRules("f.yaml", []byte(`groups:
- name: g
  interval: 15s
  rules:
  - record: r
    expr: sum by (i) (rate(errors{job="a"}[5m]))
  - record: s
    expr: max_over_time(gauge{job="a"}[10m:1m] offset 2m)
  - alert: A
    expr: r > 0.5 and on (i) rate(errors{job="a"}[1h]) > 0
    for: 1m
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := rs.need[`errors{job="a"}`]; got.String() != "1h0m0s" {
		t.Errorf("errors is read back %s, want 1h (its longest range)", got)
	}
	if got := rs.need[`gauge{job="a"}`]; got.String() != "12m0s" {
		t.Errorf("gauge is read back %s, want 12m (subquery range + offset)", got)
	}
	a := rs.Alerts()[0]
	if len(a.deps) != 1 || a.deps[0].String() != `errors{job="a"}` {
		t.Errorf("alert A depends on %v, want errors{job=\"a\"} (through r)", a.deps)
	}
}

func TestSignalOf(t *testing.T) {
	for _, tc := range []struct {
		name, expr, signal string
		threshold          float64
		below              bool
	}{
		{"the first comparison of an and-chain", "a > 0.005 and b > 0.005 and c >= 1", "a", 0.005, false},
		{"a number on the left turns the comparison round", "0.5 < x", "x", 0.5, false},
		{"below a threshold", "avail <= 0.99", "avail", 0.99, true},
		{"target down", "up == 0", "up", 0, false},
		{"no comparison: no signal", "absent(up)", "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := promParser.ParseExpr(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			s, th, below := signalOf(e)
			got := ""
			if s != nil {
				got = s.String()
			}
			if got != tc.signal || th != tc.threshold || below != tc.below {
				t.Errorf("signalOf(%s) = %q %v below=%v, want %q %v below=%v", tc.expr, got, th, below, tc.signal, tc.threshold, tc.below)
			}
		})
	}
}

func TestBudget(t *testing.T) {
	rep := &Report{Rules: "spec", Samples: 10, PagesPerMonth: map[string]float64{"critical": 8, "warning": 4},
		Alerts: []*AlertReport{{Name: "A", NoData: 0.6}}}
	for _, tc := range []struct {
		name   string
		b      Budget
		report *Report
		want   []string
	}{
		{"within the page budget, no-data unchecked", Budget{MaxPagesPerMonth: 12, MaxNoData: -1}, rep, nil},
		{"over the page budget", Budget{MaxPagesPerMonth: 10, MaxNoData: -1}, rep, []string{"12.00 times per month"}},
		{"an alert blind too often", Budget{MaxPagesPerMonth: 20, MaxNoData: 0.5}, rep, []string{"alert A had no data for 60%"}},
		{"nothing read proves nothing", Budget{MaxPagesPerMonth: -1, MaxNoData: -1}, &Report{Rules: "spec"}, []string{"no raw samples"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.b.Check(tc.report)
			if len(got) != len(tc.want) {
				t.Fatalf("Check = %q, want %d reason(s) %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("reason %q lacks %q", got[i], w)
				}
			}
		})
	}
}

// FuzzParseRules: any rule file either loads or is refused with an error; it never panics, and
// what loads has its raw inputs known.
func FuzzParseRules(f *testing.F) {
	f.Add([]byte("groups:\n- name: g\n  rules:\n  - record: r\n    expr: sum(rate(x[5m]))\n  - alert: A\n    expr: r > 1\n    for: 1m\n"))
	f.Add([]byte("groups:\n- name: g\n  interval: 15s\n  rules:\n  - alert: A\n    expr: max_over_time(x[10m:1m] offset 2m) > 1\n"))
	f.Add([]byte("groups: []\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := ParseRules("fuzz.yaml", b)
		if err != nil {
			return
		}
		for _, vs := range rs.raw {
			if _, ok := rs.need[vs.String()]; !ok {
				t.Fatalf("raw selector %s has no look-back", vs)
			}
		}
	})
}
