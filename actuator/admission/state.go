package admission

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Tier is a request's priority: 1 critical, 2 normal, 3 batch.
type Tier int

// The three priority tiers of docs/contracts.md.
const (
	TierCritical Tier = 1
	TierNormal   Tier = 2
	TierBatch    Tier = 3

	numTiers = 3
)

// DefaultShedTiers are the tiers shed when a PUT does not name them:
// batch first, then normal; critical only when listed explicitly.
var DefaultShedTiers = []Tier{TierBatch, TierNormal}

// TTL bounds of the admission API.
const (
	MinTTL = time.Second
	MaxTTL = 24 * time.Hour
)

// Update is the body of PUT /admin/admission. Every field is optional:
// fields present are applied, absent ones leave the current state untouched.
type Update struct {
	ShedFraction *float64 `json:"shed_fraction,omitempty"`
	ShedTiers    []Tier   `json:"shed_tiers,omitempty"`
	RejectNew    *bool    `json:"reject_new,omitempty"`
	Drain        *bool    `json:"drain,omitempty"`
	TTL          string   `json:"ttl,omitempty"`
	Reason       string   `json:"reason,omitempty"`
	AndonID      string   `json:"andon_id,omitempty"`
	SetBy        string   `json:"set_by,omitempty"`
}

// Setting is one active setting: who set it, why, and when it reverts.
type Setting struct {
	SetBy     string    `json:"set_by"`
	Reason    string    `json:"reason"`
	AndonID   string    `json:"andon_id"`
	SetAt     time.Time `json:"set_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// ShedSetting is the active shedding setting.
type ShedSetting struct {
	Fraction float64 `json:"fraction"`
	Tiers    []Tier  `json:"tiers"`
	Setting
}

// State is what GET and PUT /admin/admission answer. A setting that is off is nil.
type State struct {
	Shed      *ShedSetting `json:"shed"`
	RejectNew *Setting     `json:"reject_new"`
	Drain     *Setting     `json:"drain"`
	Now       time.Time    `json:"now"`
}

// settingJSON is a Setting on the wire.
type settingJSON struct {
	SetBy     string `json:"set_by"`
	Reason    string `json:"reason"`
	AndonID   string `json:"andon_id"`
	SetAt     string `json:"set_at"`
	ExpiresAt string `json:"expires_at"`
}

func (s Setting) wire() settingJSON {
	return settingJSON{s.SetBy, s.Reason, s.AndonID, utc(s.SetAt), utc(s.ExpiresAt)}
}

// utc prints t as RFC 3339 in UTC so every reader agrees.
func utc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// MarshalJSON writes times as RFC 3339 in UTC.
func (s Setting) MarshalJSON() ([]byte, error) { return json.Marshal(s.wire()) }

// MarshalJSON flattens the embedded Setting next to fraction and tiers.
func (s ShedSetting) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Fraction float64 `json:"fraction"`
		Tiers    []Tier  `json:"tiers"`
		settingJSON
	}{s.Fraction, s.Tiers, s.Setting.wire()})
}

// MarshalJSON writes now as RFC 3339 in UTC.
func (s State) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Shed      *ShedSetting `json:"shed"`
		RejectNew *Setting     `json:"reject_new"`
		Drain     *Setting     `json:"drain"`
		Now       string       `json:"now"`
	}{s.Shed, s.RejectNew, s.Drain, utc(s.Now)})
}

// maxTextLen bounds reason, andon_id and set_by: they end up in logs and metrics readers.
const maxTextLen = 256

// validated is an Update checked and with its TTL parsed.
type validated struct {
	Update
	ttl time.Duration
}

// validate checks u against the admission API contract and names the offending field.
func (u Update) validate() (validated, error) {
	v := validated{Update: u}
	if f := u.ShedFraction; f != nil && (math.IsNaN(*f) || *f < 0 || *f > 1) {
		return v, fmt.Errorf("shed_fraction: %v is outside 0..1 (0 clears shedding)", *f)
	}
	if u.ShedTiers != nil {
		if len(u.ShedTiers) == 0 {
			return v, errors.New("shed_tiers: empty list; omit the field to keep the current tiers or list tiers such as [3,2]")
		}
		for i, t := range u.ShedTiers {
			if t < TierCritical || t > TierBatch {
				return v, fmt.Errorf("shed_tiers[%d]: tier %d does not exist; tiers are 1 (critical), 2 (normal), 3 (batch)", i, t)
			}
			if slices.Contains(u.ShedTiers[:i], t) {
				return v, fmt.Errorf("shed_tiers[%d]: tier %d is listed twice", i, t)
			}
		}
	}
	for _, f := range [...]struct{ name, s string }{{"reason", u.Reason}, {"andon_id", u.AndonID}, {"set_by", u.SetBy}} {
		if len(f.s) > maxTextLen {
			return v, fmt.Errorf("%s: %d bytes is longer than the limit of %d", f.name, len(f.s), maxTextLen)
		}
	}
	turnsOn := (u.ShedFraction != nil && *u.ShedFraction > 0) || isTrue(u.RejectNew) || isTrue(u.Drain)
	if u.TTL == "" {
		if turnsOn {
			return v, errors.New(`ttl: required when a setting is turned on, e.g. "ttl": "5m" (1s..24h)`)
		}
		return v, nil
	}
	d, err := parseTTL(u.TTL)
	if err != nil {
		return v, fmt.Errorf("ttl: %q is not a duration such as \"90s\" or \"5m\": %w", u.TTL, err)
	}
	if d < MinTTL || d > MaxTTL {
		return v, fmt.Errorf("ttl: %s is outside %s..%s", u.TTL, MinTTL, MaxTTL)
	}
	v.ttl = d
	return v, nil
}

// parseTTL accepts Go durations ("1m30s", "300ms") and Prometheus ones ("1d", "1h30m").
func parseTTL(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	d, err := model.ParseDuration(strings.TrimSpace(s))
	return time.Duration(d), err
}

func isTrue(b *bool) bool { return b != nil && *b }

var errShedTiersAlone = errors.New("shed_tiers: shedding is off; send shed_fraction > 0 with the tiers to turn it on")
