package actuator

import (
	"math"
	"testing"

	"github.com/andon-sre/andon/actuator/admission"
	"github.com/andon-sre/andon/limits"
)

// FuzzParseShedAnnotations: alert annotations are outside input. Whatever
// they hold, what is accepted is a fraction in (0, 1] and distinct known
// tiers: nothing else can reach a service.
func FuzzParseShedAnnotations(f *testing.F) {
	for _, s := range [][2]string{{"0.5", "3,2"}, {"NaN", "3,3"}, {"0", ""}, {"1e-300", " 1 "}, {"+Inf", "2,,3"}} {
		f.Add(s[0], s[1], true, true)
	}
	f.Fuzz(func(t *testing.T, fraction, tiers string, hasFraction, hasTiers bool) {
		ann := map[string]string{}
		if hasFraction {
			ann[limits.AnnotationShedFraction] = fraction
		}
		if hasTiers {
			ann[limits.AnnotationShedTiers] = tiers
		}
		fr, ts, err := ParseShedAnnotations(ann)
		if err != nil {
			return
		}
		if math.IsNaN(fr) || fr <= 0 || fr > 1 {
			t.Fatalf("accepted fraction %v", fr)
		}
		seen := map[admission.Tier]bool{}
		for _, tier := range ts {
			if tier < admission.TierCritical || tier > admission.TierBatch || seen[tier] {
				t.Fatalf("accepted tiers %v", ts)
			}
			seen[tier] = true
		}
	})
}
