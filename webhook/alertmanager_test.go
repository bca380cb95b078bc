package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/andon-sre/andon/actuator/admission"
	"github.com/andon-sre/andon/andon"
	"github.com/andon-sre/andon/internal/pinned"
)

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startAdmission serves the service side, the real admission API
// (actuator/admission, token svc-token), on loopback.
func startAdmission(t *testing.T) (*admission.Controller, string) {
	t.Helper()
	ctl, err := admission.New(admission.Config{Token: "svc-token"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/admission", ctl.AdminHandler())
	svc := httptest.NewServer(mux)
	t.Cleanup(svc.Close)
	return ctl, svc.URL
}

// alertmanagers are the pinned Alertmanager binaries (`make tools`) the integration tests run:
// the newest release and the oldest supported one (tools/alertmanager).
var alertmanagers = []string{"alertmanager", "alertmanager-oldest"}

// startAlertmanager runs the Alertmanager binary bin with config on a free loopback port until the
// test ends, and returns its address once it is ready. Its log is printed if the test fails.
func startAlertmanager(t *testing.T, bin, config string, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	amConfig := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(amConfig, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	amAddr := freeAddr(t)
	cmd := exec.Command(bin, append([]string{"--config.file=" + amConfig, "--storage.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + amAddr, "--cluster.listen-address=", "--log.level=warn"}, args...)...)
	var amLog bytes.Buffer
	cmd.Stdout, cmd.Stderr = &amLog, &amLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s log:\n%s", filepath.Base(bin), amLog.String())
		}
	})
	waitFor(t, "alertmanager ready", 20*time.Second, func() bool {
		resp, err := http.Get("http://" + amAddr + "/-/ready")
		if err != nil {
			return false
		}
		drain(resp)
		return resp.StatusCode == 200
	})
	return amAddr
}

// postAlerts posts alerts to Alertmanager's API, as Prometheus does.
func postAlerts(t *testing.T, amAddr string, alerts ...map[string]any) {
	t.Helper()
	body, _ := json.Marshal(alerts)
	resp, err := http.Post("http://"+amAddr+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	drain(resp)
	if resp.StatusCode != 200 {
		t.Fatalf("POST /api/v2/alerts: %d", resp.StatusCode)
	}
}

func TestAlertmanagerToAdmissionAndOneAndon(t *testing.T) {
	for _, name := range alertmanagers {
		t.Run(name, func(t *testing.T) { testAlertmanagerToAdmission(t, pinned.Require(t, name)) })
	}
}

func testAlertmanagerToAdmission(t *testing.T, am string) {
	ctl, svcURL := startAdmission(t)
	s, url := testServer(t, fmt.Sprintf(`bearer_token: hook-token
actuator:
  services:
    svc:
      token: svc-token
      instances: [{name: i0, url: '%s/admin/admission'}]
`, svcURL))
	amAddr := startAlertmanager(t, am, fmt.Sprintf(`route:
  receiver: andon
  group_by: [alertname, service]
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: andon
    webhook_configs:
      - url: %s/webhook
        send_resolved: true
        http_config:
          authorization: {credentials: hook-token}
`, url))

	postAlert := func() {
		postAlerts(t, amAddr, map[string]any{
			"labels": map[string]string{"alertname": "SvcErrorRatioRed", "service": "svc", "signal": "error_ratio", "level": "red",
				"severity": "critical", "action": "page,shed,reject_new,andon", "instance": "i0"},
			"annotations": map[string]string{"summary": "errors above 0.5%", "shed_fraction": "0.5", "shed_tiers": "3,2", "andon_type": "operating_limit"},
			"startsAt":    time.Now().Add(-time.Minute).UTC().Format(time.RFC3339),
		})
	}
	postAlert()
	waitFor(t, "shed and reject_new on the admission API", 20*time.Second, func() bool {
		st := ctl.State()
		return st.Shed != nil && st.RejectNew != nil
	})
	st := ctl.State()
	if st.Shed.Fraction != 0.5 || st.Shed.SetBy != "andon-webhook" || st.Shed.AndonID == "" {
		t.Fatalf("shed setting: %+v", st.Shed)
	}
	postAlert() // the same alert again: no second andon
	time.Sleep(1500 * time.Millisecond)
	ctx := context.Background()
	open, err := s.Ledger().List(ctx, andon.Filter{SKU: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || open[0].ID != st.Shed.AndonID || open[0].Type != andon.OperatingLimit {
		t.Fatalf("andons for svc: %+v (shed andon id %s)", open, st.Shed.AndonID)
	}
	acts, _ := s.ledger.Store.Actions(ctx, andon.ActionFilter{Service: "svc", Result: "applied"})
	if len(acts) != 2 {
		t.Fatalf("applied actions: %+v", acts)
	}
	// The notification reason is stored as this release sends it ("first notification" since 0.32).
	fixture, err := os.ReadFile(filepath.Join("testdata", "alertmanager-"+alertmanagerVersion(t, am)+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var want Message
	if err := json.Unmarshal(fixture, &want); err != nil {
		t.Fatal(err)
	}
	if got := storedReasons(t, s); len(got) != 1 || got[0] != want.NotificationReason {
		t.Fatalf("stored notification reasons %q, want [%q]", got, want.NotificationReason)
	}
}

// The actuator's active actions are kept in the store: a receiver restarted
// between an alert's "firing" and its "resolved" still reverts what the one
// before it applied, instead of leaving the service shedding until the TTL.
func TestRestartedReceiverRevertsWhatItsPredecessorApplied(t *testing.T) {
	ctl, svcURL := startAdmission(t)
	cfg := fmt.Sprintf(`db: %s
insecure_no_auth: true
actuator:
  defaults: {hold_down: 50ms}
  services:
    svc:
      token: svc-token
      instances: [{name: i0, url: '%s/admin/admission'}]
`, newLedger(t), svcURL)
	receive := func(status string) {
		c, err := ParseConfig([]byte(cfg))
		if err != nil {
			t.Fatal(err)
		}
		s := newServer(t, c)
		srv := httptest.NewServer(s.Handler())
		m := payload(`{}:{service="svc"}`, 1, status)
		m.Alerts[0].Labels["action"] = "page,shed"
		if code, _ := post(t, srv.URL, "", encode(m), "application/json"); code != http.StatusOK {
			t.Fatalf("%s: status %d", status, code)
		}
		if status == "firing" {
			waitFor(t, "shed applied", 5*time.Second, func() bool { return ctl.State().Shed != nil })
		} else {
			waitFor(t, "the restarted receiver to revert shed after the hold-down", 5*time.Second, func() bool { return ctl.State().Shed == nil })
		}
		srv.Close()
		if err := s.Close(); err != nil { // waits for the actions and the saved state
			t.Fatal(err)
		}
	}
	receive("firing")
	receive("resolved")
}
