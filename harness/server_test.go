package harness

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The reference servers of these tests are the official go-sdk's, on
// 127.0.0.1: real protocol code, not mocks.

type echoArgs struct {
	Text string `json:"text"`
}

type sleepArgs struct {
	Ms int `json:"ms"`
}

func newMCPServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "harness-test", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "echo text"},
		func(_ context.Context, _ *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "sleep", Description: "sleep ms"},
		func(ctx context.Context, _ *mcp.CallToolRequest, a sleepArgs) (*mcp.CallToolResult, any, error) {
			select {
			case <-time.After(time.Duration(a.Ms) * time.Millisecond):
			case <-ctx.Done():
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "slept"}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "fail", Description: "always fails"},
		func(context.Context, *mcp.CallToolRequest, echoArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "boom"}}}, nil, nil
		})
	return s
}

// serverKind selects which go-sdk handler a test server runs.
type serverKind int

const (
	stateful2025  serverKind = iota // sessions, SSE responses with priming events
	statefulJSON                    // sessions, application/json responses
	stateless2026                   // Stateless: true, speaks 2026-07-28
	legacySSE                       // the 2024-11-05 HTTP+SSE transport
)

// testServer is a go-sdk server plus counters of what reached it.
type testServer struct {
	URL      string
	requests atomic.Int64
	deletes  atomic.Int64
}

func startServer(t testing.TB, kind serverKind, wrap func(http.Handler) http.Handler) *testServer {
	t.Helper()
	srv := newMCPServer()
	get := func(*http.Request) *mcp.Server { return srv }
	var h http.Handler
	switch kind {
	case stateful2025:
		h = mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{EventStore: mcp.NewMemoryEventStore(nil)})
	case statefulJSON:
		h = mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{JSONResponse: true})
	case stateless2026:
		h = mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{Stateless: true})
	case legacySSE:
		h = mcp.NewSSEHandler(get, nil)
	}
	ts := &testServer{}
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.requests.Add(1)
		if r.Method == http.MethodDelete {
			ts.deletes.Add(1)
		}
		h.ServeHTTP(w, r)
	})
	var root http.Handler = counted
	if wrap != nil {
		root = wrap(counted)
	}
	hs := httptest.NewServer(root)
	t.Cleanup(hs.Close)
	ts.URL = hs.URL
	return ts
}

// TestMain lets the test binary act as a stdio MCP server when asked, so the
// stdio transport is tested against the real go-sdk server too.
func TestMain(m *testing.M) {
	if os.Getenv("ANDON_HARNESS_STDIO_SERVER") == "1" {
		if err := newMCPServer().Run(context.Background(), &mcp.StdioTransport{}); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
