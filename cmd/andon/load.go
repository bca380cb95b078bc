package main

import (
	"context"
	"encoding/json"
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

// loadHelp is `andon load --help`'s long text: the profile format and the
// exit codes, which a CI job needs without reading the docs.
const loadHelp = `Drive an MCP server with a load profile (open or closed model); print progress, a summary and the threshold verdict; write result.json, report.html, recording.json (and junit.xml with thresholds).

Ad hoc, without a profile file: andon load --target URL --rate 200 --duration 10s --tool auto --threshold 'p95<280ms' --threshold 'errors<0.5%'

Profile YAML (strict; see docs/harness.md):
  name: baseline
  model: open                          # open | closed
  duration: 300s
  rate: {shape: constant, rps: 2500}   # constant | ramp (from,to) | steps ([{for,rps}]) | sine (rps,amplitude,period)
  sessions: 50                         # open: sessions requests are spread over; closed: sessions reached after ramp_up
  ramp_up: 0s                          # closed only
  session_rps: 1                       # closed only: requests/s per session
  timeout: 5s
  max_in_flight: 10000                 # open only
  tool: auto                           # tools/call entries without a tool call this one (--tool, --args override)
  arguments: {}                        # its arguments (auto: made up from the tool's input schema)
  thresholds: ['p95<280ms', 'errors<0.5%']   # checked on the whole run and on every stage
  mix:
    - {weight: 60, method: tools/call, tier: 1}
    - {weight: 40, method: tools/list, tier: 3}

Thresholds: <metric><op><value>, op < <= > >=; metrics p50 p90 p95 p99 p99.9 max mean (CO-corrected latency, e.g. 280ms), errors and dropped (ratios, e.g. 0.5% or 0.005), rate (sent/s, whole run).

Exit codes: 0 the run happened and every threshold held (or none was given); 1 the run could not start (target unreachable, start-up budget spent, bad profile); 2 usage error; 3 a threshold was crossed or could not be shown to hold (no data, run interrupted).`

// exitThresholds is the exit code of a run whose verdict is FAIL.
const exitThresholds = 3

// registerLoad wires `andon load`: drive an MCP server with a load profile.
func registerLoad(app *kingpin.Application) {
	cmd := app.Command("load", loadHelp)
	var t harness.Target
	cmd.Flag("target", "MCP endpoint: Streamable HTTP URL (e.g. http://127.0.0.1:8080/mcp) or, with --transport=sse, the SSE URL.").StringVar(&t.URL)
	cmd.Flag("transport", "streamable-http, sse (legacy HTTP+SSE) or stdio (server command after --).").Default(harness.TransportStreamable).EnumVar(&t.Transport, harness.TransportStreamable, harness.TransportSSE, harness.TransportStdio)
	cmd.Flag("protocol", "Protocol revision: auto (server/discover, falling back to initialize), 2026-07-28 or 2025-11-25.").Default(harness.EraAuto).EnumVar(&t.Era, harness.EraAuto, harness.Era20260728, harness.Era20251125)
	headers := cmd.Flag("header", "Extra HTTP header on every request, 'Name: value' (repeatable).").Strings()
	command := cmd.Arg("command", "stdio: the server command and its arguments (after --).").Strings()
	var profileSet bool
	profile := cmd.Flag("profile", "Built-in profile ("+strings.Join(harness.BuiltinProfiles(), ", ")+") or a profile YAML file (default baseline; with --rate and no --profile, an ad-hoc run).").Default("baseline").IsSetByUser(&profileSet).String()
	scale := cmd.Flag("scale", "Scale rates, session counts and schedule durations by this factor (e.g. 0.01 for a quick run).").Default("1").Float64()
	scaleRate := cmd.Flag("scale.rate", "Scale only rates and the closed model's session count (overrides --scale for them).").Float64()
	scaleDur := cmd.Flag("scale.duration", "Scale only durations: duration, ramp_up, steps, sine period (overrides --scale for them).").Float64()
	duration := cmd.Flag("duration", "Override the profile's duration (after scaling); ad-hoc runs default to 10s.").Duration()
	rate := cmd.Flag("rate", "Constant open-model rate in requests/s, replacing the profile's rate shape; without --profile, an ad-hoc run of tools/call.").Float64()
	concurrency := cmd.Flag("concurrency", "Most requests in flight at once (the profile's max_in_flight).").Int()
	tool := cmd.Flag("tool", "Tool of the profile's tools/call entries that name none; auto picks a cheap read-only tool from tools/list.").String()
	args := cmd.Flag("args", `Arguments of --tool as a JSON object, e.g. '{"text":"hi"}'.`).String()
	output := cmd.Flag("output", "Directory for result.json, report.html and recording.json (default andon-load-<profile>-<time>).").Short('o').String()
	listen := cmd.Flag("web.listen-address", "Serve the harness's live /metrics here during the run; empty to disable.").Default("127.0.0.1:9555").String()
	var opts harness.Options
	cmd.Flag("scrape-target", "The target's own /metrics URL, scraped into the recording each interval.").StringVar(&opts.ScrapeTarget)
	cmd.Flag("scrape.connections-metric", "The target's gauge of open connections, reported next to the harness's own count.").Default(harness.DefaultConnectionsMetric).StringVar(&opts.ConnectionsMetric)
	cmd.Flag("record.interval", "Sampling step of the recording.").Default("1s").DurationVar(&opts.RecordInterval)
	cmd.Flag("late-after", "Count a request late when sent this long after its intended start.").Default("5ms").DurationVar(&opts.LateAfter)
	cmd.Flag("startup-timeout", "How long start-up may retry a busy server (timeouts, resets, 429/5xx) with backoff; default 3 × the profile's timeout.").DurationVar(&opts.StartupTimeout)
	thresholds := cmd.Flag("threshold", "Pass/fail threshold, e.g. 'p95<280ms' or 'errors<0.5%' (repeatable; also drawn on the report); metric=value[:label] only draws a line.").Strings()
	quiet := cmd.Flag("quiet", "No progress lines.").Bool()

	cmd.Action(func(*kingpin.ParseContext) error {
		t.Command = *command
		if t.Transport != harness.TransportStdio && t.URL == "" {
			return usage(errors.New("load: --target is required (or --transport=stdio -- <server command>)"))
		}
		if len(*headers) > 0 {
			t.Header = http.Header{}
			for _, h := range *headers {
				k, v, ok := strings.Cut(h, ":")
				if !ok {
					return usage(fmt.Errorf("load: --header %q: want 'Name: value'", h))
				}
				t.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
		for _, s := range *thresholds {
			if strings.ContainsAny(s, "<>") {
				c, err := harness.ParseCheck(s)
				if err != nil {
					return usage(fmt.Errorf("load: --threshold: %w", err))
				}
				opts.Checks = append(opts.Checks, c)
				continue
			}
			th, err := harness.ParseThreshold(s)
			if err != nil {
				return usage(err)
			}
			opts.Thresholds = append(opts.Thresholds, th)
		}
		opts.Thresholds = append(opts.Thresholds, harness.Lines(opts.Checks)...)
		p, err := loadProfile(*profile, profileSet, *rate)
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
		if err := override(p, *duration, *rate, *concurrency, *tool, *args); err != nil {
			return usage(err)
		}
		if err := p.Validate(); err != nil {
			return usage(fmt.Errorf("load: profile %s after the flags: %w", p.Name, err))
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
		logger.Info("starting load", "profile", p.Name, "schedule", p.Describe(), "target", t.URL)
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
		if res.Verdict != nil && !res.Verdict.Pass {
			return &exitError{code: exitThresholds, err: errors.New("load: thresholds failed (see the table above)")}
		}
		return nil
	})
}

func usage(err error) error { return &exitError{code: 2, err: err} }

// loadProfile reads --profile, or makes the ad-hoc profile when --rate is
// given without one: tools/call of --tool (default auto) at a constant rate.
func loadProfile(name string, named bool, rate float64) (*harness.Profile, error) {
	if rate > 0 && !named {
		return &harness.Profile{Name: "ad-hoc", Model: harness.ModelOpen, Duration: 10 * time.Second,
			Rate: harness.RateSpec{Shape: harness.ShapeConstant, RPS: rate}, Sessions: 1, Timeout: 5 * time.Second,
			MaxInFlight: 10000, Tool: harness.ToolAuto,
			Mix: []harness.MixEntry{{Weight: 1, Method: "tools/call", Tier: 2}}}, nil
	}
	return harness.LoadProfile(name)
}

// override applies the ad-hoc flags to a (scaled) profile.
func override(p *harness.Profile, duration time.Duration, rate float64, concurrency int, tool, args string) error {
	if duration > 0 {
		p.Duration = duration
	}
	if rate > 0 {
		if p.Model != harness.ModelOpen {
			return fmt.Errorf("load: --rate sets an open-model rate; profile %s is closed-model (sessions × session_rps)", p.Name)
		}
		p.Rate = harness.RateSpec{Shape: harness.ShapeConstant, RPS: rate}
	}
	if concurrency > 0 {
		p.MaxInFlight = concurrency
	}
	if tool != "" {
		p.Tool, p.Arguments = tool, nil
	}
	if args != "" {
		var a map[string]any
		if err := json.Unmarshal([]byte(args), &a); err != nil || a == nil {
			return fmt.Errorf("load: --args %q: want a JSON object, e.g. '{\"text\":\"hi\"}'", args)
		}
		p.Arguments = a
	}
	return nil
}
