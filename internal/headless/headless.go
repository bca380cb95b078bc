// Package headless loads a local page in headless Chromium (Debian's
// package: `make chromium`) and returns the DOM after its scripts ran, so
// tests can check that a report's plots were drawn.
package headless

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Find returns a headless-capable Chromium on PATH, or "".
func Find() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Require is Find for tests: without Chromium the test is skipped, or fails
// when ANDON_REQUIRE_CHROMIUM is set (make targets in CI).
func Require(t testing.TB) string {
	t.Helper()
	p := Find()
	if p == "" {
		if os.Getenv("ANDON_REQUIRE_CHROMIUM") != "" {
			t.Fatal("ANDON_REQUIRE_CHROMIUM is set but no chromium is on PATH (make chromium)")
		}
		t.Skip("chromium not installed: `make chromium` installs Debian's")
	}
	return p
}

// DumpDOM loads the file page with a throw-away profile under scratch and
// returns the DOM; no network is used.
func DumpDOM(chromium, page, scratch string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	abs, err := filepath.Abs(page)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(scratch, "chromium-profile"), "--dump-dom", "file://"+abs)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("chromium: %w\n%s", err, stderr.String())
	}
	return dom, nil
}
