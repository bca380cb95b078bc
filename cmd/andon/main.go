// Command andon is the one CLI of the toolkit: generate, check, explain and test operating-limits
// specs; run the webhook receiver; work the andon ledger; drive load. Wiring only, no logic.
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
)

// logger is set from --log.level and --log.format before any command runs.
var logger *slog.Logger

// exitError carries the exit status a command wants (1: failure/blocked, 2: usage).
type exitError struct {
	code int
	err  error
}

// usage is a usage error: exit 2.
func usage(err error) error { return &exitError{code: 2, err: err} }

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	app := kingpin.New("andon", "Run services inside their operating limits on Prometheus: specs → rules, alerts, dashboards, tests; alerts → actions and stop-the-line andons.")
	if version.Version == "" {
		version.Version = "dev" // `go run`/`go build` without the Makefile's -ldflags
	}
	app.Version(version.Print("andon"))
	app.HelpFlag.Short('h')
	logCfg := &promslog.Config{}
	promslogflag.AddFlags(app, logCfg)
	app.PreAction(func(*kingpin.ParseContext) error {
		logger = promslog.New(logCfg)
		return nil
	})
	for _, register := range registrations {
		register(app)
	}
	_, err := app.Parse(os.Args[1:])
	if err == nil {
		return
	}
	if ee, ok := err.(*exitError); ok {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(os.Stderr, "andon:", ee.err)
		}
		os.Exit(ee.code)
	}
	fmt.Fprintln(os.Stderr, "andon:", err)
	os.Exit(2)
}

// registrations: each area adds its subcommands in its own file.
var registrations = []func(*kingpin.Application){registerSpec, registerTest, registerFromRun, registerLoad, registerWebhook, registerLedger, registerReport, registerBacktest}
