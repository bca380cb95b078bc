package kaizen

import (
	"fmt"
	"testing"
	"time"

	"github.com/andon-sre/andon/andon"
)

// A year of a busy ledger: 10,000 andons over 100 skus, 9 in 10 resolved.
func BenchmarkBuild10kAndons(b *testing.B) {
	var all []andon.Andon
	for i := range 10_000 {
		opened := start.Add(time.Duration(i) * 52 * time.Minute)
		a := andon.Andon{ID: fmt.Sprintf("AND-%05d", i), Type: andon.FailureTypes[i%len(andon.FailureTypes)], SKU: fmt.Sprint("sku-", i%100),
			Stage: andon.DefaultStages[i%len(andon.DefaultStages)], Status: andon.StatusOpen, OpenedAt: opened}
		if i%10 != 0 {
			res := opened.Add(time.Duration(1+i%48) * time.Hour)
			a.Status, a.ResolvedAt = andon.StatusResolved, &res
			a.Resolution = &andon.Resolution{RootCause: "r", FixApplied: "f", PreventionAdded: "p"}
		}
		all = append(all, a)
	}
	now := start.Add(365 * 24 * time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(all, Options{From: start, To: now}, now); err != nil {
			b.Fatal(err)
		}
	}
}
