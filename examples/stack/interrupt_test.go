package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInterrupt runs the demo binary, interrupts it once the load is running, and checks that no
// process it started is left: Ctrl-C (SIGINT) stops everything in order; SIGKILL of the
// orchestrator leaves the children to the kernel (Pdeathsig, Linux only).
func TestInterrupt(t *testing.T) {
	cfg := stackConfig(t)
	bin := filepath.Join(cfg.Dir, "stack")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/stack: %v\n%s", err, out)
	}
	sigs := []syscall.Signal{syscall.SIGINT}
	if runtime.GOOS == "linux" {
		sigs = append(sigs, syscall.SIGKILL)
	}
	for _, sig := range sigs {
		t.Run(sig.String(), func(t *testing.T) {
			dir := filepath.Join(cfg.Dir, strings.ReplaceAll(sig.String(), " ", "-"))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			c := exec.CommandContext(ctx, bin, "--repo", cfg.Repo, "--dir", dir)
			out, err := c.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			c.Stderr = os.Stderr
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			started := make(chan struct{})
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					t.Log(sc.Text())
					if strings.HasPrefix(strings.TrimSpace(sc.Text()), "mcpserver http://") {
						close(started)
					}
				}
			}()
			select {
			case <-started:
			case <-ctx.Done():
				t.Fatal("the demo did not start its stack within 2 minutes")
			}
			time.Sleep(3 * time.Second) // the load is running
			if left := processesIn(t, dir); len(left) < 4 {
				t.Fatalf("want the 4 children (mcpserver, andon webhook, alertmanager, prometheus) running, found %d: %q", len(left), left)
			}
			sent := time.Now()
			if err := c.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err = c.Wait()
			t.Logf("demo exited %s after %s: %v", time.Since(sent).Round(time.Millisecond), sig, err)
			var left []string
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if left = processesIn(t, dir); len(left) == 0 {
					break
				}
			}
			t.Logf("processes left %s after %s: %d", time.Since(sent).Round(time.Millisecond), sig, len(left))
			if len(left) > 0 {
				t.Errorf("processes outlived the demo: %q", left)
			}
		})
	}
}

// processesIn lists the live processes whose command line names dir: every child of the demo does
// (its binary or its config is there).
func processesIn(t *testing.T, dir string) []string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("listing processes reads /proc")
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || e.Name() == "self" || e.Name() == "thread-self" {
			continue
		}
		if cmd := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(cmd, dir+string(filepath.Separator)) {
			found = append(found, e.Name()+": "+cmd)
		}
	}
	return found
}
