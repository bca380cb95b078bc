package promtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
)

// Result of a promtool run.
type Result struct {
	Files  []string
	Tests  int // test groups run
	Output string
}

var testNameRE = regexp.MustCompile(`(?m)^\s*-\s*name:`)

// Run runs `promtool test rules` on the test files; junit, when set, is where promtool writes a
// JUnit XML report. A test failure is an error that carries promtool's output.
func Run(ctx context.Context, promtool string, files []string, junit string) (*Result, error) {
	res := &Result{Files: files}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return res, err
		}
		res.Tests += len(testNameRE.FindAll(data, -1))
	}
	args := []string{"test", "rules"}
	if junit != "" {
		args = append(args, "--junit="+junit)
	}
	cmd := exec.CommandContext(ctx, promtool, append(args, files...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	res.Output = out.String()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return res, fmt.Errorf("promtool test rules failed (exit %s):\n%s", strconv.Itoa(ee.ExitCode()), res.Output)
	}
	if err != nil {
		return res, fmt.Errorf("running %s: %w", promtool, err)
	}
	return res, nil
}

var alertRE = regexp.MustCompile(`(?m)^\s*-\s*alert:`)

// CountAlerts counts the alerting rules in rule files.
func CountAlerts(ruleFiles []string) int {
	n := 0
	for _, f := range ruleFiles {
		if data, err := os.ReadFile(f); err == nil {
			n += len(alertRE.FindAll(data, -1))
		}
	}
	return n
}
