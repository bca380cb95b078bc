package webhook

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/andon-sre/andon/internal/pgtest"
)

// BenchmarkIngest: closed loop at saturation. 10-alert notifications over
// loopback HTTP into the real SQLite store (WAL, synchronous=NORMAL, group
// commit), with 4 and 16 senders each posting the next notification as soon
// as the last one is acknowledged. Reports the maximum throughput; its ack
// latencies are mostly queueing (senders / throughput), not the service time.
//
// Each runs on the three ledgers side by side: SQLite, one replica on
// PostgreSQL and two replicas on one PostgreSQL (senders alternate between
// them). The CPU figure is this process's only: PostgreSQL's own processes
// are not in it.
func BenchmarkIngest(b *testing.B) {
	for _, ledger := range benchLedgers {
		for _, senders := range []int{4, 16} {
			b.Run(fmt.Sprintf("ledger=%s/senders=%d", ledger, senders), func(b *testing.B) {
				ing := newIngestBench(b, ledger, senders)
				b.ResetTimer()
				cpu0 := cpuTime()
				start := time.Now()
				ing.run(b, senders, func(i int) time.Time {
					return time.Now() // closed loop: each send starts when the last ack arrived
				})
				elapsed := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "notifications/s")
				ing.report(b, cpuTime()-cpu0)
			})
		}
	}
}

// The ledgers the ingest benchmarks compare.
var benchLedgers = []string{"sqlite", "postgres", "postgres-2-replicas"}

// BenchmarkIngestOpenLoop: the acknowledgement latency at a fixed offered
// rate. Notification i is due at start + i/rate; latency is measured from
// that due time, not from the actual send, so a stalled server is charged
// for every send it delayed (no coordinated omission). Enough senders that
// a slow answer never holds back the schedule for long.
func BenchmarkIngestOpenLoop(b *testing.B) {
	const rate = 2000 // notifications/s offered: the throughput goal
	for _, ledger := range benchLedgers {
		b.Run(fmt.Sprintf("ledger=%s/rate=%d", ledger, rate), func(b *testing.B) {
			const senders = 128
			ing := newIngestBench(b, ledger, senders)
			interval := time.Second / rate
			b.ResetTimer()
			cpu0 := cpuTime()
			start := time.Now().Add(10 * time.Millisecond)
			ing.run(b, senders, func(i int) time.Time {
				due := start.Add(time.Duration(i) * interval)
				time.Sleep(time.Until(due))
				return due
			})
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "notifications/s")
			ing.report(b, cpuTime()-cpu0)
		})
	}
}

type ingestBench struct {
	urls   []string      // the replicas, taken in turn
	pgCPU0 time.Duration // PostgreSQL's CPU at the start; -1 on SQLite
	bodies [][]byte
	client *http.Client
	mu     sync.Mutex
	hist   *hdrhistogram.Histogram
}

func newIngestBench(b *testing.B, ledger string, senders int) *ingestBench {
	var urls []string
	switch ledger {
	case "sqlite":
		_, url := testServer(b, "")
		urls = []string{url}
	default:
		db := pgtest.DB(b)
		for range map[string]int{"postgres": 1, "postgres-2-replicas": 2}[ledger] {
			_, url := startReplica(b, "db: "+db+"\ninsecure_no_auth: true\n")
			urls = append(urls, url)
		}
	}
	ing := &ingestBench{urls: urls, pgCPU0: -1, bodies: make([][]byte, b.N),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}},
		hist:   hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)}
	for i := range ing.bodies {
		ing.bodies[i] = encode(payload(fmt.Sprintf(`{}:{bench="%d"}`, i), 10, "firing"))
	}
	if ledger != "sqlite" {
		ing.pgCPU0 = pgtest.CPU()
	}
	return ing
}

// run posts every body from the given number of senders; due(i) waits until
// notification i may be sent and returns the time its latency counts from.
func (ing *ingestBench) run(b *testing.B, senders int, due func(i int) time.Time) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ing.bodies) {
					return
				}
				t0 := due(i)
				resp, err := ing.client.Post(ing.urls[i%len(ing.urls)]+"/webhook", "application/json", bytesReader(ing.bodies[i]))
				if err != nil {
					b.Error(err)
					return
				}
				drain(resp)
				d := time.Since(t0)
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
				}
				ing.mu.Lock()
				ing.hist.RecordValue(d.Microseconds())
				ing.mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// report adds the latency quantiles and the CPU time (user + system, this
// process: server and client) per notification, which a shared machine's
// load disturbs less than the latencies.
func (ing *ingestBench) report(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu_ms/notification")
	if ing.pgCPU0 >= 0 {
		b.ReportMetric(float64((pgtest.CPU()-ing.pgCPU0).Microseconds())/1000/float64(b.N), "pg_cpu_ms/notification")
	}
	b.ReportMetric(float64(ing.hist.ValueAtQuantile(50))/1000, "p50_ack_ms")
	b.ReportMetric(float64(ing.hist.ValueAtQuantile(99))/1000, "p99_ack_ms")
	b.ReportMetric(float64(ing.hist.Max())/1000, "max_ack_ms")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngestBesideHuge: fair ingest. Small (1-alert) notifications
// offered open loop at 200/s, their ack latency measured alone and while
// notifications of 12,000 alerts are ingested back to back beside them. The
// writer commits a huge notification in bounded chunks, so the small ones
// are committed between its chunks instead of waiting for all of it.
func BenchmarkIngestBesideHuge(b *testing.B) {
	const rate, huge = 200, 12000
	for _, beside := range []bool{false, true} {
		b.Run(fmt.Sprint("huge_beside=", beside), func(b *testing.B) {
			const senders = 32
			_, url := testServer(b, "max_body_bytes: 67108864\n")
			ing := &ingestBench{urls: []string{url}, pgCPU0: -1, bodies: make([][]byte, b.N),
				client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}},
				hist:   hdrhistogram.New(1, int64(60*time.Second/time.Microsecond), 3)}
			for i := range ing.bodies {
				ing.bodies[i] = encode(payload(fmt.Sprintf(`{}:{small="%d"}`, i), 1, "firing"))
			}
			// Encoded before the clock starts: the sender's own JSON work is not the server's.
			var huges [][]byte
			if beside {
				for i := range 8 {
					huges = append(huges, encode(payload(fmt.Sprintf(`{}:{huge="%d"}`, i), huge, "firing")))
				}
			}
			stop := make(chan struct{})
			var hugeWG sync.WaitGroup
			var hugeDone int
			var hugeTime time.Duration
			if beside {
				hugeWG.Go(func() {
					for _, body := range huges {
						select {
						case <-stop:
							return
						default:
						}
						t0 := time.Now()
						resp, err := http.Post(url+"/webhook", "application/json", bytesReader(body))
						if err != nil {
							b.Error(err)
							return
						}
						drain(resp)
						if resp.StatusCode != http.StatusOK {
							b.Errorf("huge notification: status %d", resp.StatusCode)
							return
						}
						hugeTime += time.Since(t0)
						hugeDone++
					}
				})
				time.Sleep(200 * time.Millisecond) // the first huge notification is being ingested
			}
			interval := time.Second / rate
			b.ResetTimer()
			start := time.Now().Add(10 * time.Millisecond)
			ing.run(b, senders, func(i int) time.Time {
				due := start.Add(time.Duration(i) * interval)
				time.Sleep(time.Until(due))
				return due
			})
			b.StopTimer()
			close(stop)
			hugeWG.Wait()
			b.ReportMetric(float64(ing.hist.ValueAtQuantile(50))/1000, "p50_ack_ms")
			b.ReportMetric(float64(ing.hist.ValueAtQuantile(99))/1000, "p99_ack_ms")
			b.ReportMetric(float64(ing.hist.Max())/1000, "max_ack_ms")
			if hugeDone > 0 {
				b.ReportMetric(hugeTime.Seconds()/float64(hugeDone), "s/huge_notification")
			}
		})
	}
}
