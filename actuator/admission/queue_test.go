package admission

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// gatedService serves /work one request at a time (MaxConcurrency 1): each admitted
// request records its tier and blocks until the test lets one through with next.
type gatedService struct {
	*testService
	gate chan struct{}

	mu     sync.Mutex
	served []Tier
	wg     sync.WaitGroup
	status sync.Map // request label → HTTP status
}

func startGated(t *testing.T, cfg Config) *gatedService {
	t.Helper()
	g := &gatedService{gate: make(chan struct{})}
	cfg.MaxConcurrency = 1
	cfg.QueueTimeout = time.Minute
	g.testService = startService(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.served = append(g.served, TierFromHeader(r))
		g.mu.Unlock()
		<-g.gate
	}))
	t.Cleanup(func() {
		close(g.gate)
		g.wg.Wait()
	})
	return g
}

// send starts a request of tier t labelled label and returns once the request
// holds the slot or waits in the queue (or was refused), so arrival order is fixed.
func (g *gatedService) send(t *testing.T, label string, tier Tier, wantQueued int64) {
	t.Helper()
	g.wg.Go(func() {
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/work", nil)
		req.Header.Set(TierHeader, strconv.Itoa(int(tier)))
		resp, err := g.Client().Do(req)
		if err != nil {
			g.status.Store(label, -1)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		g.status.Store(label, resp.StatusCode)
	})
	deadline := time.Now().Add(10 * time.Second)
	for g.c.slots.inUse.Load() < 1 || g.c.slots.waiting.Load() != wantQueued {
		if time.Now().After(deadline) {
			t.Fatalf("%s: queue length stayed %d, want %d", label, g.c.slots.waiting.Load(), wantQueued)
		}
		time.Sleep(time.Millisecond)
	}
}

// statusOf waits for the request labelled label to be answered.
func (g *gatedService) statusOf(t *testing.T, label string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if v, ok := g.status.Load(label); ok {
			return v.(int)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not answered", label)
		}
		time.Sleep(time.Millisecond)
	}
}

// drain lets every admitted request through and returns the tiers in service order.
func (g *gatedService) drain(t *testing.T, n int) []Tier {
	t.Helper()
	for range n {
		g.gate <- struct{}{}
	}
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.served)
}

func TestQueueServesTiersInPriorityOrder(t *testing.T) {
	g := startGated(t, Config{QueueCapacity: 10, MaxPassOver: 100})
	g.send(t, "holder", TierNormal, 0)
	for i, tier := range []Tier{3, 2, 1, 3, 1, 2} {
		g.send(t, fmt.Sprint("waiter", i), tier, int64(i+1))
	}
	got := g.drain(t, 7)
	want := []Tier{2, 1, 1, 2, 2, 3, 3}
	if !slices.Equal(got, want) {
		t.Fatalf("served in tier order %v, want %v (holder first, then strictly by tier, FIFO within a tier)", got, want)
	}
	wait := testutil.CollectAndCount(g.reg, "andon_admission_queue_wait_seconds")
	if wait != 3 {
		t.Errorf("andon_admission_queue_wait_seconds has %d series, want one per tier (3)", wait)
	}
}

func TestQueueFullEvictsTheLowestTierFirst(t *testing.T) {
	g := startGated(t, Config{QueueCapacity: 2, MaxPassOver: 100})
	g.send(t, "holder", TierNormal, 0)
	g.send(t, "batch", TierBatch, 1)
	g.send(t, "normal", TierNormal, 2)
	g.send(t, "critical-1", TierCritical, 2) // evicts batch
	if got := g.statusOf(t, "batch"); got != http.StatusServiceUnavailable {
		t.Fatalf("waiting batch request: status %d, want 503 (evicted for a critical one)", got)
	}
	g.send(t, "normal-2", TierNormal, 2) // nothing lower than tier 2 waits: refused itself
	if got := g.statusOf(t, "normal-2"); got != http.StatusServiceUnavailable {
		t.Fatalf("normal request at a queue of [normal, critical]: status %d, want 503", got)
	}
	g.send(t, "critical-2", TierCritical, 2) // evicts the waiting normal request
	if got := g.statusOf(t, "normal"); got != http.StatusServiceUnavailable {
		t.Fatalf("waiting normal request: status %d, want 503 (evicted for a critical one)", got)
	}
	g.send(t, "critical-3", TierCritical, 2) // the queue holds only tier 1: refused
	if got := g.statusOf(t, "critical-3"); got != http.StatusServiceUnavailable {
		t.Fatalf("critical request at a queue full of critical ones: status %d, want 503", got)
	}
	if got := g.drain(t, 3); !slices.Equal(got, []Tier{2, 1, 1}) {
		t.Fatalf("served %v, want the holder then both critical requests", got)
	}
	for tier, want := range map[Tier]float64{TierCritical: 1, TierNormal: 2, TierBatch: 1} {
		if got := testutil.ToFloat64(g.c.m.results[tier][QueueFull]); got != want {
			t.Errorf("queue_full for tier %d = %v, want %v", tier, got, want)
		}
	}
	if got := testutil.ToFloat64(g.c.m.queueDepth); got != 0 {
		t.Errorf("andon_admission_queue_depth = %v after the queue emptied, want 0", got)
	}
}

func TestLowerTierIsServedAfterMaxPassOver(t *testing.T) {
	g := startGated(t, Config{QueueCapacity: 10, MaxPassOver: 2})
	g.send(t, "holder", TierCritical, 0)
	g.send(t, "batch", TierBatch, 1)
	for i := range 5 {
		g.send(t, fmt.Sprint("critical", i), TierCritical, int64(i+2))
	}
	got := g.drain(t, 7)
	want := []Tier{1, 1, 1, 3, 1, 1, 1}
	if !slices.Equal(got, want) {
		t.Fatalf("served %v, want %v (batch passed over twice, then served once)", got, want)
	}
}

func TestQueueTimeoutLeavesTheQueueConsistent(t *testing.T) {
	g := startGated(t, Config{QueueCapacity: 4})
	g.c.slots.timeout = 20 * time.Millisecond
	g.send(t, "holder", TierNormal, 0)
	g.wg.Go(func() { g.call(t, tierHeader(TierBatch)) })
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(g.c.m.results[TierBatch][QueueTimeout]) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the queued batch request never timed out")
		}
		time.Sleep(time.Millisecond)
	}
	g.c.slots.timeout = time.Minute
	g.send(t, "critical", TierCritical, 1)
	if got := g.drain(t, 2); !slices.Equal(got, []Tier{2, 1}) {
		t.Fatalf("served %v after a timeout, want the holder then the critical request", got)
	}
	if n := g.c.slots.inUse.Load(); n != 0 {
		t.Errorf("%d slots still taken after every request finished", n)
	}
}

// saturation drives a MaxConcurrency 4, QueueCapacity 8 service (the setting under
// which FIFO refused tier 1 as often as the rest) with closed-loop clients per tier,
// more than slots and queue hold together, until each tier-1 client made perRequest
// calls. It returns the refusals and client-side latencies of admitted calls per tier.
func saturation(tb testing.TB, clients map[Tier]int, perClient int, service time.Duration) (refused map[Tier]int, latency map[Tier][]time.Duration, c *Controller) {
	s := startService(tb, Config{MaxConcurrency: 4, QueueCapacity: 8, QueueTimeout: time.Second},
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { time.Sleep(service) }))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	tb.Cleanup(client.CloseIdleConnections)
	refused, latency = map[Tier]int{}, map[Tier][]time.Duration{}
	var mu sync.Mutex
	var critical, rest sync.WaitGroup
	stop := make(chan struct{})
	call := func(tier Tier) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/work", nil)
		req.Header.Set(TierHeader, strconv.Itoa(int(tier)))
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			tb.Error(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		mu.Lock()
		defer mu.Unlock()
		if resp.StatusCode == http.StatusOK {
			latency[tier] = append(latency[tier], took)
			return
		}
		refused[tier]++
		time.Sleep(time.Millisecond) // a refused client backs off a little instead of spinning
	}
	for tier, n := range clients {
		for range n {
			if tier == TierCritical {
				critical.Go(func() {
					for range perClient {
						call(tier)
					}
				})
				continue
			}
			rest.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
						call(tier)
					}
				}
			})
		}
	}
	critical.Wait()
	close(stop)
	rest.Wait()
	return refused, latency, s.c
}

// meanQueueWait is the mean time admitted requests of tier t waited for a slot, from the
// controller's own andon_admission_queue_wait_seconds histogram.
func meanQueueWait(tb testing.TB, c *Controller, t Tier) time.Duration {
	var m dto.Metric
	if err := c.m.queueWait[t].(prometheus.Metric).Write(&m); err != nil {
		tb.Fatal(err)
	}
	h := m.GetHistogram()
	if h.GetSampleCount() == 0 {
		return 0
	}
	return time.Duration(h.GetSampleSum() / float64(h.GetSampleCount()) * float64(time.Second))
}

func p99(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)*99+99)/100-1]
}

// TestSaturationProtectsTierOne is the proof: at saturation tier 1 is never
// refused while it fits in slots plus queue, tier 3 takes the refusals, and tier 1
// waits in the queue less than tier 3 on average (the server's own histograms). The
// client p99 against the 100 ms objective is logged here and measured by
// BenchmarkSaturation (figures in docs/admission.md), not asserted: on a starved
// machine every tier's p99 is the scheduler's, and a timed assertion would fail for
// the wrong reason.
func TestSaturationProtectsTierOne(t *testing.T) {
	refused, latency, c := saturation(t, map[Tier]int{TierCritical: 3, TierNormal: 4, TierBatch: 12}, 150, 2*time.Millisecond)
	for tier := TierCritical; tier <= TierBatch; tier++ {
		t.Logf("tier %d: %d admitted, %d refused, client p99 %v, mean queue wait %v", tier, len(latency[tier]), refused[tier],
			p99(latency[tier]), meanQueueWait(t, c, tier))
	}
	if refused[TierCritical] != 0 {
		t.Errorf("%d tier-1 requests refused; 3 tier-1 clients always fit in 4 slots + 8 queue places", refused[TierCritical])
	}
	if refused[TierBatch] == 0 {
		t.Error("no tier-3 request refused: the test did not saturate the queue")
	}
	if refused[TierBatch] < refused[TierNormal] {
		t.Errorf("tier 3 refused %d times, tier 2 %d: refusals must fall on the lowest tier first", refused[TierBatch], refused[TierNormal])
	}
	if w1, w3 := meanQueueWait(t, c, TierCritical), meanQueueWait(t, c, TierBatch); w1 >= w3 {
		t.Errorf("tier 1 waited %v in the queue on average, tier 3 %v: the queue is not serving by priority", w1, w3)
	}
	if got := testutil.ToFloat64(c.m.results[TierCritical][Admitted]); int(got) != len(latency[TierCritical]) {
		t.Errorf("admitted counter for tier 1 = %v, want %d", got, len(latency[TierCritical]))
	}
}
