package andon

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// BenchmarkGate: "can sku proceed?" against 10,000 andons of 100 skus.
func BenchmarkGate(b *testing.B) {
	l, _ := openTest(b)
	ctx := context.Background()
	for i := range 10000 {
		res, err := l.Trigger(ctx, Trigger{Type: TestFailure, SKU: fmt.Sprint("sku-", i%100), Stage: "ci"})
		if err != nil {
			b.Fatal(err)
		}
		if i >= 100 { // one open andon per sku, nine resolved ones
			l.Resolve(ctx, res.Andon.ID, fix)
		}
	}
	hist := hdrhistogram.New(1, int64(time.Second/time.Microsecond), 3)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		g, err := l.Gate(ctx, fmt.Sprint("sku-", i%100), "deploy")
		if err != nil || g.Proceed {
			b.Fatal(err, g.Proceed)
		}
		hist.RecordValue(time.Since(t0).Microseconds())
	}
	b.ReportMetric(float64(hist.ValueAtQuantile(99))/1000, "p99_ms")
}

// BenchmarkConcurrentTriggers: 1,000 triggers at once (goal < 0.5 s).
func BenchmarkConcurrentTriggers(b *testing.B) {
	l, _ := openTest(b)
	ctx := context.Background()
	var worst time.Duration
	for range b.N {
		t0 := time.Now()
		var wg sync.WaitGroup
		for i := range 1000 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := l.Trigger(ctx, Trigger{Type: TestFailure, SKU: fmt.Sprint("sku-", i%50), Stage: "ci"}); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		worst = max(worst, time.Since(t0))
	}
	b.ReportMetric(worst.Seconds(), "worst_s/1000_triggers")
}
