// Package webhook receives Alertmanager notifications (webhook version 4),
// records them durably in the andon ledger's store, opens alert-driven
// andons, and hands the alerts to the actuator.
package webhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Message is Alertmanager's webhook payload, version "4". Alertmanager adds
// fields across releases; the ones known here are kept, any other is listed
// in Unknown and otherwise ignored (tolerant where we consume).
type Message struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
	// Since Alertmanager 0.32: why this notification was sent ("first
	// notification", "new alerts in group", "repeat interval", …) and the
	// labels the matched route's matchers name.
	NotificationReason string            `json:"notification_reason,omitempty"`
	RouteLabels        map[string]string `json:"routeLabels,omitempty"`

	// Unknown lists the fields this receiver does not know, as paths
	// ("x", "alerts[].y"), each once, in the order found.
	Unknown []string `json:"-"`
}

// Alert is one alert of a Message.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Key is the idempotency key: sha256(groupKey) + fingerprint + startsAt.
// Re-sends and HA peers' duplicates produce the same key.
func (m *Message) Key(a Alert) string { return alertKey(groupHash(m.GroupKey), a) }

func groupHash(groupKey string) string {
	sum := sha256.Sum256([]byte(groupKey))
	return hex.EncodeToString(sum[:])
}

func alertKey(groupHash string, a Alert) string {
	return groupHash + ":" + a.Fingerprint + ":" + a.StartsAt.UTC().Format(time.RFC3339Nano)
}

// Decode reads one Message. Unknown fields are tolerated and listed in
// Message.Unknown; malformed JSON, a wrong type, trailing data, a version
// other than "4" and missing required fields are errors.
func Decode(r io.Reader) (*Message, error) {
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("decode Alertmanager webhook payload: %w", err)
	}
	var m Message
	// Fast path: a payload of known fields only, as every release up to the
	// newest we test sends. Any failure takes the tolerant path, which gives
	// the real error or the unknown fields.
	if err := decodeOne(body, &m, true); err != nil {
		m = Message{}
		if err := decodeOne(body, &m, false); err != nil {
			return nil, err
		}
		m.Unknown = unknownFields(body)
	}
	return &m, m.Validate()
}

// decodeOne decodes exactly one JSON value of body into m.
func decodeOne(body []byte, m *Message, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(m); err != nil {
		return fmt.Errorf("decode Alertmanager webhook payload: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("decode Alertmanager webhook payload: data after the JSON object")
	}
	return nil
}

var (
	messageFields = jsonFields(reflect.TypeFor[Message]())
	alertFields   = jsonFields(reflect.TypeFor[Alert]())
)

// jsonFields are the JSON names of t's fields, folded as encoding/json
// matches them (case-insensitively).
func jsonFields(t reflect.Type) map[string]bool {
	names := map[string]bool{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "-" && name != "" {
			names[strings.ToLower(name)] = true
		}
	}
	return names
}

// unknownFields lists the fields of a payload that decoded without error
// but is not only made of known fields.
func unknownFields(body []byte) []string {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	add := func(path string) {
		if !seen[path] {
			seen[path] = true
			out = append(out, path)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(top)) {
		if !messageFields[strings.ToLower(k)] {
			add(k)
		}
	}
	var alerts []map[string]json.RawMessage
	for k, v := range top {
		if strings.EqualFold(k, "alerts") {
			_ = json.Unmarshal(v, &alerts)
		}
	}
	for _, a := range alerts {
		for _, k := range slices.Sorted(maps.Keys(a)) {
			if !alertFields[strings.ToLower(k)] {
				add("alerts[]." + k)
			}
		}
	}
	return out
}

// Validate checks what the receiver relies on.
func (m *Message) Validate() error {
	var errs []error
	if m.Version != "4" {
		errs = append(errs, fmt.Errorf("version %q: only Alertmanager webhook version \"4\" is understood", m.Version))
	}
	if m.GroupKey == "" {
		errs = append(errs, errors.New("groupKey is empty"))
	}
	if m.Status != "firing" && m.Status != "resolved" {
		errs = append(errs, fmt.Errorf("status %q: want firing or resolved", m.Status))
	}
	if len(m.Alerts) == 0 {
		errs = append(errs, errors.New("alerts is empty"))
	}
	for i, a := range m.Alerts {
		if a.Status != "firing" && a.Status != "resolved" {
			errs = append(errs, fmt.Errorf("alerts[%d].status %q: want firing or resolved", i, a.Status))
		}
		if a.Fingerprint == "" {
			errs = append(errs, fmt.Errorf("alerts[%d].fingerprint is empty", i))
		}
		if a.StartsAt.IsZero() {
			errs = append(errs, fmt.Errorf("alerts[%d].startsAt is missing", i))
		}
		if a.Labels["alertname"] == "" {
			errs = append(errs, fmt.Errorf("alerts[%d].labels.alertname is missing", i))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid Alertmanager webhook payload: %w", errors.Join(errs...))
	}
	return nil
}
