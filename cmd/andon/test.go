package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/alecthomas/kingpin/v2"

	"github.com/andon-sre/andon/bundle"
	"github.com/andon-sre/andon/internal/pinned"
	"github.com/andon-sre/andon/promtest"
)

// registerTest wires `andon test SPEC|DIR`: generate (for a spec) and run the promtool tests.
func registerTest(app *kingpin.Application) {
	cmd := app.Command("test", "Run the promtool unit tests of a spec (generated into a temporary bundle) or of a bundle directory.")
	target := cmd.Arg("spec-or-dir", "Operating-limits spec (YAML) or a bundle directory written by `andon generate`.").Required().String()
	junit := cmd.Flag("junit", "Write a JUnit XML report here (for CI).").String()
	promtool := cmd.Flag("promtool", "promtool binary (default: $ANDON_TOOLS_BIN/promtool, .cache/bin/promtool, PATH).").String()
	cmd.Action(func(*kingpin.ParseContext) error {
		files, alerts, cleanup, err := testFiles(*target)
		if err != nil {
			return err
		}
		defer cleanup()
		bin := *promtool
		if bin == "" {
			if bin, err = pinned.Path("promtool"); err != nil {
				return failure(err)
			}
		}
		res, err := promtest.Run(context.Background(), bin, files, *junit)
		if err != nil {
			return failure(err)
		}
		fmt.Printf("%d alerts, %d promtool tests passed (%s)\n", alerts, res.Tests, bin)
		return nil
	})
}

// testFiles returns the test files to run, how many alerts their rules hold, and a cleanup.
func testFiles(target string) ([]string, int, func(), error) {
	noop := func() {}
	st, err := os.Stat(target)
	if err != nil {
		return nil, 0, noop, failure(err)
	}
	if st.IsDir() {
		files, err := filepath.Glob(filepath.Join(target, "tests", "*.test.yaml"))
		if err != nil || len(files) == 0 {
			return nil, 0, noop, failure(fmt.Errorf("%s holds no tests/*.test.yaml: generate it with `andon generate -f SPEC -o %s`", target, target))
		}
		rules, _ := filepath.Glob(filepath.Join(target, "rules", "*.rules.yaml"))
		return files, promtest.CountAlerts(rules), noop, nil
	}
	spec, err := loadSpec(target, false)
	if err != nil {
		return nil, 0, noop, err
	}
	dir, err := os.MkdirTemp("", "andon-test-")
	if err != nil {
		return nil, 0, noop, failure(err)
	}
	cleanup := func() { os.RemoveAll(dir) }
	if _, err := bundle.Write(spec, dir, bundle.Options{Format: bundle.FormatRules}); err != nil {
		cleanup()
		return nil, 0, noop, failure(err)
	}
	rules := []string{filepath.Join(dir, bundle.RulesPath(spec)), filepath.Join(dir, bundle.LedgerRulesPath)}
	return []string{filepath.Join(dir, bundle.TestsPath(spec)), filepath.Join(dir, bundle.LedgerTestsPath)}, promtest.CountAlerts(rules), cleanup, nil
}
