// Package server is andon's reference MCP server: echo, work and fail tools, a
// resource and a prompt, served over Streamable HTTP in both protocol eras on
// one endpoint (and over stdio), behind the admission middleware, with a
// capacity model to reproduce overload and OpenTelemetry-named metrics.
package server

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/andon-sre/andon/actuator/admission"
	"github.com/andon-sre/andon/internal/httpjson"
)

// StatelessVersion is the first protocol revision without sessions; requests that
// carry it (or later) in MCP-Protocol-Version go to the stateless handler. It is the
// admission middleware's boundary too, so reject_new and the dispatch agree on the era.
const StatelessVersion = admission.MCPStatelessVersion

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	// Name and Version are the MCP implementation info.
	Name, Version string
	// AdminToken protects /admin/admission and /admin/capacity; empty disables both.
	AdminToken string
	// Capacity is the initial overload model; nil means DefaultCapacity.
	Capacity *Capacity
	// SlowStart injects a start-up latency spike (off when zero).
	SlowStart SlowStart
	// ConformanceFixtures adds the MCP conformance suite's test tools, resources, prompts,
	// completion and subscriptions (conformance.go); off, load tests see only echo, work, fail.
	ConformanceFixtures bool
	// Admission settings of the embedded middleware (Token, Shutdown, Registerer,
	// OnRefuse and Logger are filled in by New).
	Admission admission.Config
	Logger    *slog.Logger
}

// Server is one reference MCP server instance.
type Server struct {
	cfg       Config
	reg       *prometheus.Registry
	stateful  *mcp.Server
	stateless *mcp.Server
	admission *admission.Controller
	capacity  *capacityModel
	slowStart *slowStart
	http      *http.Server
	// handler is the mux itself: exporter-toolkit's web.Serve replaces http.Handler
	// with its own wrapper (TLS, basic auth), which Handler must not return.
	handler http.Handler

	stopGrowth context.CancelFunc
	closeOnce  sync.Once

	m serverMetrics
}

type serverMetrics struct {
	duration     *prometheus.HistogramVec
	openConns    prometheus.Gauge
	connsTotal   prometheus.Counter
	connFailures prometheus.Counter
	queueDepth   prometheus.Gauge
}

// New builds a Server; it does not listen yet (see Serve and RunStdio).
func New(cfg Config) (*Server, error) {
	if cfg.Name == "" {
		cfg.Name = "andon-mcpserver"
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	capacity := DefaultCapacity
	if cfg.Capacity != nil {
		capacity = *cfg.Capacity
	}
	if err := capacity.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, reg: prometheus.NewRegistry(), slowStart: &slowStart{cfg: cfg.SlowStart}}
	s.initMetrics()
	s.capacity = newCapacityModel(capacity, s.m.queueDepth)

	ac := cfg.Admission
	ac.Token = cfg.AdminToken
	ac.Registerer = s.reg
	ac.Logger = cfg.Logger
	ac.Shutdown = s.Shutdown
	ac.OnRefuse = func(_ *http.Request, r admission.Result) {
		// Deliberate shedding is not a connection failure: counting it would let
		// a red-level shed trip the emergency conn-failure alert.
		if r != admission.Shed {
			s.m.connFailures.Inc()
		}
	}
	var err error
	if s.admission, err = admission.New(ac); err != nil {
		return nil, err
	}

	s.stateful = s.newMCPServer()
	s.stateless = s.newMCPServer()
	s.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mcp_server_active_sessions", Help: "Open 2025-11-25 sessions (stateless requests hold none).",
	}, func() float64 {
		n := 0
		for range s.stateful.Sessions() {
			n++
		}
		return float64(n)
	}))
	handlerOpts := mcp.StreamableHTTPOptions{Logger: cfg.Logger}
	statefulHTTP := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.stateful }, &handlerOpts)
	handlerOpts.Stateless = true
	statelessHTTP := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.stateless }, &handlerOpts)
	// The SDK serves 2026-07-28 only on a Stateless handler and sessions only on a
	// stateful one, so the endpoint dispatches on the version header.
	mcpHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if s.slowStart.wait(r.Context()) != nil {
				return // the client went away
			}
			if err := s.capacity.admit(r.Context()); err != nil {
				s.m.connFailures.Inc()
				w.Header().Set("Retry-After", "1")
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		if r.Header.Get("Mcp-Protocol-Version") >= StatelessVersion {
			statelessHTTP.ServeHTTP(w, r)
			return
		}
		statefulHTTP.ServeHTTP(w, r)
	})

	mux := http.NewServeMux()
	mux.Handle("/mcp", s.admission.Middleware(mcpHandler))
	mux.Handle("/admin/admission", s.admission.AdminHandler())
	mux.HandleFunc("/admin/capacity", s.serveCapacity)
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("Healthy.\n")) })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !s.admission.Ready() {
			http.Error(w, "Draining.", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("Ready.\n"))
	})
	s.handler = mux
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ConnState:         s.connState,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}

	ctx, cancel := context.WithCancel(context.Background())
	s.stopGrowth = cancel
	go s.capacity.growMemory(ctx)
	return s, nil
}

func (s *Server) initMetrics() {
	s.m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mcp_server_operation_duration_seconds",
		Help:    "Duration of MCP requests handled by the server (OpenTelemetry MCP semantic conventions).",
		Buckets: admission.DurationBuckets,
	}, []string{"mcp_method_name", "gen_ai_tool_name", "error_type"})
	s.m.openConns = prometheus.NewGauge(prometheus.GaugeOpts{Name: "mcp_server_open_connections", Help: "Open TCP connections."})
	s.m.connsTotal = prometheus.NewCounter(prometheus.CounterOpts{Name: "mcp_server_connections_total", Help: "Accepted TCP connections."})
	s.m.connFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mcp_server_connection_failures_total",
		Help: "Requests refused by reject_new, drain, the admission queue or the capacity queue (shedding excluded).",
	})
	s.m.queueDepth = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mcp_server_queue_depth", Help: "Messages waiting in the capacity model's queue.",
	})
	s.reg.MustRegister(s.m.duration, s.m.openConns, s.m.connsTotal, s.m.connFailures, s.m.queueDepth,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
}

func (s *Server) newMCPServer() *mcp.Server {
	opts := &mcp.ServerOptions{
		Logger:       s.cfg.Logger,
		Instructions: "andon reference MCP server: echo, work (simulated load) and fail (error injection).",
	}
	if s.cfg.ConformanceFixtures {
		conformanceOptions(opts)
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: s.cfg.Name, Version: s.cfg.Version}, opts)
	addFeatures(srv, s.capacity)
	if s.cfg.ConformanceFixtures {
		addConformanceFixtures(srv)
	}
	srv.AddReceivingMiddleware(s.observe)
	return srv
}

// observe records mcp_server_operation_duration_seconds and injects the
// capacity model's error ratio into tools/call.
func (s *Server) observe(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		start := time.Now()
		tool := ""
		var res mcp.Result
		var err error
		if call, ok := req.(*mcp.CallToolRequest); ok {
			tool = call.Params.Name
		}
		if ratio := s.capacity.errorRatio(); tool != "" && ratio > 0 && rand.Float64() < ratio {
			err = &jsonrpc.Error{Code: codeInjected, Message: "injected error (capacity model error_ratio)"}
		} else {
			res, err = next(ctx, method, req)
		}
		s.m.duration.WithLabelValues(method, tool, errorType(res, err)).Observe(time.Since(start).Seconds())
		return res, err
	}
}

// errorType follows the OpenTelemetry convention: the JSON-RPC error code,
// "tool_error" for a tool result with isError, "" on success.
func errorType(res mcp.Result, err error) string {
	var werr *jsonrpc.Error
	switch {
	case errors.As(err, &werr):
		return strconv.FormatInt(werr.Code, 10)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "timeout"
	case err != nil:
		return "_OTHER"
	}
	if r, ok := res.(*mcp.CallToolResult); ok && r.IsError {
		return "tool_error"
	}
	return ""
}

func (s *Server) connState(_ net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		s.m.connsTotal.Inc()
		s.m.openConns.Inc()
	case http.StateClosed, http.StateHijacked:
		s.m.openConns.Dec()
	}
}

func (s *Server) serveCapacity(w http.ResponseWriter, r *http.Request) {
	if msg, ok := admission.CheckToken(s.cfg.AdminToken, r); !ok {
		httpjson.Error(w, http.StatusUnauthorized, msg)
		return
	}
	switch r.Method {
	case http.MethodGet:
		httpjson.Write(w, http.StatusOK, s.capacity.state())
	case http.MethodPut:
		var u CapacityUpdate
		if status, err := admission.DecodeJSON(w, r, &u); err != nil {
			httpjson.Error(w, status, err.Error())
			return
		}
		st, err := s.capacity.apply(u)
		if err != nil {
			httpjson.Error(w, http.StatusBadRequest, err.Error())
			return
		}
		s.cfg.Logger.Info("capacity model changed", "capacity", st.Capacity)
		httpjson.Write(w, http.StatusOK, st)
	default:
		w.Header().Set("Allow", "GET, PUT")
		httpjson.Error(w, http.StatusMethodNotAllowed, r.Method+" is not supported; use GET or PUT")
	}
}

// Handler is the whole HTTP surface (/mcp, /admin/*, /metrics, /-/healthy, /-/ready),
// for embedding in another server or httptest.
func (s *Server) Handler() http.Handler { return s.handler }

// HTTPServer is the http.Server Serve uses, e.g. for exporter-toolkit's web.Serve.
func (s *Server) HTTPServer() *http.Server { return s.http }

// Admission is the embedded admission controller.
func (s *Server) Admission() *admission.Controller { return s.admission }

// Serve serves HTTP on l until Shutdown (then it returns nil).
func (s *Server) Serve(l net.Listener) error {
	if err := s.http.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// RunStdio serves MCP (2025-11-25 sessions) over stdin/stdout until ctx ends or stdin closes.
func (s *Server) RunStdio(ctx context.Context) error {
	return s.stateful.Run(ctx, &mcp.StdioTransport{})
}

// Shutdown stops accepting connections, lets in-flight requests finish until ctx
// ends, then closes what remains (long-lived SSE streams) and stops the
// memory-growth injection. Drain calls it.
func (s *Server) Shutdown(ctx context.Context) error {
	s.http.SetKeepAlivesEnabled(false)
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.http.Close())
	}
	s.Close()
	return err
}

// Close stops background work (memory growth); it does not stop Serve.
func (s *Server) Close() {
	s.closeOnce.Do(s.stopGrowth)
}
