package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/andon-sre/andon/andon"
)

// BenchGate: "can sku proceed?" against 10,000 andons of 100 skus.
func BenchGate(b *testing.B, be Backend) {
	l, _ := open(b, be)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 16 { // concurrent setup: a server database commits them in groups
		wg.Go(func() {
			for i := w; i < 10000; i += 16 {
				res, err := l.Trigger(ctx, andon.Trigger{Type: andon.TestFailure, SKU: fmt.Sprint("sku-", i%100), Stage: "testing"})
				if err != nil {
					b.Error(err)
					return
				}
				if i >= 100 { // one open andon per sku, nine resolved ones
					l.Resolve(ctx, res.Andon.ID, Fix)
				}
			}
		})
	}
	wg.Wait()
	hist := hdrhistogram.New(1, int64(time.Second/time.Microsecond), 3)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		g, err := l.Gate(ctx, fmt.Sprint("sku-", i%100), "deployment")
		if err != nil || g.Proceed {
			b.Fatal(err, g.Proceed)
		}
		hist.RecordValue(time.Since(t0).Microseconds())
	}
	b.ReportMetric(float64(hist.ValueAtQuantile(99))/1000, "p99_ms")
}

// BenchConcurrentTriggers: 1,000 triggers at once (goal < 0.5 s).
func BenchConcurrentTriggers(b *testing.B, be Backend) {
	l, _ := open(b, be)
	ctx := context.Background()
	var worst time.Duration
	for range b.N {
		t0 := time.Now()
		var wg sync.WaitGroup
		for i := range 1000 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := l.Trigger(ctx, andon.Trigger{Type: andon.TestFailure, SKU: fmt.Sprint("sku-", i%50), Stage: "testing"}); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		worst = max(worst, time.Since(t0))
	}
	b.ReportMetric(worst.Seconds(), "worst_s/1000_triggers")
}

// BenchStoreIngest: the store alone (no HTTP, no JSON decoding), 10-alert
// notifications from 8 concurrent callers, every alert asking for an andon
// as the webhook's do: what the single writer and the checkpointer cost.
func BenchStoreIngest(b *testing.B, be Backend) {
	l, _ := open(b, be)
	ctx := context.Background()
	start := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	ns := make([]andon.Notification, b.N)
	for i := range ns {
		n := andon.Notification{Receiver: "andon", GroupKey: fmt.Sprint(i), ReceivedAt: start}
		for j := range 10 {
			n.Alerts = append(n.Alerts, andon.AlertEvent{Key: fmt.Sprintf("%064x:%016x:%s", i, j, start.Format(time.RFC3339Nano)), Status: "firing",
				Fingerprint: fmt.Sprintf("%016x", j), StartsAt: start,
				Labels:      map[string]string{"alertname": "SvcErrorRatioRed", "service": "svc", "signal": "error_ratio", "level": "red", "severity": "critical", "action": "page,andon", "instance": fmt.Sprint("i", j)},
				Annotations: map[string]string{"summary": "errors above 0.5%", "andon_type": "operating_limit"},
				Andon:       &andon.Trigger{Type: andon.OperatingLimit, SKU: "svc", Stage: "execution", Origin: "svc/SvcErrorRatioRed/error_ratio"}})
		}
		ns[i] = n
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range 8 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				if _, err := l.Ingest(ctx, ns[i]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
}

// BenchStoreIngestBesideHuge: the writer's fairness without HTTP and
// JSON. 1-alert notifications at 200/s (open loop, latency from the due
// time), alone and while 12,000-alert notifications are ingested back to
// back: their p99 is the wait for the writer plus their own commit.
func BenchStoreIngestBesideHuge(b *testing.B, be Backend) {
	const rate, huge = 200, 12000
	build := func(group string, n int) andon.Notification {
		at := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
		nt := andon.Notification{Receiver: "andon", GroupKey: group, ReceivedAt: at}
		for j := range n {
			nt.Alerts = append(nt.Alerts, andon.AlertEvent{Key: fmt.Sprintf("%s:%016x", group, j), Status: "firing", Fingerprint: fmt.Sprintf("%016x", j), StartsAt: at,
				Labels:      map[string]string{"alertname": "SvcErrorRatioRed", "service": "svc", "instance": fmt.Sprint("i", j)},
				Annotations: map[string]string{"summary": "errors above 0.5%"},
				Andon:       &andon.Trigger{Type: andon.OperatingLimit, SKU: "svc", Stage: "execution", Origin: "svc/SvcErrorRatioRed/error_ratio"}})
		}
		return nt
	}
	for _, beside := range []bool{false, true} {
		b.Run(fmt.Sprint("huge_beside=", beside), func(b *testing.B) {
			l, _ := open(b, be)
			ctx := context.Background()
			small := make([]andon.Notification, b.N)
			for i := range small {
				small[i] = build(fmt.Sprint("small-", i), 1)
			}
			var huges []andon.Notification
			if beside {
				for i := range 8 {
					huges = append(huges, build(fmt.Sprint("huge-", i), huge))
				}
			}
			stop := make(chan struct{})
			var bg sync.WaitGroup
			var hugeDone int
			var hugeTime time.Duration
			bg.Go(func() {
				for _, n := range huges {
					select {
					case <-stop:
						return
					default:
					}
					t0 := time.Now()
					if _, err := l.Ingest(ctx, n); err != nil {
						b.Error(err)
						return
					}
					hugeTime += time.Since(t0)
					hugeDone++
				}
			})
			if beside {
				time.Sleep(100 * time.Millisecond)
			}
			hist := hdrhistogram.New(1, int64(60*time.Second/time.Microsecond), 3)
			var mu sync.Mutex
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for i := range small {
				due := start.Add(time.Duration(i) * time.Second / rate)
				time.Sleep(time.Until(due))
				wg.Go(func() {
					if _, err := l.Ingest(ctx, small[i]); err != nil {
						b.Error(err)
					}
					mu.Lock()
					hist.RecordValue(time.Since(due).Microseconds())
					mu.Unlock()
				})
			}
			wg.Wait()
			b.StopTimer()
			close(stop)
			bg.Wait()
			b.ReportMetric(float64(hist.ValueAtQuantile(50))/1000, "p50_ack_ms")
			b.ReportMetric(float64(hist.ValueAtQuantile(99))/1000, "p99_ack_ms")
			b.ReportMetric(float64(hist.Max())/1000, "max_ack_ms")
			if hugeDone > 0 {
				b.ReportMetric(hugeTime.Seconds()/float64(hugeDone), "s/huge_notification")
			}
		})
	}
}
