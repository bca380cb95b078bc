package fromrun

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/andon-sre/andon/harness"
	"github.com/andon-sre/andon/internal/pinned"
	"github.com/andon-sre/andon/limits"
	"github.com/andon-sre/andon/promtest"
)

// A spec over the harness's own metrics, with windows short enough for a 12 s run.
const spec = `
service: loadtest
selector: '{job="andon-harness"}'
group_by: [instance]
scrape_interval: 1s
evaluation_interval: 1s
levels:
  yellow: {for: 2s, keep_firing_for: 4s, severity: warning, actions: [page], windows: {short: 3s, long: 6s}}
  red: {for: 2s, keep_firing_for: 4s, severity: critical, actions: [page], windows: {short: 3s, long: 6s}}
  emergency: {for: 2s, keep_firing_for: 4s, severity: critical, actions: [page], windows: {short: 3s, long: 6s}}
signals:
  - name: error_ratio
    kind: ratio
    description: Share of calls that failed.
    errors: 'mcp_client_operation_duration_seconds_count{error_type!=""}'
    total: mcp_client_operation_duration_seconds_count
    min_rate: 1
    thresholds: {red: 10%, emergency: 60%}
  - name: latency_p99
    kind: latency
    description: Slowest 1% of calls.
    histogram: mcp_client_operation_duration_seconds
    quantile: 0.99
    thresholds: {red: 100ms}
  - name: sessions
    kind: gauge
    description: Open sessions.
    metric: andon_harness_active_sessions
    thresholds: {yellow: 1, red: 10}
`

type textArgs struct {
	Text string `json:"text"`
}

type sleepArgs struct {
	Ms int `json:"ms"`
}

func startServer(t *testing.T) string {
	s := mcp.NewServer(&mcp.Implementation{Name: "fromrun-test", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, a textArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "fail"}, func(context.Context, *mcp.CallToolRequest, textArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "boom"}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "sleep"}, func(_ context.Context, _ *mcp.CallToolRequest, a sleepArgs) (*mcp.CallToolResult, any, error) {
		time.Sleep(time.Duration(a.Ms) * time.Millisecond)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "slept"}}}, nil, nil
	})
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(hs.Close)
	return hs.URL
}

// A real run with 30% tool errors and 10% slow calls: the red error-ratio, red latency and
// yellow sessions alerts must fire where the observed values say, emergency and red sessions
// must stay silent, and promtool must agree with every expectation.
func TestFromRunAgreesWithPromtool(t *testing.T) {
	p, err := harness.ParseProfile([]byte(`
name: fromrun
duration: 12s
rate: {rps: 40}
sessions: 2
timeout: 2s
mix:
  - {weight: 6, method: tools/call, tool: echo, arguments: {text: hi}}
  - {weight: 3, method: tools/call, tool: fail, arguments: {text: x}}
  - {weight: 1, method: tools/call, tool: sleep, arguments: {ms: 200}}
`), "fromrun.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := harness.Run(ctx, harness.Options{Target: harness.Target{URL: startServer(t)}, Profile: p})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	specPath := filepath.Join(dir, "limits.yaml")
	os.WriteFile(specPath, []byte(spec), 0o644)
	sp, _, err := limits.Load(specPath)
	if err != nil {
		t.Fatal(err)
	}
	files, notes, err := Write(sp, res.Recording, filepath.Join(dir, "out"), promtest.FromRunOptions{})
	if err != nil {
		t.Fatalf("Write: %v (notes %v)", err, notes)
	}
	data, _ := os.ReadFile(files[1])
	test := string(data)
	for _, want := range []string{
		"alertname: LoadtestErrorRatioRed", "alertname: LoadtestErrorRatioEmergency",
		"alertname: LoadtestLatencyP99Red", "alertname: LoadtestSessionsYellow", "alertname: LoadtestSessionsRed",
		`job="andon-harness"`, "exp_labels:",
	} {
		if !strings.Contains(test, want) {
			t.Errorf("test file lacks %q", want)
		}
	}
	if strings.Count(test, "exp_labels:") < 3 {
		t.Errorf("want firing expectations for error ratio, latency and sessions; test:\n%s", test)
	}
	promtool, err := pinned.Path("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skipf("%v: the generated test was not run", err)
	}
	if _, err := promtest.Run(ctx, promtool, files[1:], ""); err != nil {
		t.Fatalf("promtool disagrees with the expectations computed from the run: %v\n%s", err, test)
	}
}
