package webhook

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecode: the decoder never panics, and whatever it accepts is valid and
// survives a round trip with the same idempotency keys.
func FuzzDecode(f *testing.F) {
	f.Add(encode(payload(`{}:{service="svc"}`, 2, "firing")))
	f.Add([]byte(`{"version":"4"}`))
	f.Add([]byte(`{"version":"4","groupKey":"g","status":"firing","notification_reason":"repeat interval","routeLabels":{},"x":{"y":[1]},` +
		`"alerts":[{"status":"firing","labels":{"alertname":"A"},"startsAt":"2026-07-01T12:00:00Z","fingerprint":"f","silencedBy":null}]}`))
	if fixtures, err := filepath.Glob(filepath.Join("testdata", "alertmanager-v*.json")); err == nil {
		for _, p := range fixtures {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(bytes.NewReader(b))
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid message: %v", err)
		}
		for _, u := range m.Unknown {
			known := messageFields
			if name, ok := strings.CutPrefix(u, "alerts[]."); ok {
				u, known = name, alertFields
			}
			if known[strings.ToLower(u)] {
				t.Fatalf("known field %q reported unknown", u)
			}
		}
		m2, err := Decode(bytes.NewReader(encode(m)))
		if err != nil {
			t.Fatalf("re-encoded message rejected: %v", err)
		}
		for i := range m.Alerts {
			if m.Key(m.Alerts[i]) != m2.Key(m2.Alerts[i]) {
				t.Fatalf("key changed in a round trip: %q vs %q", m.Key(m.Alerts[i]), m2.Key(m2.Alerts[i]))
			}
		}
	})
}
