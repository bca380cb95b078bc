package harness

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"
)

func TestDialBothEras(t *testing.T) {
	exe, _ := os.Executable()
	t.Setenv("ANDON_HARNESS_STDIO_SERVER", "1")
	cases := []struct {
		name     string
		kind     serverKind
		target   Target
		wantEra  string
		noServer bool
		unknown  string // class of an unknown method: servers answer it differently
	}{
		{name: "auto detection finds the stateless 2026-07-28 revision on a Stateless server", kind: stateless2026, wantEra: Era20260728, unknown: "jsonrpc_-32601"},
		{name: "auto detection falls back to initialize on a stateful server (SSE answers, priming events)", kind: stateful2025, wantEra: Era20251125},
		{name: "auto detection falls back to initialize on a stateful server answering application/json", kind: statefulJSON, wantEra: Era20251125},
		{name: "forcing 2025-11-25 against a stateless server still works", kind: stateless2026, target: Target{Era: Era20251125}, wantEra: Era20251125},
		{name: "the legacy HTTP+SSE transport connects through GET /sse", kind: legacySSE, target: Target{Transport: TransportSSE}, wantEra: Era20251125},
		{name: "the stdio transport drives a spawned server", noServer: true, target: Target{Transport: TransportStdio, Command: []string{exe}}, wantEra: Era20260728, unknown: "jsonrpc_-32601"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.target
			if !tc.noServer {
				target.URL = startServer(t, tc.kind, nil).URL
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			d := &Dialer{Target: target, HTTP: NewHTTPClient(4)}
			c, err := d.Dial(ctx)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close(ctx)
			if c.Era() != tc.wantEra {
				t.Errorf("era = %s, want %s", c.Era(), tc.wantEra)
			}
			if tc.unknown == "" {
				tc.unknown = "http_400"
			}
			for _, r := range []struct {
				req       Request
				wantClass string
			}{
				{Request{Method: "tools/call", Name: "echo", Params: json.RawMessage(`{"name":"echo","arguments":{"text":"hi"}}`), Tier: 1}, ""},
				{Request{Method: "tools/list", Params: json.RawMessage(`{}`), Tier: 3}, ""},
				{Request{Method: "tools/call", Name: "fail", Params: json.RawMessage(`{"name":"fail","arguments":{"text":"x"}}`)}, ClassToolError},
				{Request{Method: "no/such/method", Params: json.RawMessage(`{}`)}, tc.unknown},
			} {
				p, err := Prepare(r.req, c.Era())
				if err != nil {
					t.Fatal(err)
				}
				err = c.Call(ctx, p)
				if got := Classify(err); got != r.wantClass {
					t.Errorf("%s %s: class %q (%v), want %q", r.req.Method, r.req.Name, got, err, r.wantClass)
				}
			}
		})
	}
}
