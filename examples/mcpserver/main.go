// Command mcpserver is andon's reference MCP server. It serves MCP Streamable HTTP
// at /mcp in both protocol eras (2026-07-28 stateless and 2025-11-25 sessions),
// or stdio with --transport=stdio; see docs/mcpserver.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/andon-sre/andon/actuator/admission"
	"github.com/andon-sre/andon/examples/mcpserver/server"
)

func main() {
	app := kingpin.New("mcpserver", "andon's reference MCP server (echo, work, fail) with admission control and an overload model.")
	var (
		listen    = app.Flag("web.listen-address", "Address to listen on; port 0 picks a free port, printed on stdout as 'listening on <addr>'.").Default("127.0.0.1:8080").String()
		webConfig = app.Flag("web.config.file", "Path to an exporter-toolkit web config file (TLS, basic auth).").Default("").String()
		transport = app.Flag("transport", "MCP transport: http (Streamable HTTP at /mcp) or stdio (HTTP still serves /metrics and /admin).").Default("http").Enum("http", "stdio")
		token     = app.Flag("admin.token", "Bearer token of /admin/admission and /admin/capacity; empty disables them.").Envar("ANDON_ADMIN_TOKEN").String()

		rate      = app.Flag("capacity.rate", "Messages processed per second; 0 is unlimited.").Default("500").Float64()
		queueCap  = app.Flag("capacity.queue-capacity", "Messages that may wait beyond the rate before the server refuses.").Default("5000").Int()
		errRatio  = app.Flag("capacity.error-ratio", "Fraction of tools/call answered with an injected JSON-RPC error.").Default("0").Float64()
		memGrowth = app.Flag("capacity.memory-growth", "Bytes per second allocated and retained (memory leak injection).").Default("0").Int64()
		memLimit  = app.Flag("capacity.memory-limit", "Most bytes the memory-growth injection retains.").Default("1073741824").Int64()

		slowFor = app.Flag("inject.slow-start", "Start-up latency spike: for this long after the first message, every message waits --inject.slow-start-latency more.").Default("0s").Duration()
		slowLat = app.Flag("inject.slow-start-latency", "Extra wait of each message during --inject.slow-start.").Default("0s").Duration()

		fixtures = app.Flag("conformance.fixtures", "Add the MCP conformance suite's test tools, resources, prompts, completion and subscriptions (make test-conformance).").Bool()

		maxConc    = app.Flag("admission.max-concurrency", "Requests served at once; 0 is unlimited (no admission queue).").Default("0").Int()
		admQueue   = app.Flag("admission.queue-capacity", "Requests that may wait for a concurrency slot.").Default("1000").Int()
		admTimeout = app.Flag("admission.queue-timeout", "Longest wait for a concurrency slot.").Default("1s").Duration()
		drainGrace = app.Flag("drain.grace", "Time between readiness turning false and shutdown when drained.").Default("2s").Duration()
		drainDL    = app.Flag("drain.deadline", "Longest graceful shutdown after drain.").Default("30s").Duration()
	)
	logCfg := &promslog.Config{}
	promslogflag.AddFlags(app, logCfg)
	app.Version(version.Print("mcpserver"))
	app.HelpFlag.Short('h')
	kingpin.MustParse(app.Parse(os.Args[1:]))
	logger := promslog.New(logCfg)

	srv, err := server.New(server.Config{
		Version:    version.Version,
		AdminToken: *token,
		Capacity: &server.Capacity{RatePerSecond: *rate, QueueCapacity: *queueCap, ErrorRatio: *errRatio,
			MemoryGrowthBytesPerSecond: *memGrowth, MemoryLimitBytes: *memLimit},
		SlowStart:           server.SlowStart{For: *slowFor, Latency: *slowLat},
		ConformanceFixtures: *fixtures,
		Admission: admission.Config{MaxConcurrency: *maxConc, QueueCapacity: *admQueue, QueueTimeout: *admTimeout,
			DrainGrace: *drainGrace, DrainDeadline: *drainDL},
		Logger: logger,
	})
	if err != nil {
		fail(logger, "invalid configuration", err)
	}
	if *token == "" {
		logger.Warn("no admin token: /admin/admission and /admin/capacity answer 401 (set --admin.token or ANDON_ADMIN_TOKEN)")
	}

	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fail(logger, "cannot listen; pick another --web.listen-address (port 0 picks a free one)", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	served := make(chan error, 1)
	go func() { served <- web.Serve(l, srv.HTTPServer(), &web.FlagConfig{WebConfigFile: webConfig}, logger) }()
	if *transport == "stdio" {
		// stdout carries MCP: the address goes to the log (stderr) only.
		logger.Info("listening", "address", l.Addr().String())
		go func() { served <- srv.RunStdio(ctx) }()
	} else {
		fmt.Printf("listening on %s\n", l.Addr())
	}

	select {
	case err = <-served:
	case <-ctx.Done():
		logger.Info("signal received, shutting down", "deadline", *drainDL)
		sctx, cancel := context.WithTimeout(context.Background(), *drainDL)
		defer cancel()
		err = srv.Shutdown(sctx)
	}
	srv.Close()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		fail(logger, "server stopped", err)
	}
}

func fail(logger *slog.Logger, msg string, err error) {
	logger.Error(msg, "err", err)
	os.Exit(1)
}
