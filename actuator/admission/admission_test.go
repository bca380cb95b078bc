package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const testToken = "s3cret"

// fakeClock is a settable clock for TTL tests.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// testService is a real HTTP server on 127.0.0.1 with the middleware in front of
// /work and the admin API at /admin/admission.
type testService struct {
	*httptest.Server
	c   *Controller
	reg *prometheus.Registry
}

func startService(t testing.TB, cfg Config, work http.Handler) *testService {
	t.Helper()
	if work == nil {
		work = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	}
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	s := &testService{reg: reg}
	mux := http.NewServeMux()
	s.Server = httptest.NewUnstartedServer(mux)
	if cfg.Shutdown == nil {
		cfg.Shutdown = s.Server.Config.Shutdown
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.c = c
	mux.Handle("/work", c.Middleware(work))
	mux.Handle("/admin/admission", c.AdminHandler())
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// put sends a PUT to the admin API and returns the status and body.
func (s *testService) put(t *testing.T, body string) (int, string) {
	t.Helper()
	return s.admin(t, http.MethodPut, body, "Bearer "+testToken)
}

func (s *testService) admin(t *testing.T, method, body, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+"/admin/admission", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *testService) mustPut(t *testing.T, body string) State {
	t.Helper()
	status, resp := s.put(t, body)
	if status != http.StatusOK {
		t.Fatalf("PUT %s: status %d, body %s", body, status, resp)
	}
	var st struct {
		Shed, RejectNew, Drain json.RawMessage
	}
	if err := json.Unmarshal([]byte(resp), &st); err != nil {
		t.Fatalf("PUT answer is not JSON: %v: %s", err, resp)
	}
	return s.c.State()
}

// call sends one request to /work with the given headers and returns the response (body drained).
func (s *testService) call(t *testing.T, header map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/work", nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func tierHeader(t Tier) map[string]string { return map[string]string{TierHeader: fmt.Sprint(t)} }

func TestShedFractionByTier(t *testing.T) {
	// Traffic mix 50% batch, 30% normal, 20% critical, interleaved.
	mix := []Tier{3, 3, 3, 3, 3, 2, 2, 2, 1, 1}
	const n = 10000
	// Tolerance: 4 standard deviations of a binomial share over n requests (≤ 0.02).
	const tol = 0.02
	cases := []struct {
		name     string
		put      string
		wantRate map[Tier]float64 // expected shed rate within each tier
	}{
		{"a fraction smaller than the batch share sheds batch only",
			`{"shed_fraction":0.3,"shed_tiers":[3,2],"ttl":"5m"}`, map[Tier]float64{3: 0.6, 2: 0, 1: 0}},
		{"a fraction larger than the batch share spills into normal, critical untouched",
			`{"shed_fraction":0.6,"ttl":"5m"}`, map[Tier]float64{3: 1, 2: 1.0 / 3, 1: 0}},
		{"more than the listed tiers can give sheds them all and never critical",
			`{"shed_fraction":0.9,"shed_tiers":[3,2],"ttl":"5m"}`, map[Tier]float64{3: 1, 2: 1, 1: 0}},
		{"critical is shed only when listed explicitly",
			`{"shed_fraction":0.9,"shed_tiers":[3,2,1],"ttl":"5m"}`, map[Tier]float64{3: 1, 2: 1, 1: 0.5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			s := startService(t, Config{Now: clock.Now}, nil)
			for i := range 1000 { // warm-up: the controller learns the mix
				s.call(t, tierHeader(mix[i%len(mix)]))
			}
			s.mustPut(t, tc.put)
			sent, shed := map[Tier]int{}, map[Tier]int{}
			for i := range n {
				tier := mix[i%len(mix)]
				resp := s.call(t, tierHeader(tier))
				sent[tier]++
				switch resp.StatusCode {
				case http.StatusOK:
				case http.StatusServiceUnavailable:
					shed[tier]++
					if resp.Header.Get("Retry-After") == "" {
						t.Fatal("a shed request has no Retry-After header")
					}
				default:
					t.Fatalf("unexpected status %d", resp.StatusCode)
				}
			}
			var wantTotal float64
			for tier, want := range tc.wantRate {
				got := float64(shed[tier]) / float64(sent[tier])
				wantTotal += want * float64(sent[tier]) / n
				if math.Abs(got-want) > tol*2 || (want == 0 && shed[tier] > 0) {
					t.Errorf("tier %d: shed %.3f of its requests, want %.3f", tier, got, want)
				}
			}
			gotTotal := float64(shed[1]+shed[2]+shed[3]) / n
			if math.Abs(gotTotal-wantTotal) > tol {
				t.Errorf("shed %.4f of all requests, want %.4f ± %.2f", gotTotal, wantTotal, tol)
			}
			if got := testutil.ToFloat64(s.c.m.results[3][Shed]); int(got) != shed[3] {
				t.Errorf("andon_admission_requests_total{tier=3,result=shed} = %v, want %d", got, shed[3])
			}
		})
	}
}

func TestShedProbabilities(t *testing.T) {
	shares := [numTiers + 1]float64{0, 0.2, 0.3, 0.5}
	cases := []struct {
		name     string
		fraction float64
		tiers    []Tier
		want     [numTiers + 1]float64
	}{
		{"zero sheds nothing", 0, []Tier{3, 2}, [4]float64{}},
		{"within the first tier", 0.25, []Tier{3, 2}, [4]float64{0, 0, 0, 0.5}},
		{"exactly the first tier", 0.5, []Tier{3, 2}, [4]float64{0, 0, 0, 1}},
		{"spills to the second tier", 0.65, []Tier{3, 2}, [4]float64{0, 0, 0.5, 1}},
		{"order is the listed order", 0.1, []Tier{2, 3}, [4]float64{0, 0, 1.0 / 3, 0}},
		{"a listed tier without traffic is shed entirely", 0.1, []Tier{1}, [4]float64{0, 0.5, 0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := shedProbabilities(tc.fraction, tc.tiers, shares)
			for i := range got {
				if math.Abs(got[i]-tc.want[i]) > 1e-9 {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
	if got := shedProbabilities(0.1, []Tier{1}, [4]float64{0, 0, 0.5, 0.5}); got[1] != 1 {
		t.Errorf("tier with no observed traffic: probability %v, want 1", got[1])
	}
}

func TestTTLRevertsUnlessRenewed(t *testing.T) {
	clock := newFakeClock()
	s := startService(t, Config{Now: clock.Now}, nil)
	newSession := map[string]string{}
	st := s.mustPut(t, `{"reject_new":true,"ttl":"1m","reason":"ErlmcpConnectionsRed","andon_id":"AND-1","set_by":"andon-webhook"}`)
	if st.RejectNew == nil || st.RejectNew.AndonID != "AND-1" || st.RejectNew.SetBy != "andon-webhook" ||
		st.RejectNew.Reason != "ErlmcpConnectionsRed" || !st.RejectNew.ExpiresAt.Equal(clock.Now().Add(time.Minute)) {
		t.Fatalf("state does not say who set what, why and until when: %+v", st.RejectNew)
	}
	if got := s.call(t, newSession).StatusCode; got != http.StatusServiceUnavailable {
		t.Fatalf("new session while reject_new is on: status %d, want 503", got)
	}
	clock.Advance(50 * time.Second)
	s.mustPut(t, `{"reject_new":true,"ttl":"1m"}`) // renewal
	clock.Advance(50 * time.Second)                // 100s after the first PUT, 50s after renewal
	if got := s.call(t, newSession).StatusCode; got != http.StatusServiceUnavailable {
		t.Fatalf("renewed setting reverted early: status %d", got)
	}
	clock.Advance(11 * time.Second)
	if got := s.call(t, newSession).StatusCode; got != http.StatusOK {
		t.Fatalf("setting did not revert at its expiry: status %d", got)
	}
	if st := s.c.State(); st.RejectNew != nil {
		t.Fatalf("state still shows reject_new after expiry: %+v", st.RejectNew)
	}
}

func TestTTLRevertsInRealTime(t *testing.T) {
	s := startService(t, Config{}, nil)
	s.mustPut(t, `{"shed_fraction":1,"shed_tiers":[2],"ttl":"1s"}`)
	if got := s.call(t, nil).StatusCode; got != http.StatusServiceUnavailable {
		t.Fatalf("shed_fraction 1 on tier 2: status %d, want 503", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.call(t, nil).StatusCode != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("shedding did not revert within 5s of a 1s TTL")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v := testutil.ToFloat64(settingsGauge(t, s.reg, "andon_admission_setting_active", "shed")); v != 0 {
		t.Fatalf("andon_admission_setting_active{setting=shed} = %v after expiry", v)
	}
}

func TestRejectNewKeepsExistingSessions(t *testing.T) {
	s := startService(t, Config{}, nil)
	s.mustPut(t, `{"reject_new":true,"ttl":"5m"}`)
	cases := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"a 2025-11-25 initialize (no session id) is refused", map[string]string{"Mcp-Protocol-Version": "2025-11-25"}, 503},
		{"a request of an existing 2025-11-25 session continues", map[string]string{"Mcp-Session-Id": "abc", "Mcp-Protocol-Version": "2025-11-25"}, 200},
		{"a 2026-07-28 server/discover is refused", map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"}, 503},
		{"a 2026-07-28 tools/call continues", map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call"}, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.call(t, tc.header).StatusCode; got != tc.want {
				t.Fatalf("status %d, want %d", got, tc.want)
			}
		})
	}
	if got := testutil.ToFloat64(s.c.m.results[TierNormal][RejectedNew]); got != 2 {
		t.Errorf("rejected_new counter = %v, want 2", got)
	}
}

func TestDrainFinishesInFlightThenRefuses(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})
	shutdownDone := make(chan error, 1)
	var s *testService
	s = startService(t, Config{
		Shutdown: func(ctx context.Context) error {
			s.Config.SetKeepAlivesEnabled(false)
			err := s.Config.Shutdown(ctx)
			shutdownDone <- err
			return err
		},
	}, slow)

	inFlight := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Post(s.URL+"/work", "text/plain", nil)
		if err != nil {
			t.Error(err)
			close(inFlight)
			return
		}
		inFlight <- resp
	}()
	<-started
	s.mustPut(t, `{"drain":true,"ttl":"5m","reason":"emergency"}`)
	if s.c.Ready() {
		t.Fatal("Ready() is true while draining")
	}
	// A request arriving now (on a fresh connection; the listener closes soon) is refused.
	refused := make(chan int, 1)
	go func() {
		resp, err := http.Post(s.URL+"/work", "text/plain", nil)
		if err != nil { // the listener already closed: refused too
			refused <- 0
			return
		}
		resp.Body.Close()
		if resp.Header.Get("Connection") != "close" && resp.Close == false {
			t.Error("a refused request during drain keeps the connection alive")
		}
		refused <- resp.StatusCode
	}()
	if got := <-refused; got != 0 && got != http.StatusServiceUnavailable {
		t.Fatalf("request during drain: status %d, want 503 or connection refused", got)
	}
	select {
	case err := <-shutdownDone:
		t.Fatalf("shutdown finished (%v) while a request was in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	resp := <-inFlight
	if resp == nil {
		t.FailNow()
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "finished" {
		t.Fatalf("in-flight request: status %d body %q, want 200 finished", resp.StatusCode, body)
	}
	select {
	case err := <-shutdownDone:
		if err != nil {
			t.Fatalf("graceful shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown did not finish after the in-flight request completed")
	}
	if _, err := http.Post(s.URL+"/work", "text/plain", nil); err == nil {
		t.Fatal("server still accepts connections after drain")
	}
	f := false
	if _, err := s.c.Apply(Update{Drain: &f}); err != ErrDrainStarted {
		t.Fatalf("clearing drain after shutdown started: err %v, want ErrDrainStarted", err)
	}
}

func TestDrainCanBeClearedDuringGrace(t *testing.T) {
	var shutdowns atomic.Int32
	s := startService(t, Config{DrainGrace: time.Hour, Shutdown: func(context.Context) error {
		shutdowns.Add(1)
		return nil
	}}, nil)
	s.mustPut(t, `{"drain":true,"ttl":"5m"}`)
	if got := s.call(t, nil).StatusCode; got != http.StatusServiceUnavailable {
		t.Fatalf("request while draining: status %d, want 503", got)
	}
	s.mustPut(t, `{"drain":false}`)
	if !s.c.Ready() || s.call(t, nil).StatusCode != http.StatusOK || shutdowns.Load() != 0 {
		t.Fatal("clearing drain during its grace period did not restore service")
	}
}

func TestQueueFullAnswersAtOnce(t *testing.T) {
	release := make(chan struct{})
	var entered atomic.Int32
	blocking := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Add(1)
		<-release
	})
	s := startService(t, Config{MaxConcurrency: 1, QueueCapacity: 1, QueueTimeout: time.Minute, RetryAfter: 2 * time.Second}, blocking)
	var wg sync.WaitGroup
	for range 2 { // one is served, one waits in the queue
		wg.Go(func() {
			resp, err := http.Post(s.URL+"/work", "", nil)
			if err == nil {
				resp.Body.Close()
			}
		})
	}
	for entered.Load() < 1 || s.c.slots.waiting.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	// The third request must be answered while the other two are still blocked:
	// it cannot have waited for them.
	resp := s.call(t, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("full queue: status %d Retry-After %q, want 503 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if got := testutil.ToFloat64(s.c.m.queueDepth); got != 1 {
		t.Errorf("andon_admission_queue_depth = %v, want 1", got)
	}
	close(release)
	wg.Wait()
	if got := testutil.ToFloat64(s.c.m.results[TierNormal][Admitted]); got != 2 {
		t.Errorf("admitted = %v, want 2 (the queued request is served once a slot frees)", got)
	}
}

func TestQueueTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s := startService(t, Config{MaxConcurrency: 1, QueueCapacity: 5, QueueTimeout: 50 * time.Millisecond},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	go func() {
		if resp, err := http.Post(s.URL+"/work", "", nil); err == nil {
			resp.Body.Close()
		}
	}()
	for s.c.slots.inUse.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	if got := s.call(t, nil).StatusCode; got != http.StatusServiceUnavailable {
		t.Fatalf("queued past its timeout: status %d, want 503", got)
	}
	if got := testutil.ToFloat64(s.c.m.results[TierNormal][QueueTimeout]); got != 1 {
		t.Errorf("queue_timeout counter = %v, want 1", got)
	}
}

func TestAdminAPIRejectsBadInput(t *testing.T) {
	s := startService(t, Config{}, nil)
	cases := []struct {
		name       string
		method     string
		body       string
		auth       string
		wantStatus int
		wantInMsg  string
	}{
		{"a fraction above 1 names the field", "PUT", `{"shed_fraction":1.5,"ttl":"1m"}`, "", 400, "shed_fraction"},
		{"a negative fraction names the field", "PUT", `{"shed_fraction":-0.1,"ttl":"1m"}`, "", 400, "shed_fraction"},
		{"turning a setting on without ttl is refused", "PUT", `{"reject_new":true}`, "", 400, "ttl: required"},
		{"a ttl below 1s is refused", "PUT", `{"reject_new":true,"ttl":"500ms"}`, "", 400, "ttl"},
		{"a ttl above 24h is refused", "PUT", `{"reject_new":true,"ttl":"2d"}`, "", 400, "ttl"},
		{"a ttl that is not a duration is refused", "PUT", `{"reject_new":true,"ttl":"soon"}`, "", 400, "ttl"},
		{"a tier that does not exist is refused", "PUT", `{"shed_fraction":0.5,"shed_tiers":[4],"ttl":"1m"}`, "", 400, "shed_tiers[0]"},
		{"a tier listed twice is refused", "PUT", `{"shed_fraction":0.5,"shed_tiers":[3,3],"ttl":"1m"}`, "", 400, "listed twice"},
		{"an empty tier list is refused", "PUT", `{"shed_fraction":0.5,"shed_tiers":[],"ttl":"1m"}`, "", 400, "shed_tiers"},
		{"tiers without a fraction while shedding is off are refused", "PUT", `{"shed_tiers":[3],"ttl":"1m"}`, "", 400, "shed_tiers"},
		{"an unknown field is refused", "PUT", `{"shed_fracton":0.5}`, "", 400, "shed_fracton"},
		{"a wrong type is refused", "PUT", `{"reject_new":"yes","ttl":"1m"}`, "", 400, "reject_new"},
		{"malformed JSON is refused", "PUT", `{"reject_new":`, "", 400, "JSON"},
		{"trailing data is refused", "PUT", `{"reject_new":false} {}`, "", 400, "after the JSON object"},
		{"a null body is refused, not read as an empty update", "PUT", `null`, "", 400, "not a JSON object"},
		{"a long reason is refused", "PUT", `{"reason":"` + strings.Repeat("x", 300) + `"}`, "", 400, "reason"},
		{"DELETE is not allowed", "DELETE", ``, "", 405, "PUT"},
		{"a missing token is unauthorized", "GET", ``, "-", 401, "bearer token"},
		{"a wrong token is unauthorized", "PUT", `{"reject_new":false}`, "Bearer nope", 401, "bearer token"},
		{"a valid GET answers the state", "GET", ``, "", 200, `"now"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			auth := tc.auth
			switch auth {
			case "":
				auth = "Bearer " + testToken
			case "-":
				auth = ""
			}
			status, body := s.admin(t, tc.method, tc.body, auth)
			if status != tc.wantStatus || !strings.Contains(body, tc.wantInMsg) {
				t.Fatalf("status %d body %s; want %d containing %q", status, body, tc.wantStatus, tc.wantInMsg)
			}
			if status != 200 {
				var e struct{ Error string }
				if json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
					t.Fatalf("error answer is not {\"error\": ...}: %s", body)
				}
			}
		})
	}
	if st := s.c.State(); st.Shed != nil || st.RejectNew != nil || st.Drain != nil {
		t.Fatalf("rejected input changed the state: %+v", st)
	}
}

func TestAdminDisabledWithoutToken(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.AdminHandler())
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Authorization", "Bearer ")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("admin API without a configured token: status %d, want 401", resp.StatusCode)
	}
}

func TestStateJSONMatchesContract(t *testing.T) {
	clock := newFakeClock()
	s := startService(t, Config{Now: clock.Now}, nil)
	_, body := s.put(t, `{"shed_fraction":0.5,"ttl":"5m","reason":"R","andon_id":"AND-9","set_by":"me"}`)
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"shed": map[string]any{"fraction": 0.5, "tiers": []any{3.0, 2.0}, "set_by": "me", "reason": "R", "andon_id": "AND-9",
			"set_at": "2026-11-23T12:00:00Z", "expires_at": "2026-11-23T12:05:00Z"},
		"reject_new": nil, "drain": nil, "now": "2026-11-23T12:00:00Z",
	}
	if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
		t.Fatalf("PUT answer\n got %s\nwant %s", g, w)
	}
	if v := testutil.ToFloat64(settingsGauge(t, s.reg, "andon_admission_setting_expiry_timestamp_seconds", "shed")); v != float64(clock.Now().Add(5*time.Minute).Unix()) {
		t.Errorf("expiry metric = %v", v)
	}
}

// settingsGauge returns one andon_admission_setting_* series as a collector for testutil.
func settingsGauge(t *testing.T, reg *prometheus.Registry, name, setting string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == setting {
				return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 { return m.GetGauge().GetValue() })
			}
		}
	}
	t.Fatalf("series %s{setting=%q} not found", name, setting)
	return nil
}
