package harness

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Every case must fail with a clear error within a few seconds.
func TestBadInputFailsClearly(t *testing.T) {
	// A port that was just free: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + l.Addr().String()
	l.Close()

	malformedSSE := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("event: message\ndata: {not json\n\n"))
	}))
	defer malformedSSE.Close()
	truncatedSSE := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte(": keep-alive\nid: 1\nretry: 100\n\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,"))
	}))
	defer truncatedSSE.Close()
	silentSSE := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // never answers
	}))
	defer silentSSE.Close()
	htmlPage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>not MCP</html>"))
	}))
	defer htmlPage.Close()

	p := mustProfile(t, `{name: x, duration: 1s, rate: {rps: 10}, timeout: 1s, mix: [{weight: 1, method: tools/list}]}`)
	for _, tc := range []struct {
		name   string
		target Target
		want   []string
		class  string
	}{
		{"an unreachable target is reported as refused", Target{URL: closedURL}, []string{"connecting to", closedURL}, ClassRefused},
		{"an SSE event that is not JSON is a protocol error", Target{URL: malformedSSE.URL}, []string{"not JSON-RPC"}, ClassProtocol},
		{"an SSE stream cut mid-event is a reset", Target{URL: truncatedSSE.URL}, []string{"ended before the response"}, ClassReset},
		{"a server that never answers times out", Target{URL: silentSSE.URL}, []string{"server/discover", "before the deadline"}, ClassTimeout},
		{"an HTML page is not an MCP server", Target{URL: htmlPage.URL}, []string{"text/html"}, ClassProtocol},
		{"a stdio command that does not exist", Target{Transport: TransportStdio, Command: []string{"/nonexistent/mcp-server"}}, []string{"starting stdio server"}, ""},
		{"an unknown protocol revision", Target{URL: closedURL, Era: "2024-01-01"}, []string{"unknown protocol", "auto"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			_, err := Run(ctx, Options{Target: tc.target, Profile: p})
			if err == nil {
				t.Fatal("Run succeeded")
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %s to fail", time.Since(start))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var ce *CallError
			if tc.class != "" && (!errors.As(err, &ce) || ce.Class != tc.class) {
				t.Errorf("class %q, want %q (%v)", Classify(err), tc.class, err)
			}
		})
	}
}

func TestProfiles(t *testing.T) {
	t.Run("every built-in profile parses and scales to a short run", func(t *testing.T) {
		names := BuiltinProfiles()
		for _, want := range []string{"baseline", "connection-flood", "overload", "spike", "soak"} {
			p, err := LoadProfile(want)
			if err != nil {
				t.Fatalf("%s: %v (have %v)", want, err, names)
			}
			s := p.Scale(0.01, 0.01)
			if err := s.Validate(); err != nil {
				t.Errorf("%s scaled: %v", want, err)
			}
			if s.Duration > 40*time.Second {
				t.Errorf("%s scaled by 0.01 still lasts %s", want, s.Duration)
			}
		}
	})
	t.Run("scaling multiplies rates, session counts and schedule durations only", func(t *testing.T) {
		p, _ := LoadProfile("baseline")
		s := p.Scale(0.01, 0.01)
		if s.Rate.RPS != 25 || s.Duration != 3*time.Second || s.Timeout != p.Timeout || s.Sessions != p.Sessions {
			t.Errorf("baseline × 0.01 = %v/s for %s, timeout %s, sessions %d", s.Rate.RPS, s.Duration, s.Timeout, s.Sessions)
		}
		f, _ := LoadProfile("connection-flood")
		fs := f.Scale(0.01, 0.01)
		if fs.Sessions != 5 || fs.RampUp != 3*time.Second || fs.SessionRPS != f.SessionRPS {
			t.Errorf("flood × 0.01 = %d sessions over %s at %v/s", fs.Sessions, fs.RampUp, fs.SessionRPS)
		}
	})
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"an unknown field is rejected with its line", "name: x\nduration: 1s\nrate: {rps: 1}\nratee: 2\nmix: [{weight: 1, method: ping}]", "line 4: field ratee not found"},
		{"a missing mix is named", "name: x\nduration: 1s\nrate: {rps: 1}", "mix: needs at least one entry"},
		{"a bad tier is named", "name: x\nduration: 1s\nrate: {rps: 1}\nmix: [{weight: 1, method: ping, tier: 4}]", "mix[0].tier: 4"},
		{"tools/call needs a tool", "name: x\nduration: 1s\nrate: {rps: 1}\nmix: [{weight: 1, method: tools/call}]", "tools/call needs tool"},
		{"an unknown shape is named", "name: x\nduration: 1s\nrate: {shape: square, rps: 1}\nmix: [{weight: 1, method: ping}]", `rate.shape: "square"`},
		{"a sine may not go negative", "name: x\nduration: 1s\nrate: {shape: sine, rps: 1, amplitude: 2, period: 1s}\nmix: [{weight: 1, method: ping}]", "amplitude <= rps"},
		{"a bad duration is a YAML error", "name: x\nduration: soon\nrate: {rps: 1}\nmix: [{weight: 1, method: ping}]", "line 2"},
		{"two documents are refused", "name: x\nduration: 1s\nrate: {rps: 1}\nmix: [{weight: 1, method: ping}]\n---\nname: y", "more than one YAML document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseProfile([]byte(tc.yaml), "bad.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bad.yaml") {
				t.Errorf("error %v, want it to name bad.yaml and contain %q", err, tc.want)
			}
		})
	}
}
