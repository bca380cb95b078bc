package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/andon-sre/andon/actuator/admission"
	"github.com/andon-sre/andon/andon"
	"github.com/andon-sre/andon/internal/pinned"
)

// Bounds of the e2e assertions, from the demo spec and stack timings.
const (
	ruleFor   = 5 * time.Second // red `for`
	evalEvery = 1 * time.Second // Prometheus evaluation_interval
	groupWait = 1 * time.Second // Alertmanager group_wait of the merged config
	margin    = 5 * time.Second // scrape lag (1s), the watcher's 250ms poll, webhook ingest, 2 cores under load
	// recoverWithin: after shedding, the capacity queue (≤ 50 messages at 100 msg/s = 0.5s) drains
	// and the 5s window must fill with fast requests: 5s + drain + margin.
	recoverWithin = 12 * time.Second
	revertSlack   = 2 * time.Second // expiry is checked on each request and scrape; the watcher polls every 250ms
)

// stackRepo is the repository root, two folders up from this package.
func stackRepo(t testing.TB) string {
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// stackConfig skips unless the stack is asked for and its binaries are built.
func stackConfig(t testing.TB) Config {
	if os.Getenv("ANDON_E2E") == "" {
		t.Skip("the closed-loop stack runs with ANDON_E2E=1 (make e2e), so `go test ./...` does not run it twice")
	}
	for _, tool := range []string{"prometheus", "alertmanager"} {
		pinned.Require(t, tool)
	}
	return DefaultConfig(stackRepo(t), t.TempDir())
}

func startStack(t testing.TB, ctx context.Context) *Stack {
	s, err := Start(ctx, stackConfig(t))
	if err != nil {
		t.Fatalf("starting the stack: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// TestE2E runs baseline → overload → recovery through the whole loop and checks each promise.
func TestE2E(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := startStack(t, ctx)
	sc := Scenario{Baseline: 15 * time.Second, Overload: 75 * time.Second, Recovery: 10 * time.Second, BaselineRPS: 50, OverloadRPS: 300}
	start := time.Now()
	w := NewWatcher(s, testWriter{t}, start)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go w.Run(wctx, 250*time.Millisecond)

	var andonID string
	hooks := Hooks{
		Baseline: func(ctx context.Context) {
			firing, err := s.queryVector(ctx, `ALERTS{service="mcpserver",alertstate="firing"}`)
			sn := s.Snapshot(ctx)
			var names []string
			for _, a := range firing {
				names = append(names, string(a.Metric["alertname"]))
			}
			t.Logf("baseline: %d firing alerts %v, %.0f actions applied, %d open andons, shed %v, p95 %s", len(firing), names, sn.Applied, len(sn.Andons), sn.Admission.Shed != nil, ms(sn.P95))
			if err != nil || sn.Err != nil {
				t.Errorf("baseline: reading the stack: %v %v", err, sn.Err)
			}
			if len(firing) > 0 || sn.Applied > 0 || len(sn.Andons) > 0 || sn.Admission.Shed != nil {
				t.Errorf("baseline must be quiet: want 0 firing alerts, 0 actions, 0 andons, no shedding")
			}
		},
		Overload: func(ctx context.Context) {
			onset, _ := w.First(EvOnset)
			recovered := waitEvent(ctx, t, w, EvRecovered, 45*time.Second)
			crossed, _ := w.First(EvCrossed)
			firing, _ := w.First(EvFiring)
			notified, _ := w.First(EvNotified)
			applied, _ := w.First(EvApplied)
			if recovered.At.IsZero() || crossed.At.IsZero() || firing.At.IsZero() || applied.At.IsZero() {
				t.Errorf("overload: the loop did not complete: events %+v", w.Events())
				return
			}
			fireBound := ruleFor + 2*evalEvery + groupWait + margin
			t.Logf("overload: crossing %.1fs after onset; firing %.1fs and notification %.1fs after the crossing (bound %s = for %s + 2×eval %s + group_wait %s + margin %s)",
				since(onset, crossed), since(crossed, firing), since(crossed, notified), fireBound, ruleFor, evalEvery, groupWait, margin)
			if d := notified.At.Sub(crossed.At); d > fireBound {
				t.Errorf("overload: red alert reached the webhook %s after the crossing, %s over the bound %s", d, d-fireBound, fireBound)
			}
			t.Logf("overload: shedding applied %.1fs after onset (%.1fs after the notification); p95 back under 280ms %.1fs after shedding (bound %s)",
				since(onset, applied), since(notified, applied), since(applied, recovered), recoverWithin)
			if d := recovered.At.Sub(applied.At); d > recoverWithin {
				t.Errorf("overload: p95 came back %s after shedding, %s over the bound %s", d, d-recoverWithin, recoverWithin)
			}
			andonID = checkOneAndonBlocks(ctx, t, s, "overload")
			failSafe(ctx, t, s, w, andonID)
		},
	}
	res, err := s.RunLoad(ctx, sc, w, hooks)
	if err != nil {
		t.Fatalf("load run: %v", err)
	}
	sn := s.Snapshot(ctx)
	t.Logf("run: %d requests, %.1f%% errors; shed by tier: %s", res.Completed, 100*res.Overall.ErrorRatio, tiers(sn.ShedByTier))
	if sn.ShedByTier["1"] != 0 {
		t.Errorf("critical tier 1 was shed %.0f times; want 0", sn.ShedByTier["1"])
	}
	if sn.ShedByTier["3"] == 0 || sn.ShedByTier["2"] == 0 {
		t.Errorf("tiers 3 and 2 must be shed during the overload, got %s", tiers(sn.ShedByTier))
	}
	if andonID == "" {
		return
	}
	l := s.Ledger()
	if _, err := l.Resolve(ctx, andonID, andon.Resolution{}); err == nil {
		t.Errorf("resolve without root cause, fix and prevention must fail")
	}
	a, err := l.Resolve(ctx, andonID, andon.Resolution{RootCause: "arrivals 3× the server's capacity", FixApplied: "load shed by the andon loop; capacity raised", PreventionAdded: "red latency limit with automatic shedding (examples/stack/limits.yaml)", Resolver: "e2e"})
	if err != nil {
		t.Fatalf("resolve %s: %v", andonID, err)
	}
	g, err := l.Gate(ctx, s.Spec.Service, "deploy")
	t.Logf("resolved %s (status %s); gate proceed=%v, %d blocking", a.ID, a.Status, g.Proceed, len(g.Blocking))
	if err != nil || !g.Proceed {
		t.Errorf("after resolving, the gate must let %s proceed: %+v, %v", s.Spec.Service, g, err)
	}
}

// checkOneAndonBlocks asserts exactly one open andon for the service and a blocked gate.
func checkOneAndonBlocks(ctx context.Context, t *testing.T, s *Stack, when string) string {
	t.Helper()
	l := s.Ledger()
	open, err := l.List(ctx, andon.Filter{SKU: s.Spec.Service, Status: andon.StatusOpen})
	g, gerr := l.Gate(ctx, s.Spec.Service, "deploy")
	t.Logf("%s: %d open andon(s) for %s; gate proceed=%v with %d blocking", when, len(open), s.Spec.Service, g.Proceed, len(g.Blocking))
	if err != nil || gerr != nil {
		t.Errorf("%s: ledger: %v %v", when, err, gerr)
		return ""
	}
	if len(open) != 1 {
		t.Errorf("%s: want exactly 1 open andon, got %d: %+v", when, len(open), open)
	}
	if g.Proceed {
		t.Errorf("%s: the gate must block %s while an andon is open", when, s.Spec.Service)
	}
	if len(open) == 0 {
		return ""
	}
	return open[0].ID
}

// failSafe stops the webhook while the overload goes on: nothing renews the shed setting, so the
// service must revert it by itself at its TTL; the restarted webhook must find its ledger intact.
func failSafe(ctx context.Context, t *testing.T, s *Stack, w *Watcher, andonID string) {
	before := w.Last().Admission.Shed
	if before == nil {
		t.Errorf("fail-safe: shedding is not on before the webhook stops")
		return
	}
	if err := s.StopWebhook(); err != nil {
		t.Errorf("stopping the webhook: %v", err)
	}
	stopped := time.Now()
	deadline := time.Now().Add(s.cfg.ActionTTL + revertSlack + time.Second)
	var reverted time.Time
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var st admission.State
		if err := getJSON(ctx, s.Server+"/admin/admission", s.cfg.Token, &st); err == nil && st.Shed == nil {
			reverted = time.Now()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Renewals may have moved the expiry since `before` was read; the last one was before the stop.
	latest := stopped.Add(s.cfg.ActionTTL)
	t.Logf("fail-safe: webhook stopped; shed expiry read before stop %s, latest possible %s; reverted at %s (%.1fs after stop, TTL %s, slack %s)",
		before.ExpiresAt.Format("15:04:05.000"), latest.Format("15:04:05.000"), reverted.Format("15:04:05.000"), since(Event{At: stopped}, Event{At: reverted}), s.cfg.ActionTTL, revertSlack)
	switch {
	case reverted.IsZero():
		t.Errorf("fail-safe: shedding still on %s after the webhook stopped (TTL %s)", time.Since(stopped), s.cfg.ActionTTL)
	case reverted.Before(before.ExpiresAt.Add(-revertSlack)):
		t.Errorf("fail-safe: shedding reverted at %s, %s before its expiry %s", reverted, before.ExpiresAt.Sub(reverted), before.ExpiresAt)
	case reverted.After(latest.Add(revertSlack)):
		t.Errorf("fail-safe: shedding reverted %s after the latest expiry %s", reverted.Sub(latest), latest)
	}
	if err := s.RestartWebhook(ctx); err != nil {
		t.Fatalf("restarting the webhook: %v", err)
	}
	if id := checkOneAndonBlocks(ctx, t, s, "after restart"); id != andonID {
		t.Errorf("after restart: open andon %q, want the same %q", id, andonID)
	}
	problems, err := s.Ledger().Verify(ctx)
	t.Logf("after restart: receipt chain problems: %d", len(problems))
	if err != nil || len(problems) > 0 {
		t.Errorf("after restart: receipt chain must verify: %v %v", problems, err)
	}
}

func waitEvent(ctx context.Context, t *testing.T, w *Watcher, name string, within time.Duration) Event {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if e, ok := w.First(name); ok {
			return e
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("no %q within %s of the overload onset", name, within)
	return Event{}
}

func since(a, b Event) float64 { return b.At.Sub(a.At).Seconds() }

// testWriter prints the watcher's timeline into the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}
