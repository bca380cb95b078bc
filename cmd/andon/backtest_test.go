package main

import (
	"testing"
	"time"
)

func TestBacktestTimeRange(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, from, to, rng string
		want                [2]string // RFC 3339; empty: an error
	}{
		{"--range ends now", "", "now", "30d", [2]string{"2026-01-30T12:00:00Z", "2026-03-01T12:00:00Z"}},
		{"--range ends at --to", "", "2025-06-05T00:00:00Z", "3d", [2]string{"2025-06-02T00:00:00Z", "2025-06-05T00:00:00Z"}},
		{"--from overrides --range", "1748822400", "2025-06-03T00:00:00Z", "30d", [2]string{"2025-06-02T00:00:00Z", "2025-06-03T00:00:00Z"}},
		{"a bad --range", "", "now", "thirty days", [2]string{}},
		{"a bad --to", "", "yesterday", "1d", [2]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, to, err := timeRange(tc.from, tc.to, tc.rng, now)
			if tc.want[0] == "" {
				if err == nil {
					t.Fatalf("want an error, got %s … %s", from, to)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := [2]string{from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339)}; got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
