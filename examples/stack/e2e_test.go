package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// stackConfig skips unless the stack is asked for (ANDON_E2E, set by `make e2e`). Without the
// pinned binaries it skips, saying how to build them, except in CI, where a skip would hide that
// the closed loop was never tested.
func stackConfig(t testing.TB) Config {
	if os.Getenv("ANDON_E2E") == "" {
		t.Skip("the closed-loop stack runs with ANDON_E2E=1 (make e2e), so `go test ./...` does not run it twice")
	}
	for _, tool := range []string{"prometheus", "alertmanager"} {
		if _, err := pinned.Path(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("CI=%s: %v", os.Getenv("CI"), err)
			}
			t.Skip(err)
		}
	}
	return DefaultConfig(stackRepo(t), workDir(t))
}

// workDir is removed after a passing test and kept after a failing one: the children's logs,
// the TSDB, the ledger and report.html say what happened.
func workDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "andon-stack-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("work directory kept: %s (logs, tsdb, andon.db, report.html)", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// startupSpike is the slow start TestE2E injects: for the first 12 s after the server's first
// message every message waits 180 ms more. That puts the p95 over the yellow limit (150 ms) on both
// windows long enough for the yellow alert to fire, and it resolves only 10 s (keep_firing_for)
// after the spike left its short window, about 25–30 s into the load: later than a fixed 15 s
// warm-up, so a warm-up that does not wait for steady state lets it into the baseline, as on the
// loaded machine of issue 16. 180 ms stays under red (280 ms) with some scheduling delay on top; when
// a starved machine adds more, red fires, sheds and opens an andon, and the warm-up waits that out.
var startupSpike = struct{ For, Latency time.Duration }{12 * time.Second, 180 * time.Millisecond}

// loopOffEnv set to 1 runs TestE2E with the actuator's kill switch on: alerts and andons as usual,
// no action reaches the service. TestE2EFailsWithTheLoopOff sets it to prove TestE2E can fail.
const loopOffEnv = "ANDON_E2E_LOOP_OFF"

// TestE2E runs warm-up → baseline → overload → recovery through the whole loop, with a start-up
// spike injected, and checks each promise. The ledger steps go through the andon CLI, as a person
// or a CI job would run them.
func TestE2E(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cfg := stackConfig(t)
	cfg.SlowStart, cfg.SlowStartLatency = startupSpike.For, startupSpike.Latency
	cfg.LoopOff = os.Getenv(loopOffEnv) == "1"
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("starting the stack: %v", err)
	}
	t.Cleanup(s.Stop)
	sc := DefaultScenario
	sc.Overload, sc.Recovery = 75*time.Second, 10*time.Second // room for the fail-safe step
	start := time.Now()
	w := NewWatcher(s, testWriter{t}, start)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go w.Run(wctx, 250*time.Millisecond)

	var andonID string
	var atSteady Snapshot
	hooks := Hooks{
		Steady: func(ctx context.Context) {
			atSteady = s.Snapshot(ctx)
			// An andon open now was opened by a start-up alert during the warm-up (a red spike fires,
			// sheds and stops the line like any other). It is resolved as its owner would, so the
			// overload's andon is judged on its own; the warm-up already waited for its alert to
			// resolve and its shedding to revert.
			for _, a := range atSteady.Andons {
				r := resolveAndon(ctx, t, s, a.ID, "start-up latency spike during the warm-up (injected, examples/stack e2e)",
					"waited for steady state", "the warm-up waits for steady state before the baseline")
				t.Logf("warm-up: andon %s (%s) opened by a start-up alert, resolved: exit %d", a.ID, a.Type, r.Code)
			}
		},
		Baseline: func(ctx context.Context) {
			sn := s.Snapshot(ctx)
			began, _ := w.First(EvBaseline)
			alerts := w.BaselineAlerts()
			active := ActiveSince(sn.Alerts, began.At)
			applied := sn.Applied - atSteady.Applied
			var opened []andon.Andon
			for _, a := range sn.Andons {
				if !a.OpenedAt.Before(began.At) {
					opened = append(opened, a)
				}
			}
			t.Logf("baseline: %d alert states became active %q; now %d active (%d since the baseline began), %.0f actions applied and %d andons opened since, shed %v, p95 %s",
				len(alerts), alerts, len(sn.Alerts), len(active), applied, len(opened), sn.Admission.Shed != nil, ms(sn.P95))
			if sn.Err != nil || atSteady.Err != nil {
				t.Errorf("baseline: reading the stack: %v", errors.Join(sn.Err, atSteady.Err))
			}
			if len(alerts) > 0 || len(active) > 0 || applied > 0 || len(opened) > 0 || sn.Admission.Shed != nil {
				t.Errorf("baseline must be quiet: want no alert becoming pending or firing since it began, 0 actions, 0 andons, no shedding")
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
			t.Logf("overload: shedding applied %.1fs after onset (%.1fs after the notification); p95 back under %s %.1fs after shedding (bound %s)",
				since(onset, applied), since(notified, applied), ms(s.red.threshold), since(applied, recovered), recoverWithin)
			if d := recovered.At.Sub(applied.At); d > recoverWithin {
				t.Errorf("overload: p95 came back %s after shedding, %s over the bound %s", d, d-recoverWithin, recoverWithin)
			}
			andonID = oneAndonBlocks(ctx, t, s, "overload", s.LedgerURL())
			failSafe(ctx, t, s, w, andonID)
		},
	}
	res, err := s.RunLoad(ctx, sc, w, hooks)
	if err != nil {
		t.Fatalf("load run: %v", err)
	}
	if err := writeReport(filepath.Join(s.cfg.Dir, "report.html"), res, w.Events(), s.red.threshold); err != nil {
		t.Error(err)
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
	resolve := func(rootCause, fix, prevention string) CLIResult {
		return resolveAndon(ctx, t, s, andonID, rootCause, fix, prevention)
	}
	r := resolve("", "", "")
	t.Logf("andon resolve %s with empty root cause, fix and prevention: exit %d: %s", andonID, r.Code, strings.TrimSpace(r.Stderr))
	if r.Code != 1 {
		t.Errorf("resolve without root cause, fix and prevention: exit %d, want 1 (refused)", r.Code)
	}
	r = resolve("arrivals 3× the server's capacity", "load shed by the andon loop; capacity raised",
		"red latency limit with automatic shedding (examples/stack/limits.yaml)")
	t.Logf("andon resolve %s: exit %d: %s", andonID, r.Code, strings.TrimSpace(r.Stdout+r.Stderr))
	if r.Code != 0 {
		t.Fatalf("andon resolve %s: exit %d, want 0", andonID, r.Code)
	}
	for _, where := range [][]string{s.LedgerURL(), {"--db=" + s.DB}} {
		g, code := gate(ctx, t, s, where)
		t.Logf("after resolve: andon gate %s: exit %d, proceed=%v, %d blocking", where[0], code, g.Proceed, len(g.Blocking))
		if code != 0 || !g.Proceed {
			t.Errorf("after resolve, andon gate %s must let %s proceed (exit 0): exit %d, %+v", where[0], s.Spec.Service, code, g)
		}
	}
}

// resolveAndon runs `andon resolve` on the running webhook's ledger.
func resolveAndon(ctx context.Context, t *testing.T, s *Stack, id, rootCause, fix, prevention string) CLIResult {
	t.Helper()
	r, err := s.RunAndon(ctx, append([]string{"resolve", id, "--root-cause=" + rootCause, "--fix=" + fix,
		"--prevention=" + prevention, "--resolver=e2e"}, s.LedgerURL()...)...)
	if err != nil {
		t.Fatalf("andon resolve: %v\n%s%s", err, r.Stdout, r.Stderr)
	}
	return r
}

// gate runs `andon gate` for the service and stage deployment against where (--url… or --db=…).
func gate(ctx context.Context, t *testing.T, s *Stack, where []string) (andon.GateResult, int) {
	t.Helper()
	var g andon.GateResult
	r, err := s.RunAndon(ctx, append([]string{"gate", "--sku=" + s.Spec.Service, "--stage=deployment", "-o", "json"}, where...)...)
	if err != nil {
		t.Fatalf("andon gate: %v\n%s%s", err, r.Stdout, r.Stderr)
	}
	if jerr := json.Unmarshal([]byte(r.Stdout), &g); jerr != nil && r.Code < 2 {
		t.Errorf("andon gate (exit %d) printed no gate result (%v): %s%s", r.Code, jerr, r.Stdout, r.Stderr)
	}
	if r.Code >= 2 {
		t.Errorf("andon gate: exit %d (store unavailable or usage): %s", r.Code, r.Stderr)
	}
	return g, r.Code
}

// oneAndonBlocks asserts exactly one open andon for the service and `andon gate` exiting 1 (blocked)
// with it; it returns its id.
func oneAndonBlocks(ctx context.Context, t *testing.T, s *Stack, when string, where []string) string {
	t.Helper()
	r, err := s.RunAndon(ctx, append([]string{"list", "--sku=" + s.Spec.Service, "--status=open", "-o", "json"}, where...)...)
	var open []andon.Andon
	if err == nil && r.Code == 0 {
		err = json.Unmarshal([]byte(r.Stdout), &open)
	}
	g, gcode := gate(ctx, t, s, where)
	t.Logf("%s: andon list %s: %d open andon(s) for %s; andon gate: exit %d, proceed=%v with %d blocking", when, where[0], len(open), s.Spec.Service, gcode, g.Proceed, len(g.Blocking))
	if err != nil || r.Code != 0 {
		t.Errorf("%s: andon list: exit %d, %v: %s", when, r.Code, err, r.Stderr)
		return ""
	}
	if len(open) != 1 {
		t.Errorf("%s: want exactly 1 open andon, got %d: %+v", when, len(open), open)
	}
	if gcode != 1 || g.Proceed || len(g.Blocking) != len(open) {
		t.Errorf("%s: andon gate must block %s (exit 1) by its open andons: exit %d, %+v", when, s.Spec.Service, gcode, g)
	}
	if len(open) == 0 {
		return ""
	}
	return open[0].ID
}

// failSafe kills the webhook while the overload goes on: nothing renews the shed setting, so the
// service must revert it by itself at its TTL. While it is down the ledger file still answers the
// gate; the restarted webhook must find the same andon and an intact receipt chain.
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
	if id := oneAndonBlocks(ctx, t, s, "webhook down", []string{"--db=" + s.DB}); id != andonID {
		t.Errorf("webhook down: open andon in the ledger file %q, want %q", id, andonID)
	}
	deadline := stopped.Add(s.cfg.ActionTTL + revertSlack + time.Second)
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
	t.Logf("fail-safe: webhook killed; shed expiry read before %s, latest possible %s; reverted at %s (%.1fs after the kill, TTL %s, slack %s)",
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
	if id := oneAndonBlocks(ctx, t, s, "after restart", s.LedgerURL()); id != andonID {
		t.Errorf("after restart: open andon %q, want the same %q", id, andonID)
	}
	r, err := s.RunAndon(ctx, append([]string{"receipts", "verify"}, s.LedgerURL()...)...)
	t.Logf("after restart: andon receipts verify: exit %d: %s", r.Code, strings.TrimSpace(r.Stdout+r.Stderr))
	if err != nil || r.Code != 0 {
		t.Errorf("after restart: the receipt chain must verify (exit 0): exit %d, %v", r.Code, err)
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

// TestE2EFailsWithTheLoopOff proves TestE2E can fail: it runs TestE2E in a child process of this
// test binary with the actuator's kill switch on and wants it to fail for the loop's reasons
// (nothing shed, latency not brought back), not for the warm-up's or the baseline's.
func TestE2EFailsWithTheLoopOff(t *testing.T) {
	stackConfig(t) // the same skips as TestE2E
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestE2E$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), loopOffEnv+"=1")
	out, err := cmd.CombinedOutput()
	log := string(out)
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("TestE2E with the loop off: want a failing exit, got %v; output:\n%s", err, log)
	}
	for _, want := range []string{"--- FAIL: TestE2E", "the loop did not complete", "tiers 3 and 2 must be shed"} {
		if !strings.Contains(log, want) {
			t.Errorf("TestE2E with the loop off: output lacks %q", want)
		}
	}
	for _, unwanted := range []string{"baseline must be quiet", "not steady within"} {
		if strings.Contains(log, unwanted) {
			t.Errorf("TestE2E with the loop off failed before the loop was tested: %q", unwanted)
		}
	}
	if t.Failed() {
		t.Logf("output of TestE2E with the loop off:\n%s", log)
		return
	}
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, EvSteady+" ") || strings.Contains(l, "baseline:") || strings.Contains(l, "must") || strings.Contains(l, "did not") {
			t.Logf("loop off: %s", strings.TrimSpace(l))
		}
	}
}
