// Package webhook receives Alertmanager notifications (webhook version 4),
// records them durably in the andon ledger's store, opens alert-driven
// andons, and hands the alerts to the actuator.
package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Message is Alertmanager's webhook payload, version "4".
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

// Decode reads one Message strictly: unknown fields, trailing data, a
// version other than "4" and missing required fields are errors.
func Decode(r io.Reader) (*Message, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var m Message
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode Alertmanager webhook payload: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode Alertmanager webhook payload: data after the JSON object")
	}
	return &m, m.Validate()
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
