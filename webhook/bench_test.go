package webhook

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// BenchmarkIngest: 10-alert notifications over loopback HTTP into the real
// SQLite store (WAL, synchronous=NORMAL, group commit), with 4 and 16
// concurrent senders. Reports notifications/s and p50/p99 acknowledgement
// latency (which grows with the number of senders waiting in the queue).
func BenchmarkIngest(b *testing.B) {
	for _, senders := range []int{4, 16} {
		b.Run(fmt.Sprint("senders=", senders), func(b *testing.B) { benchIngest(b, senders) })
	}
}

func benchIngest(b *testing.B, senders int) {
	_, url := testServer(b, "")
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = encode(payload(fmt.Sprintf(`{}:{bench="%d"}`, i), 10, "firing"))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	hist := hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				resp, err := client.Post(url+"/webhook", "application/json", bytesReader(bodies[i]))
				if err != nil {
					b.Error(err)
					return
				}
				drain(resp)
				d := time.Since(t0)
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
				}
				mu.Lock()
				hist.RecordValue(d.Microseconds())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "notifications/s")
	b.ReportMetric(float64(hist.ValueAtQuantile(50))/1000, "p50_ack_ms")
	b.ReportMetric(float64(hist.ValueAtQuantile(99))/1000, "p99_ack_ms")
}
