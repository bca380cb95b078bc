package harness

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests drive whole servers in their own processes, as a user would:
// the reference server (examples/mcpserver, built here) and the official
// "everything" server from npm (installed by `make everything-server`).

// startProcess runs cmd until the test ends and returns once addr accepts
// connections (or fails the test after a minute).
func startProcess(t *testing.T, cmd *exec.Cmd, addr func() string) {
	t.Helper()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(time.Minute)
	for {
		if a := addr(); a != "" {
			if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
				c.Close()
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v did not start listening within a minute", cmd.Args)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startReferenceServer builds and starts examples/mcpserver with unlimited
// capacity and returns its base URL.
func startReferenceServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mcpserver")
	build := exec.Command("go", "build", "-o", bin, "../examples/mcpserver")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the reference server: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--web.listen-address", "127.0.0.1:0", "--capacity.rate", "0", "--log.level", "warn")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addrCh <- a
			}
		}
	}()
	var addr string
	startProcess(t, cmd, func() string {
		select {
		case addr = <-addrCh:
		default:
		}
		return addr
	})
	return "http://" + addr
}

// The seed's connection flood, 0 → 500 clients, against the reference
// server: every client holds its own TCP connection, and the server's own
// gauge of open connections shows them all.
func TestConnectionFloodOpensAConnectionPerClient(t *testing.T) {
	base := startReferenceServer(t)
	p, err := LoadProfile("connection-flood")
	if err != nil {
		t.Fatal(err)
	}
	// The seed's 500 clients, the ramp shortened to 5 s and held 5 s more
	// so the server's gauge is sampled with all of them connected.
	p = p.Scale(1, 5.0/300)
	p.Duration = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := Run(ctx, Options{Target: Target{URL: base + "/mcp"}, Profile: p,
		ScrapeTarget: base + "/metrics", RecordInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	server := -1.0
	if res.Connections.ServerPeak != nil {
		server = *res.Connections.ServerPeak
	}
	t.Logf("sessions opened %d (peak %d); connections opened %d (peak %d); server peak %.0f; intended %d, sent %d, dropped %v, errors %d",
		res.Sessions.Opened, res.Sessions.Peak, res.Connections.Opened, res.Connections.Peak, server, res.Intended, res.Sent, res.DroppedBy, res.Errors)
	if res.Sessions.Opened != 500 || res.Connections.Opened < 500 || res.Connections.Peak < 500 {
		t.Errorf("sessions opened %d, connections opened %d (peak %d); want 500 clients, each on its own connection",
			res.Sessions.Opened, res.Connections.Opened, res.Connections.Peak)
	}
	if server < 500 {
		t.Errorf("the server's %s peaked at %.0f, want ≥ 500", DefaultConnectionsMetric, server)
	}
	if res.Sent+res.Dropped != res.Intended || res.Completed > res.Sent {
		t.Errorf("counters do not add up: intended %d, sent %d, dropped %d, completed %d", res.Intended, res.Sent, res.Dropped, res.Completed)
	}
}

// everythingServer is the npm package's entry point, installed by
// `make everything-server` under .cache/npm; "" when it is not there.
func everythingServer() string {
	if p := os.Getenv("ANDON_EVERYTHING_SERVER"); p != "" {
		return p
	}
	p, _ := filepath.Abs("../.cache/npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// requireEverything returns node and the everything server's entry point,
// skipping (failing under ANDON_REQUIRE_EVERYTHING) when they are missing.
func requireEverything(t *testing.T) (node, entry string) {
	t.Helper()
	entry = everythingServer()
	if entry == "" {
		if os.Getenv("ANDON_REQUIRE_EVERYTHING") != "" {
			t.Fatal("the everything server is not installed: run `make everything-server`")
		}
		t.Skip("the everything server is not installed (`make everything-server` installs it from npm; `make test` does)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	return node, entry
}

// startEverything starts the everything server over an HTTP transport
// (streamableHttp or sse) on a free 127.0.0.1 port and returns its address.
func startEverything(t *testing.T, transport string) string {
	node, entry := requireEverything(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(node, entry, transport)
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	startProcess(t, cmd, func() string { return addr })
	return addr
}

// The seed profiles run unchanged (scaled down) against the official
// "everything" server over Streamable HTTP: a server nobody here wrote, in
// the 2025-11-25 era, whose echo takes "message", not "text".
func TestSeedProfilesAgainstTheEverythingServer(t *testing.T) {
	url := "http://" + startEverything(t, "streamableHttp") + "/mcp"
	for _, name := range BuiltinProfiles() {
		t.Run(name, func(t *testing.T) {
			p, err := LoadProfile(name)
			if err != nil {
				t.Fatal(err)
			}
			p = p.Scale(0.01, 0.01)
			p.Duration = min(p.Duration, 3*time.Second)
			p.RampUp = min(p.RampUp, p.Duration)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := Run(ctx, Options{Target: Target{URL: url}, Profile: p})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: tool %s %v, era %s, intended %d, sent %d, completed %d, errors %d %v",
				name, res.Profile.Tool, res.Profile.Arguments, res.Era, res.Intended, res.Sent, res.Completed, res.Errors, res.ErrorSamples)
			if res.Era != Era20251125 || res.Profile.Tool != "echo" {
				t.Errorf("era %s, tool %s; want 2025-11-25 and echo", res.Era, res.Profile.Tool)
			}
			if res.Completed == 0 || res.Errors != 0 || res.Sent+res.Dropped != res.Intended {
				t.Errorf("intended %d, sent %d, dropped %d, completed %d, errors %d (%v); want every request answered",
					res.Intended, res.Sent, res.Dropped, res.Completed, res.Errors, res.ErrorSamples)
			}
		})
	}
}

// The everything server over its other transports: legacy HTTP+SSE and
// stdio (one server process per session, so two sessions).
func TestEverythingServerOverLegacySSEAndStdio(t *testing.T) {
	node, entry := requireEverything(t)
	for _, tc := range []struct {
		name   string
		target func(t *testing.T) Target
	}{
		{"legacy HTTP+SSE", func(t *testing.T) Target {
			return Target{URL: "http://" + startEverything(t, "sse") + "/sse", Transport: TransportSSE}
		}},
		{"stdio", func(*testing.T) Target {
			return Target{Transport: TransportStdio, Command: []string{node, entry, "stdio"}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := LoadProfile("baseline")
			if err != nil {
				t.Fatal(err)
			}
			p = p.Scale(0.01, 0.01)
			p.Sessions = 2
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := Run(ctx, Options{Target: tc.target(t), Profile: p})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("tool %s, era %s, intended %d, sent %d, completed %d, errors %d %v",
				res.Profile.Tool, res.Era, res.Intended, res.Sent, res.Completed, res.Errors, res.ErrorSamples)
			if res.Profile.Tool != "echo" || res.Completed == 0 || res.Errors != 0 || res.Sent+res.Dropped != res.Intended {
				t.Errorf("tool %s, intended %d, sent %d, dropped %d, completed %d, errors %d (%v); want echo and every request answered",
					res.Profile.Tool, res.Intended, res.Sent, res.Dropped, res.Completed, res.Errors, res.ErrorSamples)
			}
		})
	}
}
