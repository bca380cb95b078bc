package promtest

import (
	"strings"

	"github.com/prometheus/prometheus/model/rulefmt"

	"github.com/andon-sre/andon/rulegen"
)

// LedgerTests are promtool tests of rulegen.LedgerRules with default
// options: each alert stays quiet before its condition holds long enough and
// fires after, with all its labels and annotations.
func LedgerTests(rulesFile string) (*File, error) {
	gs, err := rulegen.LedgerRules(rulegen.LedgerOptions{})
	if err != nil {
		return nil, err
	}
	alerts := map[string]rulefmt.Rule{}
	for _, r := range gs[0].Rules {
		alerts[r.Alert] = r
	}
	const sku, typ = "build-7", "test_failure"
	expect := func(name string, labels map[string]string) []ExpAlert {
		r := alerts[name]
		l := map[string]string{}
		for k, v := range r.Labels {
			l[k] = v
		}
		for k, v := range labels {
			l[k] = v
		}
		ann := map[string]string{}
		for k, v := range r.Annotations { // the annotations use only these two labels
			ann[k] = strings.NewReplacer("{{ $labels.sku }}", sku, "{{ $labels.type }}", typ).Replace(v)
		}
		return []ExpAlert{{ExpLabels: l, ExpAnnotations: ann}}
	}
	both := map[string]string{"sku": sku, "type": typ}
	return &File{
		RuleFiles:          []string{rulesFile},
		EvaluationInterval: "1m",
		Tests: []Group{
			{
				Name: "AndonOpen fires once an andon has been open for a minute", Interval: "1m",
				InputSeries: []Series{{Series: `andon_open{sku="build-7",type="test_failure"}`, Values: "_x2 1x5"}},
				AlertRuleTests: []AlertTest{
					{EvalTime: "1m", Alertname: "AndonOpen"},
					{EvalTime: "2m", Alertname: "AndonOpen"},
					{EvalTime: "4m", Alertname: "AndonOpen", ExpAlerts: expect("AndonOpen", both)},
				},
			},
			{
				Name: "AndonBlockedTooLong fires when the oldest open andon is older than 4h", Interval: "1m",
				// opened at the epoch: the test's time() is the sku's blocked time
				InputSeries: []Series{{Series: `andon_open_since_timestamp_seconds{sku="build-7"}`, Values: "0x300"}},
				AlertRuleTests: []AlertTest{
					{EvalTime: "3h", Alertname: "AndonBlockedTooLong"},
					{EvalTime: "4h", Alertname: "AndonBlockedTooLong"},
					{EvalTime: "4h5m", Alertname: "AndonBlockedTooLong", ExpAlerts: expect("AndonBlockedTooLong", map[string]string{"sku": sku})},
				},
			},
			{
				Name: "AndonRecurring fires on the first recurrence of a new series and on a later one", Interval: "1m",
				InputSeries: []Series{{Series: `andon_recurrences_total{sku="build-7",type="test_failure"}`, Values: "_x10 1x60 2x20"}},
				AlertRuleTests: []AlertTest{
					{EvalTime: "5m", Alertname: "AndonRecurring"},
					{EvalTime: "20m", Alertname: "AndonRecurring", ExpAlerts: expect("AndonRecurring", both)},
					{EvalTime: "70m", Alertname: "AndonRecurring"}, // an hour after the first: quiet again
					{EvalTime: "80m", Alertname: "AndonRecurring", ExpAlerts: expect("AndonRecurring", both)},
				},
			},
		},
	}, nil
}
