package limits

import (
	"net/url"
	"path/filepath"
	"slices"
)

// AlertmanagerSpec says how the generated Alertmanager snippet reaches the andon webhook and
// which of the user's own receivers are notified at each level (people: chat, pager, …).
type AlertmanagerSpec struct {
	// WebhookURL is where `andon webhook` listens (its /webhook path); --webhook.url overrides it.
	WebhookURL string `yaml:"webhook_url"`
	// CredentialsFile is the bearer token file Alertmanager sends; --webhook.credentials-file
	// overrides it.
	CredentialsFile string `yaml:"credentials_file"`
	// Notify names, per level, receivers the user's Alertmanager config already defines.
	Notify Notify `yaml:"notify"`

	Pos Pos `yaml:"-"`
}

// Notify holds receiver names by level.
type Notify = ByLevel[[]string]

// NotifyReceivers lists the receivers of every level, each once, in first-named order, with the
// levels that notify it.
func (a *AlertmanagerSpec) NotifyReceivers() (names []string, levels map[string][]Level) {
	levels = map[string][]Level{}
	for _, l := range Levels {
		rs := a.Notify.Get(l)
		if rs == nil {
			continue
		}
		for _, r := range *rs {
			if _, ok := levels[r]; !ok {
				names = append(names, r)
			}
			if !slices.Contains(levels[r], l) {
				levels[r] = append(levels[r], l)
			}
		}
	}
	return names, levels
}

// validateAlertmanager checks the alertmanager section. (That a level pages nobody is a warning
// of the generated snippet: rulegen.AlertmanagerWarnings.)
func validateAlertmanager(c *collector, s *Spec) {
	a := &s.Alertmanager
	if a.WebhookURL != "" {
		if u, err := url.Parse(a.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.errorf(a.Pos, "alertmanager.webhook_url %q is not an http(s) URL such as http://andon-webhook:9095/webhook", a.WebhookURL)
		}
	}
	if a.CredentialsFile != "" && !filepath.IsAbs(a.CredentialsFile) {
		c.errorf(a.Pos, "alertmanager.credentials_file %q must be an absolute path (Alertmanager resolves relative paths against its own config file)", a.CredentialsFile)
	}
	for _, l := range Levels {
		rs := a.Notify.Get(l)
		if rs == nil {
			continue
		}
		seen := map[string]bool{}
		for _, r := range *rs {
			switch {
			case r == "":
				c.errorf(a.Pos, "alertmanager.notify.%s has an empty receiver name", l)
			case seen[r]:
				c.errorf(a.Pos, "alertmanager.notify.%s names receiver %q twice", l, r)
			case r == "andon-"+s.Service:
				c.errorf(a.Pos, "alertmanager.notify.%s: %q is the generated andon receiver, which gets every alert already; name your own receivers here", l, r)
			}
			seen[r] = true
		}
	}
}
