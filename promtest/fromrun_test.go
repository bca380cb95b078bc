package promtest

import (
	"math"
	"strings"
	"testing"

	"github.com/andon-sre/andon/rulegen"
)

func TestQuantileOfRates(t *testing.T) {
	inf := math.Inf(1)
	for _, tc := range []struct {
		name  string
		q     float64
		rates []leRate
		want  float64
		ok    bool
	}{
		{"interpolates inside the bucket holding the rank", 0.5, []leRate{{0.1, 10}, {0.2, 30}, {inf, 40}}, 0.15, true},
		{"the first bucket interpolates from zero", 0.1, []leRate{{0.1, 10}, {0.2, 30}, {inf, 40}}, 0.04, true},
		{"a rank in +Inf answers the highest finite bound", 0.99, []leRate{{0.1, 10}, {0.2, 30}, {inf, 40}}, 0.2, true},
		{"order of the input does not matter", 0.5, []leRate{{inf, 40}, {0.2, 30}, {0.1, 10}}, 0.15, true},
		{"no traffic is no value", 0.5, []leRate{{0.1, 0}, {inf, 0}}, 0, false},
		{"no +Inf bucket is no value", 0.5, []leRate{{0.1, 1}, {0.2, 2}}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := quantileOfRates(tc.q, tc.rates)
			if ok != tc.ok || math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("quantileOfRates = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestFromRunRefusesEmptyRuns(t *testing.T) {
	_, _, err := FromRun(&rulegen.Result{}, "rules.yaml", Observed{}, FromRunOptions{})
	if err == nil || !strings.Contains(err.Error(), "no series") {
		t.Errorf("error %v, want one saying the run has no series", err)
	}
}
