package main

import (
	"testing"
	"time"

	"github.com/andon-sre/andon/limits"
)

// TestLongestWindowCountsOnlyUsedLevels: the demo spec alerts at yellow and red (windows 5 s/15 s);
// emergency keeps its default windows (30 s/1 m) but no signal uses it, so the warm-up must not
// wait a minute for it.
func TestLongestWindowCountsOnlyUsedLevels(t *testing.T) {
	spec, _, err := limits.Load("limits.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := (&Stack{Spec: spec}).longestWindow(); got != 15*time.Second {
		t.Errorf("longest window of the demo spec = %s, want 15s", got)
	}
}

func TestReasonKindsBlankNumbers(t *testing.T) {
	for _, tc := range []struct{ reason, kind string }{
		{"McpserverLatencyP95Red firing since 15:24:38", "McpserverLatencyP95Red firing since #"},
		{"target harness: down, last scrape 2.134s ago", "target harness: down, last scrape # ago"},
		{"1 of 2 scrape targets up for the longest window (15s)", "# of # scrape targets up for the longest window (#)"},
		{"rule group g last evaluated 1m2.5s ago", "rule group g last evaluated # ago"},
	} {
		if got := numbers.ReplaceAllString(tc.reason, "#"); got != tc.kind {
			t.Errorf("%q: kind %q, want %q", tc.reason, got, tc.kind)
		}
	}
}
