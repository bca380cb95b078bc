package harness

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustProfile(t *testing.T, yaml string) *Profile {
	t.Helper()
	p, err := ParseProfile([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const openProfile = `
name: open-test
duration: 2s
rate: {shape: constant, rps: 200}
sessions: 4
timeout: 2s
mix:
  - {weight: 3, method: tools/call, tool: echo, arguments: {text: hi}, tier: 1}
  - {weight: 1, method: tools/list, tier: 3}
  - {weight: 1, method: tools/call, tool: sleep, arguments: {ms: 1}, tier: 2}
`

func runBounded(t *testing.T, opts Options) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func TestOpenModelBothEras(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind serverKind
		era  string
	}{
		{"a stateless server is driven in the 2026-07-28 revision", stateless2026, Era20260728},
		{"a stateful server is driven in sessions of the 2025-11-25 revision", stateful2025, Era20251125},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, tc.kind, nil)
			var progress bytes.Buffer
			res := runBounded(t, Options{Target: Target{URL: srv.URL}, Profile: mustProfile(t, openProfile), Progress: &progress})
			if res.Era != tc.era {
				t.Errorf("era %s, want %s", res.Era, tc.era)
			}
			if res.Intended < 380 || res.Intended > 401 {
				t.Errorf("intended %d requests, want about 400 (200/s for 2s)", res.Intended)
			}
			if res.Sent+res.Dropped != res.Intended {
				t.Errorf("sent %d + dropped %d != intended %d", res.Sent, res.Dropped, res.Intended)
			}
			if res.Errors != 0 {
				t.Errorf("%d errors: %v", res.Errors, res.ErrorSamples)
			}
			tiers := map[int]bool{}
			for _, op := range res.Operations {
				tiers[op.Tier] = true
			}
			if !tiers[1] || !tiers[2] || !tiers[3] {
				t.Errorf("operations by tier %v, want all three tiers", tiers)
			}
			if res.Sessions.Peak != 4 {
				t.Errorf("peak sessions %d, want 4", res.Sessions.Peak)
			}
			if tc.era == Era20251125 && srv.deletes.Load() != 4 {
				t.Errorf("%d DELETEs, want one per session (4)", srv.deletes.Load())
			}
			if lines := strings.Count(progress.String(), "\n"); lines < 2 {
				t.Errorf("progress printed %d lines, want one a second:\n%s", lines, progress.String())
			}
			if len(res.Recording.Series) == 0 || res.Recording.Steps < 3 {
				t.Errorf("recording has %d series over %d steps", len(res.Recording.Series), res.Recording.Steps)
			}
		})
	}
}

func TestSessionFloodReachesNAndCleansUp(t *testing.T) {
	srv := startServer(t, stateful2025, nil)
	p := mustProfile(t, `
name: flood
model: closed
duration: 2s
ramp_up: 1s
sessions: 30
session_rps: 5
mix: [{weight: 1, method: ping}]
`)
	res := runBounded(t, Options{Target: Target{URL: srv.URL}, Profile: p})
	if res.Sessions.Peak != 30 || res.Sessions.Opened != 30 {
		t.Errorf("sessions opened %d, peak %d; want 30", res.Sessions.Opened, res.Sessions.Peak)
	}
	// 31 DELETEs: the 30 sessions and the probe that detected the protocol.
	if got := srv.deletes.Load(); got != 31 || res.Sessions.Closed != 30 {
		t.Errorf("DELETEs %d, closed %d; want 31 and 30", got, res.Sessions.Closed)
	}
	if res.Errors != 0 {
		t.Errorf("%d errors: %v", res.Errors, res.ErrorSamples)
	}
	// Session i runs from i/30 s to 2 s at 5/s: about 5 × (60 − 14.5) ≈ 230.
	if res.Intended < 180 || res.Intended > 260 {
		t.Errorf("intended %d pings, want about 230", res.Intended)
	}
}

// stallFor holds every request that arrives in [from, from+d) until the stall ends.
func stallFor(from time.Time, d time.Duration) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if now := time.Now(); now.After(from) && now.Before(from.Add(d)) {
				time.Sleep(from.Add(d).Sub(now))
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestCoordinatedOmissionCorrection(t *testing.T) {
	const stall = time.Second
	var once sync.Once
	var wrapStart time.Time
	srv := startServer(t, stateless2026, func(h http.Handler) http.Handler {
		// The server freezes for 1 s, starting 0.5 s into the run.
		once.Do(func() { wrapStart = time.Now().Add(500 * time.Millisecond) })
		return stallFor(wrapStart, stall)(h)
	})
	// One request in flight at a time: during the stall the schedule keeps
	// going but nothing can be sent, the situation an uncorrected
	// closed-loop tool hides.
	p := mustProfile(t, `
name: co
duration: 2s
rate: {shape: constant, rps: 200}
max_in_flight: 1
timeout: 5s
mix: [{weight: 1, method: ping}]
`)
	res := runBounded(t, Options{Target: Target{URL: srv.URL}, Profile: p})
	c, u := res.Overall.Latency, res.Overall.Uncorrected
	t.Logf("corrected p50 %s p99 %s max %s; uncorrected p50 %s p99 %s max %s; late %d",
		fmtSeconds(c.P50), fmtSeconds(c.P99), fmtSeconds(c.Max), fmtSeconds(u.P50), fmtSeconds(u.P99), fmtSeconds(u.Max), res.Late)
	// The first request caught by the stall was intended at most one
	// interval (5 ms) after it began, so it waited at least stall − 5 ms.
	if c.Max < stall.Seconds()-0.005 {
		t.Errorf("corrected max %s < the %s stall", fmtSeconds(c.Max), stall)
	}
	if c.P99 < 0.9*stall.Seconds() {
		t.Errorf("corrected p99 %s, want ≥ 0.9 × the %s stall", fmtSeconds(c.P99), stall)
	}
	if u.P99 > stall.Seconds()/10 {
		t.Errorf("uncorrected p99 %s, want far below the stall (it only sees one slow request)", fmtSeconds(u.P99))
	}
	if res.Late < 100 {
		t.Errorf("late %d, want the ~200 requests scheduled during the stall counted late", res.Late)
	}
}

// Interrupting a run (Ctrl-C) stops it at once, keeps what was measured
// and does not blame the server for the calls it cut short.
func TestInterruptedRunStopsPromptly(t *testing.T) {
	srv := startServer(t, stateless2026, nil)
	p := mustProfile(t, `{name: long, duration: 1m, rate: {rps: 50}, mix: [{weight: 1, method: tools/call, tool: sleep, arguments: {ms: 300}}]}`)
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := Run(ctx, Options{Target: Target{URL: srv.URL}, Profile: p})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("an interrupted 1-minute run took %s to return", d)
	}
	if res.Errors != 0 || res.Completed == 0 {
		t.Errorf("completed %d, errors %d (%v); want the finished calls and no errors", res.Completed, res.Errors, res.ErrorSamples)
	}
	// 50/s for about 0.8 s: the slots due by the interrupt are intended,
	// each sent or dropped as interrupted; the rest of the minute is not.
	if !res.Interrupted || res.Intended < 20 || res.Intended > 60 || res.Sent+res.Dropped != res.Intended || res.Completed > res.Sent {
		t.Errorf("interrupted %v, intended %d, sent %d, dropped %v, completed %d; want an interrupted run of ~40 slots that adds up",
			res.Interrupted, res.Intended, res.Sent, res.DroppedBy, res.Completed)
	}
}

// The under-provisioned run: 1000/s for 5 s, at most 10 in flight, a
// 100 ms tool. The client can send about 100/s; every one of the 5,000
// scheduled slots must still be counted and classified, and the ones never
// sent must weigh on the corrected latency.
func TestUnderProvisionedRunAccountsForEverySlot(t *testing.T) {
	srv := startServer(t, stateless2026, nil)
	p := mustProfile(t, `
name: under-provisioned
duration: 5s
rate: {rps: 1000}
max_in_flight: 10
mix: [{weight: 1, method: tools/call, tool: sleep, arguments: {ms: 100}}]
`)
	res := runBounded(t, Options{Target: Target{URL: srv.URL}, Profile: p})
	t.Logf("intended %d, sent %d, completed %d, dropped %v; corrected p50 %s p99 %s",
		res.Intended, res.Sent, res.Completed, res.DroppedBy, fmtSeconds(res.Overall.Latency.P50), fmtSeconds(res.Overall.Latency.P99))
	if res.Intended != 5000 {
		t.Errorf("intended %d, want the whole schedule: 5000", res.Intended)
	}
	if res.Sent+res.Dropped != res.Intended || res.Completed > res.Sent {
		t.Errorf("counters do not add up: intended %d, sent %d, dropped %d, completed %d", res.Intended, res.Sent, res.Dropped, res.Completed)
	}
	var byReason uint64
	for _, n := range res.DroppedBy {
		byReason += n
	}
	if byReason != res.Dropped || res.DroppedBy[DropDeadline] < 4000 {
		t.Errorf("dropped %d by reason %v; want every drop classified, most of them deadline (waiting behind the cap at the end)", res.Dropped, res.DroppedBy)
	}
	// ~10 in flight × 10/s for 5 s: a few hundred sent, not thousands.
	if res.Sent < 200 || res.Sent > 700 {
		t.Errorf("sent %d, want about 500 (10 in flight × 100 ms for 5 s)", res.Sent)
	}
	// Most slots waited seconds by the end of the run: the corrected median shows it.
	if res.Overall.Latency.P50 < 1 || res.Overall.Dropped != res.Dropped {
		t.Errorf("corrected p50 %s, dropped in the overall row %d; want the unsent slots' waits counted (p50 ≥ 1 s)", fmtSeconds(res.Overall.Latency.P50), res.Overall.Dropped)
	}
}
