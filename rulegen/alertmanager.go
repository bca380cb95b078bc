package rulegen

import (
	"fmt"
	"slices"
	"strings"

	"github.com/andon-sre/andon/limits"
)

// AlertmanagerOptions are what the snippet needs beyond the spec. WebhookURL and CredentialsFile
// come from flags; left empty, the spec's alertmanager section fills them, else a placeholder
// (WithSpec warns about it).
type AlertmanagerOptions struct {
	WebhookURL      string // where `andon webhook` listens
	CredentialsFile string // bearer token file Alertmanager sends
	GroupWait       string
	GroupInterval   string
	RepeatInterval  string // must stay below the actuator's action TTL, so re-sends renew actions
	// PageRepeatInterval is how often people's receivers (alertmanager.notify) are re-notified of
	// an alert still firing: not every RepeatInterval, which exists to renew actions.
	PageRepeatInterval string
}

// Placeholders written into the receiver when neither a flag nor the spec says where the webhook
// runs: they pass amtool's checks and reach nothing, hence the warnings.
const (
	PlaceholderWebhookURL      = "http://127.0.0.1:9095/webhook"
	PlaceholderCredentialsFile = "/etc/alertmanager/secrets/andon-webhook-token"
)

// DefaultAlertmanagerOptions: repeat_interval 5m is below the actuator's default 15m TTL; people
// are re-notified every 4h, Alertmanager's own default.
func DefaultAlertmanagerOptions() AlertmanagerOptions {
	return AlertmanagerOptions{GroupWait: "10s", GroupInterval: "1m", RepeatInterval: "5m", PageRepeatInterval: "4h"}
}

// WithSpec fills the webhook URL and the credentials file left empty from the spec, then with
// the placeholders, and returns what a careful operator must hear before deploying the snippet:
// every placeholder used (naming the flag and the spec key that set it) and every level that pages
// nobody.
func (o AlertmanagerOptions) WithSpec(spec *limits.Spec) (AlertmanagerOptions, []string) {
	var warns []string
	fill := func(v *string, fromSpec, placeholder, flag, key string) {
		if *v == "" {
			*v = fromSpec
		}
		if *v == "" {
			*v = placeholder
			warns = append(warns, fmt.Sprintf("the Alertmanager receiver %s uses the placeholder %s %q: set --%s or alertmanager.%s in the spec, or notifications go nowhere",
				ReceiverName(spec), key, placeholder, flag, key))
		}
	}
	fill(&o.WebhookURL, spec.Alertmanager.WebhookURL, PlaceholderWebhookURL, "webhook.url", "webhook_url")
	fill(&o.CredentialsFile, spec.Alertmanager.CredentialsFile, PlaceholderCredentialsFile, "webhook.credentials-file", "credentials_file")
	for _, l := range limits.Levels {
		if spec.Alertmanager.Notify.Get(l) == nil && slices.ContainsFunc(spec.Levels.Get(l).Actions, func(a limits.Action) bool { return a.Kind == limits.ActionPage }) {
			warns = append(warns, fmt.Sprintf("levels.%s pages, but alertmanager.notify.%s names no receiver: its alerts reach the andon webhook, no person; add e.g. `notify: {%s: [oncall-pager]}`", l, l, l))
		}
	}
	return o, warns
}

// AlertmanagerSnippet is the part of an Alertmanager config that routes the service's alerts to
// the andon webhook: a child route, the receiver, and inhibitions (emergency silences red
// silences yellow for the same service and signal).
type AlertmanagerSnippet struct {
	Route        AMRoute      `yaml:"route"`
	Receivers    []AMReceiver `yaml:"receivers"`
	InhibitRules []AMInhibit  `yaml:"inhibit_rules"`
}

// AMRoute is a route of an Alertmanager config (the subset andon writes).
type AMRoute struct {
	Receiver       string    `yaml:"receiver,omitempty"`
	Matchers       []string  `yaml:"matchers,omitempty"`
	GroupBy        []string  `yaml:"group_by,omitempty"`
	GroupWait      string    `yaml:"group_wait,omitempty"`
	GroupInterval  string    `yaml:"group_interval,omitempty"`
	RepeatInterval string    `yaml:"repeat_interval,omitempty"`
	Continue       bool      `yaml:"continue,omitempty"`
	Routes         []AMRoute `yaml:"routes,omitempty"`
}

// AMReceiver is a receiver with one webhook.
type AMReceiver struct {
	Name           string      `yaml:"name"`
	WebhookConfigs []AMWebhook `yaml:"webhook_configs"`
}

// AMWebhook is a webhook_config.
type AMWebhook struct {
	URL          string       `yaml:"url"`
	SendResolved bool         `yaml:"send_resolved"`
	MaxAlerts    int          `yaml:"max_alerts"`
	HTTPConfig   AMHTTPConfig `yaml:"http_config"`
}

// AMHTTPConfig carries the bearer token (prometheus/common http_config).
type AMHTTPConfig struct {
	Authorization AMAuthorization `yaml:"authorization"`
}

// AMAuthorization is the Authorization header setting.
type AMAuthorization struct {
	Type            string `yaml:"type"`
	CredentialsFile string `yaml:"credentials_file"`
}

// AMInhibit is an inhibit_rule.
type AMInhibit struct {
	SourceMatchers []string `yaml:"source_matchers"`
	TargetMatchers []string `yaml:"target_matchers"`
	Equal          []string `yaml:"equal"`
}

// ReceiverName is the andon receiver of a service.
func ReceiverName(spec *limits.Spec) string { return "andon-" + spec.Service }

// Alertmanager builds the snippet for spec. Its one route matches the service's alerts and has
// `continue: true`, so routes merged after it still see them; its children deliver every alert to
// the andon webhook and each level's alerts to the receivers alertmanager.notify names (the
// parent's receiver would be used only when no child matched, which never happens: the first
// child matches everything).
func Alertmanager(spec *limits.Spec, o AlertmanagerOptions) AlertmanagerSnippet {
	o, _ = o.WithSpec(spec)
	svc := fmt.Sprintf("%s=%q", limits.LabelService, spec.Service)
	groupBy := append([]string{"alertname", limits.LabelService, limits.LabelSignal, limits.LabelLevel, limits.LabelBurnWindow}, spec.GroupBy...)
	equal := append([]string{limits.LabelService, limits.LabelSignal}, spec.GroupBy...)
	route := AMRoute{
		Receiver: ReceiverName(spec), Matchers: []string{svc}, GroupBy: groupBy,
		GroupWait: o.GroupWait, GroupInterval: o.GroupInterval, RepeatInterval: o.RepeatInterval, Continue: true,
		Routes: []AMRoute{{Receiver: ReceiverName(spec), Continue: true}},
	}
	names, levels := spec.Alertmanager.NotifyReceivers()
	for _, r := range names {
		route.Routes = append(route.Routes, AMRoute{Receiver: r, Matchers: []string{levelMatcher(levels[r])}, RepeatInterval: o.PageRepeatInterval, Continue: true})
	}
	snip := AlertmanagerSnippet{
		Route: AMRoute{Routes: []AMRoute{route}},
		Receivers: []AMReceiver{{Name: ReceiverName(spec), WebhookConfigs: []AMWebhook{{
			URL: o.WebhookURL, SendResolved: true,
			HTTPConfig: AMHTTPConfig{Authorization: AMAuthorization{Type: "Bearer", CredentialsFile: o.CredentialsFile}},
		}}}},
	}
	// Each level silences the ones below it, for the same service, signal and group.
	for i := len(limits.Levels) - 1; i > 0; i-- {
		var lower []string
		for _, l := range limits.Levels[:i] {
			lower = append(lower, string(l))
		}
		slices.Reverse(lower)
		snip.InhibitRules = append(snip.InhibitRules, AMInhibit{
			SourceMatchers: []string{svc, fmt.Sprintf("%s=%q", limits.LabelLevel, limits.Levels[i])},
			TargetMatchers: []string{svc, fmt.Sprintf("%s=~%q", limits.LabelLevel, strings.Join(lower, "|"))},
			Equal:          equal,
		})
	}
	return snip
}

// levelMatcher matches alerts of the given levels.
func levelMatcher(ls []limits.Level) string {
	if len(ls) == 1 {
		return fmt.Sprintf("%s=%q", limits.LabelLevel, ls[0])
	}
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = string(l)
	}
	return fmt.Sprintf("%s=~%q", limits.LabelLevel, strings.Join(names, "|"))
}

// AlertmanagerYAML renders the snippet with a header saying how to merge it.
func AlertmanagerYAML(spec *limits.Spec, o AlertmanagerOptions) ([]byte, error) {
	head := fmt.Sprintf(`# Generated by andon for service %s. DO NOT EDIT: change the spec and run `+"`andon generate`"+`.
# Merge into your Alertmanager config: put route.routes FIRST among your root route's routes
# (the route continues, so your routes after it still get every alert; a route of yours before
# it without `+"`continue: true`"+` would keep alerts from andon), add receivers to receivers and
# inhibit_rules to inhibit_rules. The receivers named in the spec's alertmanager.notify must be
# defined in your config. Token file and webhook URL: --webhook.* flags or the spec.
`, spec.Service)
	return marshal(head, Alertmanager(spec, o))
}
