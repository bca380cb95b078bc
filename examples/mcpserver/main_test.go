package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// buildBinary builds this command the way the e2e stack and the harness do.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mcpserver")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func echo(t *testing.T, cs *mcp.ClientSession) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "bin"}})
	if err != nil || res.Content[0].(*mcp.TextContent).Text != "bin" {
		t.Fatalf("echo: %v %+v", err, res)
	}
}

func TestBinaryServesBothErasAndStdio(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cmd := exec.CommandContext(ctx, bin, "--web.listen-address=127.0.0.1:0", "--log.level=warn")
	cmd.Env = append(os.Environ(), "ANDON_ADMIN_TOKEN=x")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		t.Fatalf("first stdout line %q (%v), want 'listening on <addr>'", line, err)
	}
	for _, version := range []string{"2025-11-25", ""} {
		client := mcp.NewClient(&mcp.Implementation{Name: "bin-test", Version: "1"}, nil)
		cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + addr + "/mcp", DisableStandaloneSSE: true},
			&mcp.ClientSessionOptions{ProtocolVersion: version})
		if err != nil {
			t.Fatalf("connect %q: %v", version, err)
		}
		echo(t, cs)
		cs.Close()
	}

	stdio := exec.CommandContext(ctx, bin, "--transport=stdio", "--web.listen-address=127.0.0.1:0", "--log.level=warn")
	client := mcp.NewClient(&mcp.Implementation{Name: "bin-test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: stdio}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("stdio connect: %v", err)
	}
	echo(t, cs)
	if err := cs.Close(); err != nil {
		t.Logf("stdio close: %v", err)
	}
}
