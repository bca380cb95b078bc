package rulegen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/andon-sre/andon/internal/loopback"
	"github.com/andon-sre/andon/internal/pinned"
	"github.com/andon-sre/andon/limits"
)

func run(t *testing.T, ctx context.Context, bin string, args ...string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := pinned.Require(t, "promtool")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, spec := range emitSpecs {
		t.Run(spec, func(t *testing.T) {
			s, _, err := limits.Load(spec)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "rules.yaml")
			if err := os.WriteFile(path, outputs(t, s)["rules.yaml"], 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, ctx, promtool, "check", "rules", path)
		})
	}
}

// mergedConfig is a minimal Alertmanager config with the snippet of ex merged in the way the
// snippet's header tells operators to: a root route with a default receiver, the snippet's
// routes first, then the user's (none here), receivers and inhibit_rules appended, and the
// receivers the spec's alertmanager.notify names defined. The token file exists.
func mergedConfig(t *testing.T, ex string) string {
	t.Helper()
	return writeMerged(t, loadExample(t, ex), "http://127.0.0.1:9/webhook", nil, nil, true) // discard port: notifications are not the point here
}

// writeMerged writes spec's snippet (webhook at hookURL) merged with the user's own routes and
// receivers (webhook URL per name; "" for a receiver that notifies nothing): the snippet's
// routes before the user's when first, after them otherwise.
func writeMerged(t *testing.T, spec *limits.Spec, hookURL string, userRoutes []map[string]any, userReceivers map[string]string, first bool) string {
	t.Helper()
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := DefaultAlertmanagerOptions()
	o.CredentialsFile, o.WebhookURL = token, hookURL
	snip := Alertmanager(spec, o)
	routes := append(anySlice(userRoutes), anySlice(snip.Route.Routes)...)
	if first {
		routes = append(anySlice(snip.Route.Routes), anySlice(userRoutes)...)
	}
	receivers := append([]any{map[string]string{"name": "default"}}, anySlice(snip.Receivers)...)
	names, _ := spec.Alertmanager.NotifyReceivers()
	for name := range userReceivers {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		r := map[string]any{"name": name}
		if u := userReceivers[name]; u != "" {
			r["webhook_configs"] = []map[string]any{{"url": u, "send_resolved": false}}
		}
		receivers = append(receivers, r)
	}
	cfg := map[string]any{
		"route":         map[string]any{"receiver": "default", "group_by": []string{"alertname"}, "routes": routes},
		"receivers":     receivers,
		"inhibit_rules": snip.InhibitRules,
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func anySlice[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// amtools are the pinned amtool binaries (`make tools`): the newest release's and the oldest
// supported one's; the generated config must pass both.
var amtools = []string{"amtool", "amtool-oldest"}

func TestAmtoolCheckConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tool := range amtools {
		for _, ex := range examples {
			t.Run(tool+"/"+ex, func(t *testing.T) { run(t, ctx, pinned.Require(t, tool), "check-config", mergedConfig(t, ex)) })
		}
	}
}

type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"startsAt,omitzero"`
	EndsAt      time.Time         `json:"endsAt,omitzero"`
	Status      *struct {
		State       string   `json:"state"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status,omitempty"`
}

// TestAlertmanagerInhibitions loads the merged config into a real Alertmanager and checks the
// generated inhibit_rules: emergency silences red, red silences yellow, for the same service,
// signal and instance only.
func TestAlertmanagerInhibitions(t *testing.T) {
	am := pinned.Require(t, "alertmanager")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base, logs := startAlertmanager(t, ctx, am, mergedConfig(t, "erlmcp"))

	alert := func(name, signal, level, instance string) amAlert {
		return amAlert{Labels: map[string]string{"alertname": name, "service": "erlmcp", "signal": signal,
			"level": level, "instance": instance, "severity": "critical"}, StartsAt: time.Now().Add(-time.Minute)}
	}
	post := []amAlert{
		alert("ErlmcpErrorRatioYellow", "error_ratio", "yellow", "a:9000"),
		alert("ErlmcpErrorRatioRed", "error_ratio", "red", "a:9000"),
		alert("ErlmcpErrorRatioEmergency", "error_ratio", "emergency", "a:9000"),
		alert("ErlmcpErrorRatioYellow", "error_ratio", "yellow", "b:9000"), // other instance: not inhibited
		alert("ErlmcpLatencyP95Yellow", "latency_p95", "yellow", "a:9000"), // other signal: not inhibited
	}
	postAlerts(t, base, post)
	want := map[string]bool{ // name@instance → inhibited
		"ErlmcpErrorRatioYellow@a:9000": true, "ErlmcpErrorRatioRed@a:9000": true, "ErlmcpErrorRatioEmergency@a:9000": false,
		"ErlmcpErrorRatioYellow@b:9000": false, "ErlmcpLatencyP95Yellow@a:9000": false,
	}
	// The inhibitor learns of source alerts asynchronously: poll until the picture is complete.
	var got map[string]bool
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		got = inhibited(t, base)
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("inhibited alerts: got %v, want %v\nalertmanager log:\n%s", got, want, logs.String())
}

func inhibited(t *testing.T, base string) map[string]bool {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var as []amAlert
	if err := json.NewDecoder(resp.Body).Decode(&as); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, a := range as {
		out[a.Labels["alertname"]+"@"+a.Labels["instance"]] = a.Status != nil && len(a.Status.InhibitedBy) > 0
	}
	return out
}

// startAlertmanager runs the Alertmanager binary am with config on a free loopback port until the
// test ends (HA off) and returns its base URL once ready, and its log.
func startAlertmanager(t *testing.T, ctx context.Context, am, config string) (string, *bytes.Buffer) {
	t.Helper()
	addr := loopback.FreeAddr(t)
	logs := new(bytes.Buffer)
	cmd := exec.CommandContext(ctx, am, "--config.file="+config, "--storage.path="+t.TempDir(),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	base := "http://" + addr
	waitReady(t, ctx, base+"/-/ready", logs)
	return base, logs
}

// postAlerts posts alerts to Alertmanager's API at base, as Prometheus does.
func postAlerts(t *testing.T, base string, alerts []amAlert) {
	t.Helper()
	body, _ := json.Marshal(alerts)
	resp, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v2/alerts: %s", resp.Status)
	}
}

func waitReady(t *testing.T, ctx context.Context, url string, logs *bytes.Buffer) {
	t.Helper()
	for ctx.Err() == nil {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("alertmanager did not become ready at %s:\n%s", url, logs.String())
}

// TestOldestPromtoolChecksClassicHistogramRules: the rule files of every spec whose latency signals
// use classic histograms pass `promtool check rules` of Prometheus 2.53 LTS, the oldest release the
// README claims for them (native histograms need 3.x).
func TestOldestPromtoolChecksClassicHistogramRules(t *testing.T) {
	promtool := pinned.Require(t, "promtool-lts")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	checked := 0
	for _, spec := range emitSpecs {
		s, _, err := limits.Load(spec)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(s.Signals, func(sig *limits.Signal) bool { return sig.Native }) {
			continue
		}
		checked++
		t.Run(spec, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rules.yaml")
			if err := os.WriteFile(path, outputs(t, s)["rules.yaml"], 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, ctx, promtool, "check", "rules", path)
		})
	}
	if checked < 2 {
		t.Fatalf("%d classic-histogram specs checked: want both examples at least", checked)
	}
}
