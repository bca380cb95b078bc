package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/mattn/go-isatty"

	"github.com/andon-sre/andon/harness"
)

// registerLoad wires `andon load`: drive an MCP server with a load profile.
func registerLoad(app *kingpin.Application) {
	cmd := app.Command("load", "Drive an MCP server with a load profile (open or closed model); print progress and a summary, write result.json, report.html and recording.json.")
	var t harness.Target
	cmd.Flag("target", "MCP endpoint: Streamable HTTP URL (e.g. http://127.0.0.1:8080/mcp) or, with --transport=sse, the SSE URL.").StringVar(&t.URL)
	cmd.Flag("transport", "streamable-http, sse (legacy HTTP+SSE) or stdio (server command after --).").Default(harness.TransportStreamable).EnumVar(&t.Transport, harness.TransportStreamable, harness.TransportSSE, harness.TransportStdio)
	cmd.Flag("protocol", "Protocol revision: auto (server/discover, falling back to initialize), 2026-07-28 or 2025-11-25.").Default(harness.EraAuto).EnumVar(&t.Era, harness.EraAuto, harness.Era20260728, harness.Era20251125)
	headers := cmd.Flag("header", "Extra HTTP header on every request, 'Name: value' (repeatable).").Strings()
	command := cmd.Arg("command", "stdio: the server command and its arguments (after --).").Strings()
	profile := cmd.Flag("profile", "Built-in profile ("+strings.Join(harness.BuiltinProfiles(), ", ")+") or a profile YAML file.").Default("baseline").String()
	scale := cmd.Flag("scale", "Scale rates, session counts and schedule durations by this factor (e.g. 0.01 for a quick run).").Default("1").Float64()
	scaleRate := cmd.Flag("scale.rate", "Scale only rates and the closed model's session count (overrides --scale for them).").Float64()
	scaleDur := cmd.Flag("scale.duration", "Scale only durations: duration, ramp_up, steps, sine period (overrides --scale for them).").Float64()
	duration := cmd.Flag("duration", "Override the profile's duration (after scaling).").Duration()
	output := cmd.Flag("output", "Directory for result.json, report.html and recording.json (default andon-load-<profile>-<time>).").Short('o').String()
	listen := cmd.Flag("web.listen-address", "Serve the harness's live /metrics here during the run; empty to disable.").Default("127.0.0.1:9555").String()
	var opts harness.Options
	cmd.Flag("scrape-target", "The target's own /metrics URL, scraped into the recording each interval.").StringVar(&opts.ScrapeTarget)
	cmd.Flag("record.interval", "Sampling step of the recording.").Default("1s").DurationVar(&opts.RecordInterval)
	cmd.Flag("late-after", "Count a request late when sent this long after its intended start.").Default("5ms").DurationVar(&opts.LateAfter)
	thresholds := cmd.Flag("threshold", "Threshold line on the report, metric=value[:label], e.g. latency_p99=280ms:red (repeatable).").Strings()
	quiet := cmd.Flag("quiet", "No progress lines.").Bool()

	cmd.Action(func(*kingpin.ParseContext) error {
		t.Command = *command
		if t.Transport != harness.TransportStdio && t.URL == "" {
			return &exitError{code: 2, err: errors.New("load: --target is required (or --transport=stdio -- <server command>)")}
		}
		if len(*headers) > 0 {
			t.Header = http.Header{}
			for _, h := range *headers {
				k, v, ok := strings.Cut(h, ":")
				if !ok {
					return &exitError{code: 2, err: fmt.Errorf("load: --header %q: want 'Name: value'", h)}
				}
				t.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
		for _, s := range *thresholds {
			th, err := harness.ParseThreshold(s)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			opts.Thresholds = append(opts.Thresholds, th)
		}
		p, err := harness.LoadProfile(*profile)
		if err != nil {
			return failure(err)
		}
		sr, sd := *scale, *scale
		if *scaleRate > 0 {
			sr = *scaleRate
		}
		if *scaleDur > 0 {
			sd = *scaleDur
		}
		p = p.Scale(sr, sd)
		if *duration > 0 {
			p.Duration = *duration
		}
		opts.Target, opts.Profile, opts.Logger = t, p, logger
		if !*quiet {
			opts.Progress = os.Stderr
			opts.ProgressTTY = isatty.IsTerminal(os.Stderr.Fd())
		}
		if *listen != "" {
			l, err := net.Listen("tcp", *listen)
			if err != nil {
				return failure(fmt.Errorf("load: --web.listen-address %s: %w (use another address, or '' to disable)", *listen, err))
			}
			mux := http.NewServeMux()
			srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
			opts.OnStart = func(h http.Handler) {
				mux.Handle("/metrics", h)
				go func() { _ = srv.Serve(l) }()
				logger.Info("serving live metrics", "url", "http://"+l.Addr().String()+"/metrics")
			}
			defer srv.Close()
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		logger.Info("starting load", "profile", p.Name, "model", p.Model, "duration", p.Duration, "target", t.URL)
		res, err := harness.Run(ctx, opts)
		if err != nil {
			return failure(err)
		}
		if err := harness.WriteSummary(os.Stdout, res); err != nil {
			return failure(err)
		}
		dir := *output
		if dir == "" {
			dir = fmt.Sprintf("andon-load-%s-%s", p.Name, res.Start.Format("20060102-150405"))
		}
		paths, err := harness.WriteRun(dir, res)
		if err != nil {
			return failure(fmt.Errorf("writing the run to %s: %w", dir, err))
		}
		for _, p := range paths {
			fmt.Println("wrote", filepath.Clean(p))
		}
		return nil
	})
}
