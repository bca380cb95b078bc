// Package pinned finds the pinned binaries the Makefile builds into <repo>/.cache/bin
// (prometheus, promtool, alertmanager, amtool by `make tools`; vegeta by `make bench-harness`):
// one lookup for the CLI, tests and tools.
package pinned

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Path returns where binary name is: $ANDON_TOOLS_BIN/name, else .cache/bin/name in the nearest
// directory at or above the working directory that holds go.mod, else name on PATH.
func Path(name string) (string, error) {
	var tried []string
	for _, dir := range []string{os.Getenv("ANDON_TOOLS_BIN"), repoCache()} {
		if dir == "" {
			continue
		}
		p, err := filepath.Abs(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
		tried = append(tried, p)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found (tried %v and PATH): build it with `make tools` (vegeta: `make bench-harness`)", name, tried)
}

// Require is Path for tests: without the binary the test is skipped, saying how to build it.
func Require(t testing.TB, name string) string {
	t.Helper()
	p, err := Path(name)
	if err != nil {
		t.Skip(err)
	}
	return p
}

// repoCache is <repo>/.cache/bin for the repository holding the working directory.
func repoCache() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".cache", "bin")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
