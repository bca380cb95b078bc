package webhook

import (
	"bytes"
	"testing"
)

// FuzzDecode: the decoder never panics, and whatever it accepts is valid and
// survives a round trip with the same idempotency keys.
func FuzzDecode(f *testing.F) {
	f.Add(encode(payload(`{}:{service="svc"}`, 2, "firing")))
	f.Add([]byte(`{"version":"4"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(bytes.NewReader(b))
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid message: %v", err)
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
