package actuator

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/andon-sre/andon/actuator/admission"
)

// startAdmission serves the real admission API of one instance on loopback.
func startAdmission(t *testing.T) (*admission.Controller, string) {
	t.Helper()
	c, err := admission.New(admission.Config{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/admission", c.AdminHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return c, srv.URL + "/admin/admission"
}

type memRecorder struct {
	mu sync.Mutex
	ds []Decision
}

func (m *memRecorder) Record(_ context.Context, ds []Decision) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ds = append(m.ds, ds...)
	return nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock               { return &clock{t: time.Now()} }
func mustPolicy(t *testing.T, y string) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func alert(status, action string, extra map[string]string, startsAt time.Time) Alert {
	labels := map[string]string{"alertname": "SvcErrorRatioRed", "service": "svc", "signal": "error_ratio", "level": "red", "action": action}
	for k, v := range extra {
		labels[k] = v
	}
	return Alert{Key: "k", Name: "SvcErrorRatioRed", Status: status, Fingerprint: "fp1", StartsAt: startsAt, Labels: labels,
		Annotations: map[string]string{"shed_fraction": "0.95", "shed_tiers": "3"}, AndonID: "AND-1"}
}

func engine(t *testing.T, policy string) (*Engine, *memRecorder, *clock) {
	rec := &memRecorder{}
	e := NewEngine(mustPolicy(t, policy), rec, prometheus.NewRegistry(), nil)
	c := newClock()
	e.Now = c.now
	t.Cleanup(e.Close)
	return e, rec, c
}

func results(ds []Decision) string {
	var s []string
	for _, d := range ds {
		s = append(s, string(d.Kind)+":"+string(d.Result))
	}
	return strings.Join(s, " ")
}

func TestShedReachesAdmissionCappedAndOnce(t *testing.T) {
	ctl, url := startAdmission(t)
	e, _, clk := engine(t, "defaults: {max_shed_fraction: 0.6, cooldown: 1m}\nservices:\n  svc:\n    token: tok\n    instances: [{name: a, url: '"+url+"'}]\n")
	ds := e.Handle(context.Background(), []Alert{alert("firing", "page,shed,andon", nil, clk.now())})
	if got := results(ds); got != "shed:applied" {
		t.Fatalf("decisions %s: %+v", got, ds)
	}
	st := ctl.State()
	if st.Shed == nil || st.Shed.Fraction != 0.6 || st.Shed.AndonID != "AND-1" || st.Shed.SetBy != SetBy {
		t.Fatalf("admission state after shed: %+v", st.Shed)
	}
	if !strings.Contains(ds[0].Detail, "capped") {
		t.Fatalf("cap not explained: %q", ds[0].Detail)
	}
	if got := results(e.Handle(context.Background(), []Alert{alert("firing", "page,shed,andon", nil, clk.now())})); got != "shed:skipped" {
		t.Fatalf("duplicate within cooldown: %s", got)
	}
	if n := testutil.ToFloat64(e.actions.WithLabelValues("shed", "applied")); n != 1 {
		t.Fatalf("applied counter %v", n)
	}
	clk.add(2 * time.Minute)
	if got := results(e.Handle(context.Background(), []Alert{alert("firing", "page,shed,andon", nil, clk.now())})); got != "shed:applied" {
		t.Fatalf("re-send after cooldown must renew the TTL: %s", got)
	}
}

func TestSafetyDecisions(t *testing.T) {
	_, url := startAdmission(t)
	_, url2 := startAdmission(t)
	kill := filepath.Join(t.TempDir(), "STOP")
	services := "services:\n  svc:\n    token: tok\n    instances: [{name: a, url: '" + url + "'}, {name: b, url: '" + url2 + "'}]\n"
	cases := []struct {
		name   string
		policy string
		alerts []Alert
		want   string
		setup  func()
	}{
		{"global dry-run is recorded and changes nothing", "dry_run: true\n" + services,
			[]Alert{alert("firing", "reject_new", map[string]string{"instance": "a"}, time.Now())}, "reject_new:dry_run", nil},
		{"a dry-run rule applies to matching alerts only", "rules: [{match: {level: red}, dry_run: true}]\n" + services,
			[]Alert{alert("firing", "reject_new", map[string]string{"instance": "a"}, time.Now())}, "reject_new:dry_run", nil},
		{"the kill switch file stops everything", "kill_switch_file: " + kill + "\n" + services,
			[]Alert{alert("firing", "shed", nil, time.Now())}, "shed:skipped", func() { os.WriteFile(kill, nil, 0o644) }},
		{"drain without an instance label is refused", services,
			[]Alert{alert("firing", "drain", nil, time.Now())}, "drain:skipped", nil},
		{"drain never goes below min healthy instances", "defaults: {min_healthy_instances: 1}\n" + services,
			[]Alert{alert("firing", "drain", map[string]string{"instance": "a"}, time.Now()), {Key: "k2", Name: "X", Status: "firing", Fingerprint: "fp2", StartsAt: time.Now(), Labels: map[string]string{"service": "svc", "action": "drain", "instance": "b"}}},
			"drain:skipped drain:applied", nil}, // skips are decided before executions finish
		{"an unknown service is skipped with a reason", services,
			[]Alert{{Name: "X", Status: "firing", Labels: map[string]string{"service": "nope", "action": "shed"}}}, "shed:skipped", nil},
		{"a rule can replace the alert's actions", "rules: [{match: {service: svc}, actions: []}]\n" + services,
			[]Alert{alert("firing", "shed", nil, time.Now())}, "", nil},
		{"escalation adds the next ladder step after firing long enough", "escalation: {after: 10m}\n" + services,
			[]Alert{alert("firing", "shed", map[string]string{"instance": "a"}, time.Now().Add(-11*time.Minute))}, "shed:applied reject_new:applied", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.setup != nil {
				c.setup()
			}
			e, rec, _ := engine(t, c.policy)
			e.Handle(context.Background(), c.alerts)
			if got := results(rec.ds); got != c.want {
				t.Fatalf("decisions %q, want %q: %+v", got, c.want, rec.ds)
			}
			for _, d := range rec.ds {
				if d.Reason == "" {
					t.Fatalf("decision without a reason: %+v", d)
				}
			}
		})
	}
}

func TestUnreachableTargetRetriesThenFails(t *testing.T) {
	var calls int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	e, _, clk := engine(t, "retry: {attempts: 3, initial_backoff: 1ms}\nservices:\n  svc:\n    instances: [{name: a, url: '"+srv.URL+"'}]\n")
	ds := e.Handle(context.Background(), []Alert{alert("firing", "shed", nil, clk.now())})
	if results(ds) != "shed:failed" || calls != 3 || !strings.Contains(ds[0].Detail, "3 attempt") {
		t.Fatalf("calls %d, decisions %+v", calls, ds)
	}
	if got := results(e.Handle(context.Background(), []Alert{alert("firing", "shed", nil, clk.now())})); got != "shed:failed" {
		t.Fatalf("a failed action must be retried on the next notification, got %s", got)
	}
}

func TestResolvedRevertsAfterHoldDown(t *testing.T) {
	ctl, url := startAdmission(t)
	e, rec, clk := engine(t, "defaults: {hold_down: 20ms, cooldown: 1ms}\nservices:\n  svc:\n    token: tok\n    instances: [{name: a, url: '"+url+"'}]\n")
	e.Handle(context.Background(), []Alert{alert("firing", "reject_new", nil, clk.now())})
	if ctl.State().RejectNew == nil {
		t.Fatal("reject_new not applied")
	}
	e.Handle(context.Background(), []Alert{alert("resolved", "reject_new", nil, clk.now())})
	deadline := time.Now().Add(5 * time.Second)
	for ctl.State().RejectNew != nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if ctl.State().RejectNew != nil {
		t.Fatal("reject_new not reverted after the hold-down")
	}
	e.Close()
	if got := results(rec.ds); got != "reject_new:applied reject_new:applied" || !strings.Contains(rec.ds[1].Reason, "revert") {
		t.Fatalf("decisions %+v", rec.ds)
	}
}

func TestExecExecutorGetsTheAction(t *testing.T) {
	out := filepath.Join(t.TempDir(), "action.json")
	e, _, clk := engine(t, "services:\n  svc:\n    exec: {command: [sh, -c, 'cat > "+out+"; echo $ANDON_KIND >> "+out+"']}\n")
	if got := results(e.Handle(context.Background(), []Alert{alert("firing", "shed", nil, clk.now())})); got != "shed:applied" {
		t.Fatal(got)
	}
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), `"shed_fraction":0.8`) || !strings.HasSuffix(string(b), "shed\n") {
		t.Fatalf("command got %s", b)
	}
}

func TestPolicyValidation(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"a ttl not longer than repeat_interval is refused", "alertmanager_repeat_interval: 1h\ndefaults: {ttl: 30m}", "longer than alertmanager_repeat_interval"},
		{"unknown keys are refused", "dry_runn: true", "field dry_runn not found"},
		{"a service needs exactly one way to be reached", "services: {svc: {exec: {command: [x]}, http: {url: 'http://x'}}}", "exactly one way"},
		{"an unknown action in a rule is refused", "rules: [{actions: [explode]}]", "unknown action"},
		{"a cap above 1 is refused", "defaults: {max_shed_fraction: 1.5}", "max_shed_fraction"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
	if p, err := ParsePolicy(nil); err != nil || p.Defaults.TTL == 0 {
		t.Fatalf("empty policy must mean defaults: %v", err)
	}
}

// Close waits for every Handle that got in before it, and a Handle that
// comes later does nothing; racing the two must neither leave an action
// running after Close nor trip the WaitGroup (Add racing with Wait, which
// the race detector reports).
func TestHandleRacingCloseNeverOutlivesIt(t *testing.T) {
	var inflight, calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		defer inflight.Add(-1)
		calls.Add(1)
		time.Sleep(time.Millisecond)
	}))
	defer srv.Close()
	pol := mustPolicy(t, "defaults: {cooldown: 1ms}\nservices:\n  svc:\n    instances: [{name: a, url: '"+srv.URL+"'}]\n")
	for range 50 {
		e := NewEngine(pol, nil, nil, nil)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { e.Handle(context.Background(), []Alert{alert("firing", "shed", nil, time.Now())}) })
		}
		e.Close()
		if n := inflight.Load(); n != 0 {
			t.Fatalf("%d actions still running after Close returned", n)
		}
		before := calls.Load()
		if ds := e.Handle(context.Background(), []Alert{alert("firing", "shed", nil, time.Now())}); ds != nil || calls.Load() != before {
			t.Fatalf("Handle after Close acted: %+v", ds)
		}
		wg.Wait()
	}
}

// stateRecorder also keeps the engine's state, as the webhook's store does.
type stateRecorder struct {
	memRecorder
	doc []byte
}

func (r *stateRecorder) SaveState(_ context.Context, doc []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.doc = append([]byte(nil), doc...)
	return nil
}

func (r *stateRecorder) state() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.doc
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
	}
}

// A receiver restarted after applying an action restores it: the alert's
// "resolved" still reverts it after the hold-down, and a duplicate within
// the cooldown is still skipped. Without the saved state the setting would
// stay on the service until its TTL.
func TestRestartedEngineStillReverts(t *testing.T) {
	ctl, url := startAdmission(t)
	pol := "defaults: {hold_down: 20ms, cooldown: 1h}\nservices:\n  svc:\n    token: tok\n    instances: [{name: a, url: '" + url + "'}]\n"
	rec := &stateRecorder{}
	before := NewEngine(mustPolicy(t, pol), rec, nil, nil)
	if got := results(before.Handle(context.Background(), []Alert{alert("firing", "shed", nil, time.Now())})); got != "shed:applied" {
		t.Fatalf("before the restart: %s", got)
	}
	before.Close() // the process ends; what it saved is what the next one finds

	rec2 := &stateRecorder{}
	after := NewEngine(mustPolicy(t, pol), rec2, nil, nil)
	t.Cleanup(after.Close)
	if err := after.Restore(rec.state()); err != nil {
		t.Fatal(err)
	}
	if ds := after.Handle(context.Background(), []Alert{alert("firing", "shed", nil, time.Now())}); results(ds) != "shed:skipped" || !strings.Contains(ds[0].Reason, "already active") {
		t.Fatalf("a duplicate after the restart: %+v", ds)
	}
	after.Handle(context.Background(), []Alert{alert("resolved", "shed", nil, time.Now())})
	waitFor(t, "revert after the restart", func() bool { return ctl.State().Shed == nil })
	waitFor(t, "state saved without the reverted action", func() bool {
		var st savedState
		return json.Unmarshal(rec2.state(), &st) == nil && len(st.Active) == 0 && len(st.Changes) == 1
	})
}

// A revert waiting out its hold-down when the receiver stops is done by the
// next one, when the hold-down ends.
func TestPendingRevertSurvivesARestart(t *testing.T) {
	ctl, url := startAdmission(t)
	pol := "defaults: {hold_down: 300ms, cooldown: 1ms}\nservices:\n  svc:\n    token: tok\n    instances: [{name: a, url: '" + url + "'}]\n"
	rec := &stateRecorder{}
	before := NewEngine(mustPolicy(t, pol), rec, nil, nil)
	before.Handle(context.Background(), []Alert{alert("firing", "reject_new", nil, time.Now())})
	resolvedAt := time.Now()
	before.Handle(context.Background(), []Alert{alert("resolved", "reject_new", nil, time.Now())})
	before.Close() // cancels its timer: the revert has not happened
	if ctl.State().RejectNew == nil {
		t.Fatal("reverted before the hold-down ended")
	}
	after := NewEngine(mustPolicy(t, pol), &stateRecorder{}, nil, nil)
	t.Cleanup(after.Close)
	if err := after.Restore(rec.state()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pending revert after the restart", func() bool { return ctl.State().RejectNew == nil })
	if held := time.Since(resolvedAt); held < 300*time.Millisecond {
		t.Fatalf("reverted %s after resolved, before the 300ms hold-down", held)
	}
}

// An alert firing again within the hold-down cancels the revert; Close
// must still return (the cancelled revert's WaitGroup slot is released).
func TestCloseAfterACancelledRevertReturns(t *testing.T) {
	_, url := startAdmission(t)
	e := NewEngine(mustPolicy(t, "defaults: {hold_down: 1h, cooldown: 1ms}\nservices:\n  svc:\n    token: tok\n    instances: [{name: a, url: '"+url+"'}]\n"), nil, nil, nil)
	e.Handle(context.Background(), []Alert{alert("firing", "shed", nil, time.Now())})
	e.Handle(context.Background(), []Alert{alert("resolved", "shed", nil, time.Now())})
	e.Handle(context.Background(), []Alert{alert("firing", "shed", nil, time.Now())})
	closed := make(chan struct{})
	go func() { e.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs after a revert was cancelled by the alert firing again")
	}
}

func TestRestoreRefusesAnotherVersion(t *testing.T) {
	e := NewEngine(mustPolicy(t, ""), nil, nil, nil)
	defer e.Close()
	for _, doc := range []string{`{"version":99,"active":[]}`, `not json`} {
		if err := e.Restore([]byte(doc)); err == nil {
			t.Fatalf("Restore(%s) accepted", doc)
		}
	}
}

// Invalid action annotations are refused and recorded with their reason,
// never sent to the service; 0 sheds nothing and is refused too.
func TestInvalidShedAnnotationsAreRefused(t *testing.T) {
	for _, c := range []struct{ name, key, value string }{
		{"NaN is no fraction", "shed_fraction", "NaN"},
		{"a negative fraction", "shed_fraction", "-1"},
		{"text", "shed_fraction", "abc"},
		{"zero sheds nothing", "shed_fraction", "0"},
		{"above one", "shed_fraction", "1.5"},
		{"a repeated tier", "shed_tiers", "3,3"},
		{"an unknown tier", "shed_tiers", "4"},
		{"an empty tier list", "shed_tiers", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctl, url := startAdmission(t)
			e, rec, clk := engine(t, "services:\n  svc:\n    token: tok\n    instances: [{name: a, url: '"+url+"'}]\n")
			a := alert("firing", "shed", nil, clk.now())
			a.Annotations[c.key] = c.value
			ds := e.Handle(context.Background(), []Alert{a})
			if got := results(ds); got != "shed:skipped" || !strings.Contains(ds[0].Reason, "refused: annotation "+c.key) {
				t.Fatalf("decisions %s: %+v", got, ds)
			}
			if st := ctl.State(); st.Shed != nil {
				t.Fatalf("the service got a shed setting: %+v", st.Shed)
			}
			if len(rec.ds) != 1 || testutil.ToFloat64(e.invalid) != 1 {
				t.Fatalf("recorded %d decisions, refused counter %v", len(rec.ds), testutil.ToFloat64(e.invalid))
			}
		})
	}
}

// A startsAt far in the past or the future is taken as now: no overflow,
// no escalation on the first notification, and the clamp is recorded.
func TestImplausibleStartsAtIsClampedForEscalation(t *testing.T) {
	for _, starts := range []time.Time{time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), time.Now().Add(1000 * 24 * time.Hour)} {
		_, url := startAdmission(t)
		e, _, _ := engine(t, "escalation: {after: 1m}\nservices:\n  svc:\n    token: tok\n    instances: [{name: a, url: '"+url+"'}]\n")
		ds := e.Handle(context.Background(), []Alert{alert("firing", "shed", map[string]string{"instance": "a"}, starts)})
		if got := results(ds); got != "shed:applied" {
			t.Fatalf("startsAt %s: decisions %s (escalated?): %+v", starts, got, ds)
		}
		if !strings.Contains(ds[0].Detail, "implausible") || strings.Contains(ds[0].Detail, "h47m") {
			t.Fatalf("clamp not recorded: %q", ds[0].Detail)
		}
	}
}
