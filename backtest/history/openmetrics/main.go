// Command openmetrics writes the deterministic erlmcp history of package history as OpenMetrics
// text, for `promtool tsdb create-blocks-from openmetrics` (used by `make backtest-demo`).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/andon-sre/andon/backtest/history"
)

func main() {
	days := flag.Int("days", 3, "days of history")
	instances := flag.Int("instances", 2, "erlmcp instances")
	start := flag.String("start", "2025-06-02T00:00:00Z", "first scrape (RFC 3339)")
	flag.Parse()
	t, err := time.Parse(time.RFC3339, *start)
	if err != nil || *days < 1 || *instances < 1 {
		fmt.Fprintln(os.Stderr, "openmetrics: want -days ≥ 1, -instances ≥ 1 and -start in RFC 3339")
		os.Exit(2)
	}
	h := history.Options{Start: t, Duration: time.Duration(*days) * 24 * time.Hour, Interval: 15 * time.Second, Instances: *instances}
	if err := history.WriteOpenMetrics(os.Stdout, h); err != nil {
		fmt.Fprintln(os.Stderr, "openmetrics:", err)
		os.Exit(1)
	}
}
