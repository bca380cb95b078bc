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
