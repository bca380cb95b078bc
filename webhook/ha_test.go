package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/andon-sre/andon/andon"
	"github.com/andon-sre/andon/internal/pgtest"
	"github.com/andon-sre/andon/internal/pinned"
)

// fillTemplate reads a config of testdata/ha and fills in its ${NAME} placeholders.
func fillTemplate(t *testing.T, name string, vars map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ha", name))
	if err != nil {
		t.Fatal(err)
	}
	return os.Expand(string(b), func(k string) string {
		v, ok := vars[k]
		if !ok {
			t.Fatalf("%s: no value for ${%s}", name, k)
		}
		return v
	})
}

// The HA topology end to end, all real processes on loopback: two clustered
// Alertmanagers, each sending to both of two `andon webhook` replicas, on one
// PostgreSQL, acting on a service's real admission API. An alert posted to
// both Alertmanagers (as Prometheus does) opens one andon and sheds once;
// after kill -9 of the replica holding the actuator lease, the alert's
// resolution reaches the survivor, which takes the lease over and reverts
// the shed; the gate and the receipt chain are answered from the same ledger.
func TestHAClosedLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two Alertmanagers, two receivers and PostgreSQL")
	}
	am := pinned.Require(t, "alertmanager")
	db := pgtest.DB(t)
	ctl, svcURL := startAdmission(t)
	dir := t.TempDir()
	addrs := []string{freeAddr(t), freeAddr(t)}
	vars := map[string]string{"DB": db, "TOKEN": "hook-token", "SERVICE": svcURL,
		"RECEIVER_1": "http://" + addrs[0], "RECEIVER_2": "http://" + addrs[1]}
	hookCfg := filepath.Join(dir, "webhook.yml")
	if err := os.WriteFile(hookCfg, []byte(fillTemplate(t, "webhook.yml", vars)), 0o644); err != nil {
		t.Fatal(err)
	}
	receivers := map[int]*exec.Cmd{} // by pid
	for _, addr := range addrs {
		c := startChild(t, hookCfg, addr)
		receivers[c.Process.Pid] = c
		defer func() { c.Process.Kill(); c.Wait() }()
	}
	amCfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(amCfg, []byte(fillTemplate(t, "alertmanager.yml", vars)), 0o644); err != nil {
		t.Fatal(err)
	}
	amAddrs, peers := []string{freeAddr(t), freeAddr(t)}, []string{freeAddr(t), freeAddr(t)}
	for i := range amAddrs {
		cmd := exec.Command(am, "--config.file="+amCfg, "--storage.path="+filepath.Join(dir, "am"+strconv.Itoa(i)),
			"--web.listen-address="+amAddrs[i], "--cluster.listen-address="+peers[i], "--cluster.advertise-address="+peers[i],
			"--cluster.peer="+peers[1-i], "--cluster.peer-timeout=1s", "--cluster.gossip-interval=50ms", "--log.level=warn")
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("alertmanager %d log:\n%s", i+1, log.String())
			}
		}()
	}
	for _, a := range amAddrs {
		waitFor(t, "alertmanager ready", 30*time.Second, func() bool {
			resp, err := http.Get("http://" + a + "/-/ready")
			if err != nil {
				return false
			}
			drain(resp)
			return resp.StatusCode == 200
		})
	}
	startsAt := time.Now().Add(-time.Minute).UTC()
	postAlert := func(endsAt time.Time) {
		alert := map[string]any{
			"labels": map[string]string{"alertname": "SvcErrorRatioRed", "service": "svc", "signal": "error_ratio", "level": "red",
				"severity": "critical", "action": "page,shed,andon"},
			"annotations": map[string]string{"summary": "errors above 0.5%", "shed_fraction": "0.5", "andon_type": "operating_limit"},
			"startsAt":    startsAt.Format(time.RFC3339),
		}
		if !endsAt.IsZero() {
			alert["endsAt"] = endsAt.UTC().Format(time.RFC3339)
		}
		body, _ := json.Marshal([]any{alert})
		for _, a := range amAddrs { // Prometheus sends every alert to every Alertmanager
			resp, err := http.Post("http://"+a+"/api/v2/alerts", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			drain(resp)
			if resp.StatusCode != 200 {
				t.Fatalf("POST /api/v2/alerts: %d", resp.StatusCode)
			}
		}
	}
	postAlert(time.Time{})
	waitFor(t, "shed applied", 30*time.Second, func() bool { return ctl.State().Shed != nil })
	ledger := &andon.Client{URL: "http://" + addrs[0], BearerToken: "hook-token"}
	ctx := context.Background()
	time.Sleep(2 * time.Second) // the second Alertmanager's copies, if any, arrive and are handled
	applied, err := ledger.Actions(ctx, andon.ActionFilter{Result: "applied"})
	if err != nil {
		t.Fatal(err)
	}
	andons, _ := ledger.List(ctx, andon.Filter{SKU: "svc"})
	if len(applied) != 1 || len(andons) != 1 || ctl.State().Shed.AndonID != andons[0].ID {
		t.Fatalf("%d applied actions and %d andons for svc, want 1 and 1: %+v %+v", len(applied), len(andons), applied, andons)
	}

	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var holder string
	if err := conn.QueryRow(ctx, `SELECT holder FROM leases WHERE name = 'actuator'`).Scan(&holder); err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.Split(holder, "/")[1])
	acting, ok := receivers[pid]
	if !ok {
		t.Fatalf("lease holder %q is none of the receivers", holder)
	}
	acting.Process.Signal(syscall.SIGKILL)
	acting.Wait()
	var survivor string
	for p, c := range receivers {
		if p != pid {
			survivor = envOf(c, "ANDON_WEBHOOK_TEST_ADDR")
		}
	}
	killedAt := time.Now()
	postAlert(time.Now()) // resolved: the Alertmanagers send it to both receivers, one of them dead
	waitFor(t, "the survivor to revert the shed", 60*time.Second, func() bool { return ctl.State().Shed == nil })
	t.Logf("shed reverted %s after kill -9 of the acting replica (lease_ttl 1s, hold-down 1s, group_interval 1s)", time.Since(killedAt).Round(100*time.Millisecond))

	ledger = &andon.Client{URL: "http://" + survivor, BearerToken: "hook-token"}
	if g, err := ledger.Gate(ctx, "svc", "deployment"); err != nil || g.Proceed {
		t.Fatalf("the survivor's gate: %+v %v (the andon stays open until a human resolves it)", g, err)
	}
	if probs, err := ledger.Verify(ctx); err != nil || len(probs) > 0 {
		t.Fatalf("receipt chain: %v %v", probs, err)
	}
	// The revert is recorded after the service answered it.
	waitFor(t, "the revert recorded beside the shed", 10*time.Second, func() bool {
		applied, _ = ledger.Actions(ctx, andon.ActionFilter{Result: "applied"})
		return len(applied) == 2
	})
}

func envOf(c *exec.Cmd, key string) string {
	for _, kv := range c.Env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}
