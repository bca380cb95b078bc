package harness

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const shortProfile = `
name: short
duration: 1s
rate: {shape: ramp, from: 50, to: 150}
sessions: 2
timeout: 2s
mix:
  - {weight: 1, method: tools/call, tool: echo, arguments: {text: hi}, tier: 1}
  - {weight: 1, method: tools/list, tier: 3}
`

func TestRunOverEveryTransport(t *testing.T) {
	exe, _ := os.Executable()
	t.Setenv("ANDON_HARNESS_STDIO_SERVER", "1")
	for _, tc := range []struct {
		name   string
		target func(t *testing.T) Target
	}{
		{"legacy HTTP+SSE: responses arrive on the event stream, matched by id", func(t *testing.T) Target {
			return Target{URL: startServer(t, legacySSE, nil).URL, Transport: TransportSSE}
		}},
		{"stdio: concurrent requests on one pipe, matched by id", func(t *testing.T) Target {
			return Target{Transport: TransportStdio, Command: []string{exe}}
		}},
		{"Streamable HTTP with application/json answers", func(t *testing.T) Target {
			return Target{URL: startServer(t, statefulJSON, nil).URL}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runBounded(t, Options{Target: tc.target(t), Profile: mustProfile(t, shortProfile)})
			// A ramp from 50/s to 150/s over 1 s intends about 100 requests.
			if res.Intended < 90 || res.Intended > 110 || res.Errors != 0 || res.Sent != res.Intended {
				t.Errorf("intended %d, sent %d (dropped %v), errors %d (%v); want about 100, all sent, none failed",
					res.Intended, res.Sent, res.DroppedBy, res.Errors, res.ErrorSamples)
			}
		})
	}
}

// A server restart forgets every session: the next request on each fails
// as session_lost (not retried) and the slot opens a new session.
func TestSessionLostAfterServerRestart(t *testing.T) {
	var current atomic.Pointer[http.Handler]
	newHandler := func() {
		srv := newMCPServer()
		var h http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
		current.Store(&h)
	}
	newHandler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*current.Load()).ServeHTTP(w, r) }))
	defer hs.Close()
	go func() {
		time.Sleep(700 * time.Millisecond)
		newHandler()
	}()
	p := mustProfile(t, `{name: restart, duration: 1500ms, rate: {rps: 100}, sessions: 3, mix: [{weight: 1, method: tools/list}]}`)
	res := runBounded(t, Options{Target: Target{URL: hs.URL}, Profile: p})
	lost := res.Overall.Classes[ClassSessionLost]
	if lost < 1 || lost > 3+2 {
		t.Errorf("%d session_lost errors, want one per session slot (3), give or take requests in flight: %v", lost, res.Overall.Classes)
	}
	if res.Sessions.Opened < 6 {
		t.Errorf("opened %d sessions, want the 3 re-established after the restart (6)", res.Sessions.Opened)
	}
	if res.Errors != lost {
		t.Errorf("errors %d, want only the session_lost ones (%d): %v", res.Errors, lost, res.ErrorSamples)
	}
}

func TestLiveMetricsAndRecording(t *testing.T) {
	srv := startServer(t, stateless2026, nil)
	// The target's own metrics: a real registry with one counter.
	targetMetrics := httptest.NewServer(promhttp.Handler())
	defer targetMetrics.Close()
	liveCh := make(chan string, 1)
	opts := Options{
		Target: Target{URL: srv.URL}, Profile: mustProfile(t, shortProfile),
		ScrapeTarget: targetMetrics.URL, RecordInterval: 250 * time.Millisecond,
		OnStart: func(h http.Handler) {
			ms := httptest.NewServer(h)
			go func() {
				defer ms.Close()
				time.Sleep(500 * time.Millisecond)
				resp, err := http.Get(ms.URL)
				if err != nil {
					liveCh <- err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				liveCh <- string(b)
			}()
		},
	}
	res := runBounded(t, opts)
	live := <-liveCh
	for _, name := range []string{
		`mcp_client_operation_duration_seconds_bucket{error_type="",gen_ai_tool_name="echo",mcp_method_name="tools/call",tier="1",le="0.0001"}`,
		"andon_harness_requests_intended_total", "andon_harness_requests_sent_total",
		"andon_harness_in_flight", "andon_harness_active_sessions 2", "andon_harness_open_connections",
		`andon_harness_requests_dropped_total{reason="in_flight_cap"} 0`, `andon_harness_requests_dropped_total{reason="interrupted"} 0`,
	} {
		if !strings.Contains(live, name) {
			t.Errorf("live /metrics lacks %s", name)
		}
	}
	dir := t.TempDir()
	if _, err := WriteRun(dir, res); err != nil {
		t.Fatal(err)
	}
	rec, err := LoadRecording(filepath.Join(dir, RecordingFile))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Steps < 4 || time.Duration(rec.Interval) != 250*time.Millisecond {
		t.Errorf("recording: %d steps of %s, want ≥ 4 of 250ms", rec.Steps, time.Duration(rec.Interval))
	}
	sent, err := rec.Find("harness", map[string]string{"__name__": "andon_harness_requests_sent_total"})
	if err != nil {
		t.Fatal(err)
	}
	v := rec.Values(sent)
	if v[0] != 0 || v[len(v)-1] != float64(res.Sent) {
		t.Errorf("sent counter recorded from %v to %v, want 0 to %d", v[0], v[len(v)-1], res.Sent)
	}
	if _, err := rec.Find("target", map[string]string{"__name__": "promhttp_metric_handler_requests_total", "code": "200"}); err != nil {
		t.Errorf("the target's own series were not recorded: %v", err)
	}
	if res.ScrapeErrors != 0 {
		t.Errorf("%d scrape errors", res.ScrapeErrors)
	}
}

func TestLoadRecordingRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, body, want string }{
		{"not JSON", "{", "not a harness recording"},
		{"another version", `{"version": 9, "interval": "1s", "steps": 1, "series": []}`, "version 9"},
		{"a sample outside the grid", `{"version": 1, "interval": "1s", "steps": 1, "series": [{"source":"harness","labels":{"__name__":"x"},"samples":[{"step":3,"value":1}]}]}`, "out of order or outside"},
		{"a series without a name", `{"version": 1, "interval": "1s", "steps": 1, "series": [{"source":"harness","labels":{},"samples":[]}]}`, "no __name__"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "r.json")
			os.WriteFile(path, []byte(tc.body), 0o644)
			if _, err := LoadRecording(path); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
