// Package actuator turns alerts into actions on services (shed load, reject
// new connections, drain) under a policy with safety limits, and reports
// every decision it makes.
package actuator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/andon-sre/andon/actuator/admission"
	"github.com/andon-sre/andon/limits"
)

// Kind is an action kind, as spelled in the alert's `action` label (limits spells them).
type Kind = limits.ActionKind

// Action kinds. Page is Alertmanager's job and andon is the ledger's; the
// actuator executes shed, reject_new and drain.
const (
	Page      = limits.ActionPage
	Shed      = limits.ActionShed
	RejectNew = limits.ActionRejectNew
	Drain     = limits.ActionDrain
	Andon     = limits.ActionAndon
)

// executableKinds are the kinds the actuator executes.
var executableKinds = []Kind{Shed, RejectNew, Drain}

// ParseActions splits an `action` label ("page,shed,andon"; "none" is empty).
func ParseActions(label string) []Kind {
	var out []Kind
	for _, s := range strings.Split(label, ",") {
		if s = strings.TrimSpace(s); s != "" && s != "none" {
			out = append(out, Kind(s))
		}
	}
	return out
}

func executable(k Kind) bool { return slices.Contains(executableKinds, k) }

// Policy is the actuator's config file.
type Policy struct {
	// DryRun records what would be done and does nothing.
	DryRun bool `yaml:"dry_run"`
	// KillSwitch, or the existence of KillSwitchFile, stops all actions.
	KillSwitch     bool   `yaml:"kill_switch"`
	KillSwitchFile string `yaml:"kill_switch_file"`
	// RepeatInterval is Alertmanager's repeat_interval for these alerts; every
	// TTL must be longer so that re-sends renew actions before they expire.
	RepeatInterval model.Duration `yaml:"alertmanager_repeat_interval"`
	Defaults       Safety         `yaml:"defaults"`
	// MaxConcurrent bounds the actions executing at once (default 4).
	MaxConcurrent int                 `yaml:"max_concurrent"`
	Retry         Retry               `yaml:"retry"`
	Escalation    Escalation          `yaml:"escalation"`
	Services      map[string]*Service `yaml:"services"`
	Rules         []Rule              `yaml:"rules"`
}

// Safety limits; a rule may override them.
type Safety struct {
	TTL      model.Duration `yaml:"ttl"`       // default 15m
	Cooldown model.Duration `yaml:"cooldown"`  // between changes on one target; default 1m
	HoldDown model.Duration `yaml:"hold_down"` // wait after resolved before reverting; default 5m
	// MaxShedFraction caps the alert's shed_fraction (default 0.8).
	MaxShedFraction float64 `yaml:"max_shed_fraction"`
	// MinHealthyInstances is never undercut by drain (default 1).
	MinHealthyInstances int `yaml:"min_healthy_instances"`
}

// Retry is the backoff for unreachable targets.
type Retry struct {
	Attempts       int            `yaml:"attempts"`        // default 4
	InitialBackoff model.Duration `yaml:"initial_backoff"` // default 200ms
	MaxBackoff     model.Duration `yaml:"max_backoff"`     // default 5s
	Timeout        model.Duration `yaml:"timeout"`         // per attempt, default 5s
}

// Escalation climbs the ladder while an alert keeps firing: an alert whose
// actions include step k gets step k+1 after firing for After, k+2 after 2×After.
type Escalation struct {
	Ladder []Kind         `yaml:"ladder"` // default shed, reject_new, drain
	After  model.Duration `yaml:"after"`  // 0 disables escalation
}

// Service says how a service is reached: the admission API of each instance,
// a command, or a generic HTTP call.
type Service struct {
	Instances []Instance `yaml:"instances"`
	// Token (or TokenFile) is the admission API bearer token.
	Token     string      `yaml:"token"`
	TokenFile string      `yaml:"token_file"`
	Exec      *ExecTarget `yaml:"exec"`
	HTTP      *HTTPTarget `yaml:"http"`
}

// Instance is one replica; URL is its admission endpoint (…/admin/admission).
type Instance struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
}

// ExecTarget runs a command per action; the action is passed as JSON on
// stdin and as ANDON_* environment variables.
type ExecTarget struct {
	Command []string `yaml:"command"`
}

// HTTPTarget sends the action as JSON to a URL.
type HTTPTarget struct {
	Method  string            `yaml:"method"`
	URL     string            `yaml:"url"`
	Headers map[string]string `yaml:"headers"`
}

// Rule maps alerts (by label equality) to actions and per-rule settings.
// The first matching rule applies; without one, the alert's `action` label does.
type Rule struct {
	Match map[string]string `yaml:"match"`
	// Actions replaces the alert's `action` label when set ([] = do nothing).
	Actions *[]Kind `yaml:"actions"`
	DryRun  bool    `yaml:"dry_run"`
	Safety  *Safety `yaml:"safety"`
}

func (r Rule) matches(labels map[string]string) bool {
	for k, v := range r.Match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// LoadPolicy reads and validates a policy file (strict: unknown keys fail).
func LoadPolicy(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("actuator policy: %w", err)
	}
	p, err := ParsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("actuator policy %s: %w", path, err)
	}
	return p, nil
}

// DecodeStrict decodes one YAML document into v, refusing unknown keys; an
// empty document leaves v as it is (all defaults). The webhook config uses it too.
func DecodeStrict(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// ParsePolicy decodes a policy strictly and fills in defaults.
func ParsePolicy(b []byte) (*Policy, error) {
	p := &Policy{}
	if err := DecodeStrict(b, p); err != nil {
		return nil, err
	}
	p.setDefaults()
	return p, p.Validate()
}

func (s *Safety) fill(d Safety) {
	if s.TTL == 0 {
		s.TTL = d.TTL
	}
	if s.Cooldown == 0 {
		s.Cooldown = d.Cooldown
	}
	if s.HoldDown == 0 {
		s.HoldDown = d.HoldDown
	}
	if s.MaxShedFraction == 0 {
		s.MaxShedFraction = d.MaxShedFraction
	}
	if s.MinHealthyInstances == 0 {
		s.MinHealthyInstances = d.MinHealthyInstances
	}
}

func (p *Policy) setDefaults() {
	p.Defaults.fill(Safety{TTL: model.Duration(15 * time.Minute), Cooldown: model.Duration(time.Minute), HoldDown: model.Duration(5 * time.Minute), MaxShedFraction: 0.8, MinHealthyInstances: 1})
	for i := range p.Rules {
		if p.Rules[i].Safety != nil {
			p.Rules[i].Safety.fill(p.Defaults)
		}
	}
	if p.MaxConcurrent == 0 {
		p.MaxConcurrent = 4
	}
	if p.Retry.Attempts == 0 {
		p.Retry.Attempts = 4
	}
	if p.Retry.InitialBackoff == 0 {
		p.Retry.InitialBackoff = model.Duration(200 * time.Millisecond)
	}
	if p.Retry.MaxBackoff == 0 {
		p.Retry.MaxBackoff = model.Duration(5 * time.Second)
	}
	if p.Retry.Timeout == 0 {
		p.Retry.Timeout = model.Duration(5 * time.Second)
	}
	if len(p.Escalation.Ladder) == 0 {
		p.Escalation.Ladder = []Kind{Shed, RejectNew, Drain}
	}
}

// Validate reports every problem at once, each naming its place.
func (p *Policy) Validate() error {
	var errs []error
	check := func(where string, s Safety) {
		if p.RepeatInterval > 0 && s.TTL <= p.RepeatInterval {
			errs = append(errs, fmt.Errorf("%s: ttl %s must be longer than alertmanager_repeat_interval %s, or actions expire between re-sends", where, s.TTL, p.RepeatInterval))
		}
		if s.TTL < model.Duration(admission.MinTTL) || s.TTL > model.Duration(admission.MaxTTL) {
			errs = append(errs, fmt.Errorf("%s: ttl %s must be within 1s..24h (the admission API's range)", where, s.TTL))
		}
		if s.MaxShedFraction <= 0 || s.MaxShedFraction > 1 {
			errs = append(errs, fmt.Errorf("%s: max_shed_fraction %v must be in (0, 1]", where, s.MaxShedFraction))
		}
		if s.MinHealthyInstances < 0 {
			errs = append(errs, fmt.Errorf("%s: min_healthy_instances must not be negative", where))
		}
	}
	check("defaults", p.Defaults)
	for i, r := range p.Rules {
		where := fmt.Sprintf("rules[%d]", i)
		if r.Safety != nil {
			check(where+".safety", *r.Safety)
		}
		if r.Actions != nil {
			for _, k := range *r.Actions {
				if !executable(k) && k != Page && k != Andon {
					errs = append(errs, fmt.Errorf("%s.actions: unknown action %q: use page, shed, reject_new, drain or andon", where, k))
				}
			}
		}
	}
	for _, k := range p.Escalation.Ladder {
		if !executable(k) {
			errs = append(errs, fmt.Errorf("escalation.ladder: %q is not one of shed, reject_new, drain", k))
		}
	}
	if p.MaxConcurrent < 0 || p.Retry.Attempts < 0 {
		errs = append(errs, errors.New("max_concurrent and retry.attempts must not be negative"))
	}
	for name, s := range p.Services {
		where := "services." + name
		if s == nil {
			errs = append(errs, fmt.Errorf("%s: empty: give instances (admission API), exec or http", where))
			continue
		}
		ways := 0
		for _, in := range s.Instances {
			if in.URL != "" {
				ways = 1
			}
			if in.Name == "" {
				errs = append(errs, fmt.Errorf("%s.instances: every instance needs a name (the value of its `instance` label)", where))
			}
		}
		if s.Exec != nil {
			ways++
			if len(s.Exec.Command) == 0 {
				errs = append(errs, fmt.Errorf("%s.exec.command is empty", where))
			}
		}
		if s.HTTP != nil {
			ways++
			if s.HTTP.URL == "" {
				errs = append(errs, fmt.Errorf("%s.http.url is empty", where))
			}
		}
		if ways != 1 {
			errs = append(errs, fmt.Errorf("%s: give exactly one way to reach it: instances with url (admission API), exec, or http", where))
		}
		if s.TokenFile != "" {
			b, err := os.ReadFile(s.TokenFile)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.token_file: %w", where, err))
			}
			s.Token = strings.TrimSpace(string(b))
		}
	}
	return errors.Join(errs...)
}

// killed tells whether the kill switch is on.
func (p *Policy) killed() bool {
	if p.KillSwitch {
		return true
	}
	if p.KillSwitchFile != "" {
		if _, err := os.Stat(p.KillSwitchFile); err == nil {
			return true
		}
	}
	return false
}

// ParseShedAnnotations reads an alert's shed_fraction and shed_tiers
// annotations: the one rule for both. Absent annotations give the defaults;
// a present one that is invalid is an error naming it, and the action is
// refused (recorded with that reason), never sent with a guess: a fraction
// must be a number in (0, 1] (0 sheds nothing, NaN is no number), tiers a
// comma-separated list of distinct tiers 1..3.
func ParseShedAnnotations(ann map[string]string) (float64, []admission.Tier, error) {
	f := limits.DefaultShedFraction
	if s, ok := ann[limits.AnnotationShedFraction]; ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(v) || v <= 0 || v > 1 {
			return 0, nil, fmt.Errorf("annotation %s=%q is not a number in (0, 1]", limits.AnnotationShedFraction, s)
		}
		f = v
	}
	tiers := admission.DefaultShedTiers
	if s, ok := ann[limits.AnnotationShedTiers]; ok {
		tiers = nil
		for p := range strings.SplitSeq(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || n < int(admission.TierCritical) || n > int(admission.TierBatch) || slices.Contains(tiers, admission.Tier(n)) {
				return 0, nil, fmt.Errorf("annotation %s=%q is not a list of distinct tiers %d..%d", limits.AnnotationShedTiers, s, admission.TierCritical, admission.TierBatch)
			}
			tiers = append(tiers, admission.Tier(n))
		}
	}
	return f, tiers, nil
}
