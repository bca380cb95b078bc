package rulegen

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/andon-sre/andon/internal/pinned"
)

// pagerRoute is the route an existing config pages with: every critical alert, not continuing.
var pagerRoute = map[string]any{"receiver": "pager", "matchers": []string{`severity="critical"`}}

// TestAmtoolRoutesMergedBothWays merges the erlmcp snippet before and after a user's own routes and
// asks each pinned amtool which receivers an alert reaches: the snippet's route continues, so the
// user's routes after it starve of nothing; it reaches andon and the spec's notify receivers.
func TestAmtoolRoutesMergedBothWays(t *testing.T) {
	spec := loadExample(t, "erlmcp") // notify: yellow → platform-chat, red → platform-oncall, emergency → + platform-stakeholders
	continuing := map[string]any{"receiver": "pager", "matchers": []string{`severity="critical"`}, "continue": true}
	payments := map[string]any{"receiver": "payments-pager", "matchers": []string{`service="payments"`}}
	receivers := map[string]string{"pager": "", "payments-pager": ""}
	red := []string{"service=erlmcp", "alertname=ErlmcpErrorRatioRed", "signal=error_ratio", "level=red", "severity=critical"}
	cases := []struct {
		name   string
		routes []map[string]any
		first  bool
		labels []string
		want   string
	}{
		{"merged before a critical pager route, a red alert reaches andon, the on-call and the pager", []map[string]any{pagerRoute}, true, red,
			"andon-erlmcp,platform-oncall,pager"},
		{"merged before, a yellow alert reaches andon and chat, not the critical pager", []map[string]any{pagerRoute}, true,
			[]string{"service=erlmcp", "alertname=ErlmcpErrorRatioYellow", "level=yellow", "severity=warning"}, "andon-erlmcp,platform-chat"},
		{"merged before, an emergency reaches the on-call and the stakeholders", []map[string]any{pagerRoute}, true,
			[]string{"service=erlmcp", "alertname=ErlmcpErrorRatioEmergency", "level=emergency", "severity=critical"},
			"andon-erlmcp,platform-oncall,platform-stakeholders,pager"},
		{"merged before, another service's critical alert goes to the pager only", []map[string]any{pagerRoute}, true,
			[]string{"service=payments", "alertname=PaymentsDown", "severity=critical"}, "pager"},
		{"merged after a pager route that continues, a red alert reaches the pager, andon and the on-call", []map[string]any{continuing}, false, red,
			"pager,andon-erlmcp,platform-oncall"},
		{"merged after another service's route, a red alert reaches andon and the on-call", []map[string]any{payments}, false, red,
			"andon-erlmcp,platform-oncall"},
		{"merged after a pager route that does not continue, andon starves: why the header says put it first", []map[string]any{pagerRoute}, false, red,
			"pager"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, tool := range amtools {
		for _, c := range cases {
			t.Run(tool+"/"+c.name, func(t *testing.T) {
				bin := pinned.Require(t, tool)
				cfg := writeMerged(t, spec, "http://127.0.0.1:9/webhook", c.routes, receivers, c.first)
				out, err := exec.CommandContext(ctx, bin, append([]string{"config", "routes", "test", "--config.file=" + cfg}, c.labels...)...).CombinedOutput()
				if err != nil {
					t.Fatalf("amtool config routes test: %v\n%s", err, out)
				}
				if got := strings.TrimSpace(string(out)); got != c.want {
					cfgText, _ := os.ReadFile(cfg)
					t.Fatalf("receivers %q, want %q\nconfig:\n%s", got, c.want, cfgText)
				}
			})
		}
	}
}

// TestRedAlertReachesWebhookAndPager: through a real Alertmanager (the newest pinned release),
// one red erlmcp alert is delivered both to the andon webhook (with its bearer token) and to the
// on-call receiver the spec names, each a real HTTP endpoint here.
func TestRedAlertReachesWebhookAndPager(t *testing.T) {
	am := pinned.Require(t, "alertmanager")
	type delivery struct {
		who, auth string
		body      []byte
	}
	got := make(chan delivery, 16)
	endpoint := func(who string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			got <- delivery{who, r.Header.Get("Authorization"), b}
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	hook, pager := endpoint("andon webhook"), endpoint("on-call pager")
	cfg := writeMerged(t, loadExample(t, "erlmcp"), hook.URL+"/webhook", []map[string]any{pagerRoute},
		map[string]string{"platform-oncall": pager.URL, "pager": ""}, true)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base, logs := startAlertmanager(t, ctx, am, cfg)
	postAlerts(t, base, []amAlert{{Labels: map[string]string{"alertname": "ErlmcpErrorRatioRed", "service": "erlmcp", "signal": "error_ratio",
		"level": "red", "severity": "critical", "instance": "a:9000"}, StartsAt: time.Now().Add(-time.Minute)}})
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case d := <-got:
			if !bytes.Contains(d.body, []byte(`"alertname":"ErlmcpErrorRatioRed"`)) {
				t.Fatalf("%s got a notification without the red alert: %s", d.who, d.body)
			}
			if d.who == "andon webhook" && d.auth != "Bearer s3cret" {
				t.Fatalf("the andon webhook got Authorization %q, want the token file's bearer token", d.auth)
			}
			seen[d.who] = true
		case <-ctx.Done():
			t.Fatalf("delivered to %v only within the deadline (group_wait is %s)\nalertmanager log:\n%s", seen, DefaultAlertmanagerOptions().GroupWait, logs.String())
		}
	}
}
