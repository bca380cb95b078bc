// Package chromium loads a self-contained HTML report in headless Chromium and returns the DOM
// after its scripts ran: how the report tests check that charts really draw.
package chromium

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Find returns a headless-capable Chromium or "".
func Find() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// DumpDOM loads page (a file path) and returns the DOM. Without Chromium the test is skipped,
// saying to run target (which installs it), unless ANDON_REQUIRE_CHROMIUM is set: then it fails.
func DumpDOM(t testing.TB, page, target string) []byte {
	t.Helper()
	bin := Find()
	if bin == "" && os.Getenv("ANDON_REQUIRE_CHROMIUM") != "" {
		t.Fatal("ANDON_REQUIRE_CHROMIUM is set but no chromium is on PATH")
	}
	if bin == "" {
		t.Skipf("chromium not installed: run `make %s` (installs Debian's chromium) to check that the charts draw", target)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(t.TempDir(), "profile"), "--dump-dom", "file://"+page)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	return dom
}
