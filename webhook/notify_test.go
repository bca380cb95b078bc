package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andon-sre/andon/andon"
	"github.com/andon-sre/andon/internal/pinned"
	"github.com/andon-sre/andon/notify"
	"github.com/andon-sre/andon/rulegen"
)

// received keeps what an HTTP receiver on loopback was sent.
type received struct {
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
}

func (r *received) server(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies, r.heads = append(r.bodies, b), append(r.heads, req.Header.Clone())
		r.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (r *received) all() ([][]byte, []http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...), append([]http.Header(nil), r.heads...)
}

// An andon triggered and resolved through the API, and one opened by an
// alert, reach a real HTTP endpoint as signed CloudEvents.
func TestAndonEventsReachAnEndpointAsSignedCloudEvents(t *testing.T) {
	const secret = "a-secret-of-32-bytes-for-testing"
	var got received
	ep := got.server(t)
	_, url := testServer(t, fmt.Sprintf("notifications:\n  retry_backoff: 50ms\n  endpoints:\n    - {name: team, url: '%s/andon', secret: %s}\n", ep.URL, secret))
	client := &andon.Client{URL: url}
	ctx := context.Background()
	res, err := client.Trigger(ctx, andon.Trigger{Type: andon.TestFailure, SKU: "build-7", Stage: "testing", Details: map[string]any{"commit": "abc"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Resolve(ctx, res.Andon.ID, andon.Resolution{RootCause: "r", FixApplied: "f", PreventionAdded: "p", Resolver: "ana"}); err != nil {
		t.Fatal(err)
	}
	if code, _ := post(t, url, "", encode(payload(`{}:{service="svc"}`, 1, "firing")), "application/json"); code != http.StatusOK {
		t.Fatalf("webhook: %d", code)
	}
	waitFor(t, "three events at the endpoint", 30*time.Second, func() bool { b, _ := got.all(); return len(b) == 3 })
	bodies, heads := got.all()
	var kinds []string
	for i, b := range bodies {
		if !notify.Verify(secret, b, heads[i].Get(notify.SignatureHeader)) {
			t.Errorf("event %d: signature does not verify", i)
		}
		var ce notify.CloudEvent
		if err := json.Unmarshal(b, &ce); err != nil {
			t.Fatal(err)
		}
		if ce.SpecVersion != "1.0" || ce.ID != ce.Data.Receipt.Hash || ce.Data.Receipt.AndonID != ce.AndonID {
			t.Errorf("event %d: %+v", i, ce)
		}
		kinds = append(kinds, ce.Type+" "+ce.Subject+" "+ce.FailureType)
	}
	want := "com.github.andon-sre.andon.triggered build-7 test_failure,com.github.andon-sre.andon.resolved build-7 test_failure,com.github.andon-sre.andon.triggered svc operating_limit"
	if strings.Join(kinds, ",") != want {
		t.Errorf("events\n got %s\nwant %s", strings.Join(kinds, ","), want)
	}
}

func TestNotificationsConfigErrorsNameTheSection(t *testing.T) {
	_, err := ParseConfig([]byte("insecure_no_auth: true\nnotifications:\n  endpoints: [{url: 'ftp://x', secret: 0123456789abcdef}]\n"))
	if err == nil || !strings.Contains(err.Error(), "notifications: endpoints[0]: url") {
		t.Fatalf("error %v", err)
	}
	_, err = ParseConfig([]byte("insecure_no_auth: true\nnotify_andon_triggered: true\n"))
	if err == nil || !strings.Contains(err.Error(), "notify_andon_triggered") {
		t.Fatalf("an unknown key is refused, saying which: %v", err)
	}
}

// startProcess runs a pinned binary until the test ends, keeping its log for a failure.
func startProcess(t *testing.T, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s log:\n%s", filepath.Base(bin), log.String())
		}
	})
}

func waitReady(t *testing.T, what, url string) {
	t.Helper()
	waitFor(t, what+" ready", 60*time.Second, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		drain(resp)
		return resp.StatusCode == 200
	})
}

// The generated alerts on the ledger's metrics, evaluated by a real
// Prometheus scraping the receiver, reach a second receiver (the team's)
// through a real Alertmanager: an andon open, a sku blocked too long, a
// recurrence. Durations are shortened so the test takes seconds.
func TestLedgerAlertsReachTheTeamThroughAlertmanager(t *testing.T) {
	prom, am := pinned.Require(t, "prometheus"), pinned.Require(t, "alertmanager")
	s, hook := testServer(t, "")
	var team received
	teamSrv := team.server(t)

	dir := t.TempDir()
	rules, err := rulegen.LedgerRulesYAML(rulegen.LedgerOptions{OpenFor: time.Second, BlockedLimit: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	amAddr, promAddr := freeAddr(t), freeAddr(t)
	files := map[string]string{
		"ledger.rules.yaml": string(rules),
		"prometheus.yml": fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [ledger.rules.yaml]
alerting: {alertmanagers: [{static_configs: [{targets: ['%s']}]}]}
scrape_configs: [{job_name: andon, static_configs: [{targets: ['%s']}]}]
`, amAddr, strings.TrimPrefix(hook, "http://")),
		// The andon receiver is the root (the first receiver); ledger alerts go to the team's.
		"alertmanager.yml": fmt.Sprintf(`route:
  receiver: andon
  group_by: [alertname, sku, type]
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - {receiver: team, matchers: ['source="andon-ledger"']}
receivers:
  - {name: andon, webhook_configs: [{url: '%s/webhook'}]}
  - {name: team, webhook_configs: [{url: '%s/team'}]}
`, hook, teamSrv.URL),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	startProcess(t, am, "--config.file="+filepath.Join(dir, "alertmanager.yml"), "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=", "--log.level=warn")
	startProcess(t, prom, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "prom"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	waitReady(t, "alertmanager", "http://"+amAddr+"/-/ready")
	waitReady(t, "prometheus", "http://"+promAddr+"/-/ready")

	// firing alerts at the team receiver, as "alertname sku type"
	teamAlerts := func() map[string]bool {
		bodies, _ := team.all()
		seen := map[string]bool{}
		for _, b := range bodies {
			var m Message
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("team receiver got %s: %v", b, err)
			}
			for _, a := range m.Alerts {
				if a.Status == "firing" {
					seen[strings.TrimSpace(a.Labels["alertname"]+" "+a.Labels["sku"]+" "+a.Labels["type"])] = true
				}
			}
		}
		return seen
	}
	ctx := context.Background()
	l := s.Ledger()
	first, err := l.Trigger(ctx, andon.Trigger{Type: andon.TestFailure, SKU: "build-7", Stage: "testing"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "AndonOpen and AndonBlockedTooLong at the team receiver", 90*time.Second, func() bool {
		seen := teamAlerts()
		return seen["AndonOpen build-7 test_failure"] && seen["AndonBlockedTooLong build-7"]
	})
	if _, err := l.Resolve(ctx, first.Andon.ID, andon.Resolution{RootCause: "r", FixApplied: "f", PreventionAdded: "p"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Trigger(ctx, andon.Trigger{Type: andon.TestFailure, SKU: "build-7", Stage: "testing"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "AndonRecurring at the team receiver", 90*time.Second, func() bool { return teamAlerts()["AndonRecurring build-7 test_failure"] })
	if n, _ := countAlerts(t, s); n != 0 {
		t.Errorf("ledger alerts reached the andon receiver too: %d recorded", n)
	}
}

func TestStagesConfig(t *testing.T) {
	c, err := ParseConfig([]byte("insecure_no_auth: true\n"))
	if err != nil || c.AndonStage != "execution" || c.Stages.Names() != "compilation, testing, validation, execution, integration, deployment" {
		t.Fatalf("defaults: %v %q %q", err, c.AndonStage, c.Stages.Names())
	}
	for _, tc := range []struct{ yaml, want string }{
		{"stages: [build, test, ship]\n", `andon_stage: invalid request: stage "execution" is unknown: use one of build, test, ship`},
		{"stages: [build, build]\nandon_stage: build\n", "listed twice"},
		{"andon_stage: operate\n", `stage "operate" is unknown`},
	} {
		if _, err := ParseConfig([]byte("insecure_no_auth: true\n" + tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
	if _, err := ParseConfig([]byte("insecure_no_auth: true\nstages: [build, ship]\nandon_stage: ship\nblock_all_stages: true\n")); err != nil {
		t.Errorf("a custom list: %v", err)
	}
}
