package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type echoIn struct {
	Text string `json:"text"`
}

// echoServer is the official go-sdk's stateless server with one echo tool, on 127.0.0.1.
func echoServer(t *testing.T) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "load-cli-test", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "echo text"},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
		})
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true}))
	t.Cleanup(hs.Close)
	return hs.URL
}

// An ad-hoc run from flags is a CI verdict: exit 3 with the failed
// threshold in the table, 0 when every threshold holds, 2 for bad flags.
func TestLoadThresholdExitCodes(t *testing.T) {
	bin := andonBin(t)
	url := echoServer(t)
	base := []string{"load", "--target", url, "--rate", "200", "--duration", "2s", "--tool", "auto", "--quiet", "--web.listen-address", ""}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{"a threshold no server can meet fails the run with a table naming it", []string{"--threshold", "p95<1µs", "--threshold", "errors<0.5%"}, 3,
			[]string{"p95<1µs      run    ", "FAIL", "errors<0.5%  run    0.000%    pass", "verdict: FAIL (1 of 2 checks failed)"}, "thresholds failed"},
		{"loose thresholds pass and exit 0", []string{"--threshold", "p95<30s", "--threshold", "errors<0.5%", "--threshold", "dropped<=1%"}, 0,
			[]string{"verdict: pass", "tool echo"}, ""},
		{"a threshold that does not parse is a usage error", []string{"--threshold", "p95<fast"}, 2, nil, "not a duration with a unit"},
		{"--rate on a closed-model profile is a usage error", []string{"--profile", "connection-flood"}, 2, nil, "closed-model"},
		{"--args must be a JSON object", []string{"--args", "[1]"}, 2, nil, "want a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(bin, append(append(base, "-o", dir), tc.args...)...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout.String(), stderr.String())
			}
			for _, want := range tc.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr.String())
			}
			if tc.code == 3 || tc.code == 0 {
				if _, err := os.Stat(filepath.Join(dir, "junit.xml")); err != nil {
					t.Errorf("no junit.xml: %v", err)
				}
			}
		})
	}
}
