package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/andon-sre/andon/actuator/admission"
)

const token = "t0ken"

// testServer is a real Server listening on 127.0.0.1.
type testServer struct {
	*Server
	URL    string
	served chan error
}

func start(t testing.TB, cfg Config) *testServer {
	t.Helper()
	cfg.AdminToken = token
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, URL: "http://" + l.Addr().String(), served: make(chan error, 1)}
	go func() { ts.served <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return ts
}

func unlimited() *Capacity { return &Capacity{} }

// connect opens a go-sdk client session; version "" lets the client negotiate (2026-07-28).
func (ts *testServer) connect(t testing.TB, version string) (*mcp.ClientSession, error) {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: ts.URL + "/mcp", DisableStandaloneSSE: true},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
}

func (ts *testServer) mustConnect(t testing.TB, version string) *mcp.ClientSession {
	t.Helper()
	cs, err := ts.connect(t, version)
	if err != nil {
		t.Fatalf("connect (%q): %v", version, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func callEcho(t testing.TB, cs *mcp.ClientSession, text string) (*mcp.CallToolResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
}

// statelessPOST sends a hand-made 2026-07-28 request with the standard headers and
// returns the HTTP status and the JSON-RPC response (decoded from JSON or SSE).
func (ts *testServer) statelessPOST(t testing.TB, method, name string, params map[string]any) (int, map[string]any) {
	t.Helper()
	if params == nil {
		params = map[string]any{}
	}
	params["_meta"] = map[string]any{
		"io.modelcontextprotocol/protocolVersion":    StatelessVersion,
		"io.modelcontextprotocol/clientCapabilities": map[string]any{},
		"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "hand-made", "version": "1"},
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/mcp", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", StatelessVersion)
	req.Header.Set("Mcp-Method", method)
	if name != "" {
		req.Header.Set("Mcp-Name", name)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Mcp-Session-Id") != "" {
		t.Errorf("a stateless answer carries Mcp-Session-Id %q", resp.Header.Get("Mcp-Session-Id"))
	}
	return resp.StatusCode, decodeRPC(t, resp)
}

func decodeRPC(t testing.TB, resp *http.Response) map[string]any {
	t.Helper()
	var msg map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && data != "" {
				if json.Unmarshal([]byte(data), &msg) == nil && msg["id"] != nil {
					return msg
				}
			}
		}
		return nil
	}
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &msg)
	return msg
}

func (ts *testServer) admin(t testing.TB, path, body string) (int, string) {
	t.Helper()
	method := http.MethodGet
	if body != "" {
		method = http.MethodPut
	}
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (ts *testServer) metrics(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestSessionEraClient(t *testing.T) {
	ts := start(t, Config{Capacity: unlimited()})
	cs := ts.mustConnect(t, "2025-11-25")
	if v := cs.InitializeResult().ProtocolVersion; v != "2025-11-25" {
		t.Fatalf("negotiated %s, want 2025-11-25", v)
	}
	if cs.ID() == "" {
		t.Fatal("2025-11-25 session has no Mcp-Session-Id")
	}
	ctx := context.Background()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	if fmt.Sprint(names) != "[echo fail work]" {
		t.Fatalf("tools %v, want echo, fail, work", names)
	}
	res, err := callEcho(t, cs, "hello")
	if err != nil || res.IsError || res.Content[0].(*mcp.TextContent).Text != "hello" {
		t.Fatalf("echo: %v %+v", err, res)
	}
	rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "andon://mcpserver/capacity"})
	if err != nil || !strings.Contains(rr.Contents[0].Text, `"rate_per_second"`) {
		t.Fatalf("resource: %v %+v", err, rr)
	}
	pr, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "incident_summary", Arguments: map[string]string{"service": "erlmcp"}})
	if err != nil || !strings.Contains(pr.Messages[0].Content.(*mcp.TextContent).Text, "erlmcp") {
		t.Fatalf("prompt: %v %+v", err, pr)
	}
	m := ts.metrics(t)
	for _, want := range []string{
		"mcp_server_active_sessions 1",
		`mcp_server_operation_duration_seconds_count{error_type="",gen_ai_tool_name="echo",mcp_method_name="tools/call"} 1`,
		`mcp_server_operation_duration_seconds_bucket{error_type="",gen_ai_tool_name="",mcp_method_name="initialize",le="0.0001"}`,
		"process_resident_memory_bytes", "go_goroutines",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestStatelessEraClientNegotiatesDiscover(t *testing.T) {
	ts := start(t, Config{Capacity: unlimited()})
	cs := ts.mustConnect(t, "")
	if v := cs.InitializeResult().ProtocolVersion; v != StatelessVersion {
		t.Fatalf("go-sdk client negotiated %s, want %s", v, StatelessVersion)
	}
	if res, err := callEcho(t, cs, "modern"); err != nil || res.Content[0].(*mcp.TextContent).Text != "modern" {
		t.Fatalf("echo: %v %+v", err, res)
	}
	if !strings.Contains(ts.metrics(t), "mcp_server_active_sessions 0") {
		t.Error("a stateless client left an active session")
	}
}

func TestHandMadeStatelessRequests(t *testing.T) {
	ts := start(t, Config{Capacity: unlimited()})
	cases := []struct {
		name, method, mcpName string
		params                map[string]any
		check                 func(map[string]any) bool
	}{
		{"server/discover lists 2026-07-28", "server/discover", "", nil, func(m map[string]any) bool {
			return strings.Contains(fmt.Sprint(m["result"]), StatelessVersion)
		}},
		{"echo answers its text", "tools/call", "echo", map[string]any{"name": "echo", "arguments": map[string]any{"text": "x1"}},
			func(m map[string]any) bool { return strings.Contains(fmt.Sprint(m["result"]), "x1") }},
		{"work burns CPU and waits", "tools/call", "work", map[string]any{"name": "work", "arguments": map[string]any{"cpu_ms": 2, "latency_ms": 3, "distribution": "lognormal"}},
			func(m map[string]any) bool { return strings.Contains(fmt.Sprint(m["result"]), "cpu_ms") }},
		{"fail kind=tool is a result with isError", "tools/call", "fail", map[string]any{"name": "fail", "arguments": map[string]any{"message": "boom"}},
			func(m map[string]any) bool { return strings.Contains(fmt.Sprint(m["result"]), "isError:true") }},
		{"fail kind=protocol is a JSON-RPC error", "tools/call", "fail", map[string]any{"name": "fail", "arguments": map[string]any{"kind": "protocol"}},
			func(m map[string]any) bool { return fmt.Sprint(m["error"].(map[string]any)["code"]) == "-32050" }},
		{"resources/read returns the capacity model", "resources/read", "andon://mcpserver/capacity", map[string]any{"uri": "andon://mcpserver/capacity"},
			func(m map[string]any) bool { return strings.Contains(fmt.Sprint(m["result"]), "queue_depth") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, msg := ts.statelessPOST(t, tc.method, tc.mcpName, tc.params)
			if status != http.StatusOK || msg == nil || !tc.check(msg) {
				t.Fatalf("status %d, message %v", status, msg)
			}
		})
	}
	m := ts.metrics(t)
	for _, want := range []string{
		`mcp_server_operation_duration_seconds_count{error_type="tool_error",gen_ai_tool_name="fail",mcp_method_name="tools/call"} 1`,
		`mcp_server_operation_duration_seconds_count{error_type="-32050",gen_ai_tool_name="fail",mcp_method_name="tools/call"} 1`,
		`mcp_server_operation_duration_seconds_count{error_type="",gen_ai_tool_name="",mcp_method_name="server/discover"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestRejectNewRefusesNewSessionsOnly(t *testing.T) {
	ts := start(t, Config{Capacity: unlimited()})
	existing := ts.mustConnect(t, "2025-11-25")
	if status, body := ts.admin(t, "/admin/admission", `{"reject_new":true,"ttl":"1m","reason":"test"}`); status != 200 {
		t.Fatalf("PUT reject_new: %d %s", status, body)
	}
	if cs, err := ts.connect(t, "2025-11-25"); err == nil {
		cs.Close()
		t.Fatal("a new 2025-11-25 session was admitted while reject_new is on")
	}
	if status, _ := ts.statelessPOST(t, "server/discover", "", nil); status != http.StatusServiceUnavailable {
		t.Fatalf("stateless server/discover while reject_new: status %d, want 503", status)
	}
	if res, err := callEcho(t, existing, "still here"); err != nil || res.IsError {
		t.Fatalf("existing session stopped working: %v", err)
	}
	if status, msg := ts.statelessPOST(t, "tools/call", "echo", map[string]any{"name": "echo", "arguments": map[string]any{"text": "a"}}); status != 200 || msg["result"] == nil {
		t.Fatalf("stateless tools/call while reject_new: %d %v", status, msg)
	}
	if got := testutil.ToFloat64(ts.m.connFailures); got < 2 {
		t.Errorf("mcp_server_connection_failures_total = %v, want ≥ 2", got)
	}
}

func TestCapacityQueueFillsThenRefuses(t *testing.T) {
	ts := start(t, Config{Capacity: &Capacity{RatePerSecond: 2, QueueCapacity: 1}})
	echo := map[string]any{"name": "echo", "arguments": map[string]any{"text": "q"}}
	if status, _ := ts.statelessPOST(t, "tools/call", "echo", echo); status != 200 {
		t.Fatalf("first message: %d", status)
	}
	var wg sync.WaitGroup
	wg.Go(func() { // waits ~0.5s for its slot
		if status, _ := ts.statelessPOST(t, "tools/call", "echo", echo); status != 200 {
			t.Errorf("queued message: status %d, want 200 once its slot comes", status)
		}
	})
	for ts.capacity.state().QueueDepth < 1 {
		time.Sleep(time.Millisecond)
	}
	if !strings.Contains(ts.metrics(t), "mcp_server_queue_depth 1") {
		t.Error("mcp_server_queue_depth is not 1 while a message waits")
	}
	if status, _ := ts.statelessPOST(t, "tools/call", "echo", echo); status != http.StatusServiceUnavailable {
		t.Fatalf("message beyond a full queue: status %d, want 503", status)
	}
	wg.Wait()
}

func TestAdminCapacityChangesAtRunTime(t *testing.T) {
	ts := start(t, Config{Capacity: unlimited()})
	cs := ts.mustConnect(t, "2025-11-25")
	if status, body := ts.admin(t, "/admin/capacity", `{"error_ratio":1}`); status != 200 || !strings.Contains(body, `"error_ratio": 1`) {
		t.Fatalf("PUT error_ratio: %d %s", status, body)
	}
	if _, err := callEcho(t, cs, "x"); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("error_ratio 1: echo error %v, want the injected error", err)
	}
	if status, body := ts.admin(t, "/admin/capacity", `{"error_ratio":0,"memory_growth_bytes_per_second":20000000}`); status != 200 {
		t.Fatalf("PUT memory growth: %d %s", status, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ts.capacity.state().RetainedBytes == 0 {
		if time.Now().After(deadline) {
			t.Fatal("memory growth retained nothing in 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, body := ts.admin(t, "/admin/capacity", `{"memory_growth_bytes_per_second":0,"release_memory":true}`)
	if !strings.Contains(body, `"retained_bytes": 0`) {
		t.Fatalf("release_memory: %s", body)
	}
	cases := []struct{ name, body string }{
		{"a negative rate", `{"rate_per_second":-1}`},
		{"an error ratio above 1", `{"error_ratio":2}`},
		{"an unknown field", `{"rate":5}`},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			if status, body := ts.admin(t, "/admin/capacity", tc.body); status != 400 || !strings.Contains(body, `"error"`) {
				t.Fatalf("status %d body %s, want 400 with error", status, body)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/admin/capacity", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("GET /admin/capacity without token: %v %v", err, resp.StatusCode)
	}
}

func TestDrainStopsTheServer(t *testing.T) {
	ts := start(t, Config{Capacity: unlimited(), Admission: admission.Config{DrainGrace: 200 * time.Millisecond}})
	if status, body := ts.admin(t, "/admin/admission", `{"drain":true,"ttl":"1m","reason":"emergency"}`); status != 200 {
		t.Fatalf("PUT drain: %d %s", status, body)
	}
	resp, err := http.Get(ts.URL + "/-/ready")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/-/ready while draining: %v %v", err, resp.StatusCode)
	}
	resp.Body.Close()
	select {
	case err := <-ts.served:
		if err != nil {
			t.Fatalf("Serve after drain: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not shut down after drain")
	}
}

func TestSlowStartDelaysOnlyTheFirstPeriod(t *testing.T) {
	// The spike is long against scheduling noise (300ms) and its window short, so the
	// check is about which messages wait, not about how precisely.
	const spike = 300 * time.Millisecond
	ts := start(t, Config{Capacity: unlimited(), SlowStart: SlowStart{For: 500 * time.Millisecond, Latency: spike}})
	took := func() time.Duration {
		begin := time.Now()
		if status, msg := ts.statelessPOST(t, "tools/call", "echo", map[string]any{"name": "echo", "arguments": map[string]any{"text": "x"}}); status != http.StatusOK || msg["result"] == nil {
			t.Fatalf("echo: status %d, %v", status, msg)
		}
		return time.Since(begin)
	}
	if d := took(); d < spike {
		t.Errorf("first message took %s, want at least the injected %s", d, spike)
	}
	time.Sleep(500 * time.Millisecond)
	if d := took(); d >= spike {
		t.Errorf("a message after the slow start took %s, want less than the injected %s", d, spike)
	}
}
