package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// wire moves JSON-RPC messages over one transport. Implementations never
// retry: a failed send is reported as it happened.
type wire interface {
	// call sends a request and waits for the response with the same id.
	call(ctx context.Context, p *Prepared, id uint64) (*message, error)
	// notify sends a notification (no response expected).
	notify(ctx context.Context, body []byte) error
	// negotiated records the protocol version agreed in the handshake.
	negotiated(version string)
	close(ctx context.Context) error
}

// Conn is one MCP client: a session in the 2025-11-25 era, a logical client
// in the stateless 2026-07-28 era.
type Conn struct {
	w   wire
	era string
	ids atomic.Uint64
}

// Era is the protocol revision this connection speaks.
func (c *Conn) Era() string { return c.era }

// Call sends p and returns nil or a *CallError.
func (c *Conn) Call(ctx context.Context, p *Prepared) error {
	m, err := c.w.call(ctx, p, c.ids.Add(1))
	if err != nil {
		return err
	}
	return m.outcome(p.method)
}

// Close ends the session (DELETE for Streamable HTTP, closing the stream or
// the process otherwise).
func (c *Conn) Close(ctx context.Context) error { return c.w.close(ctx) }

// Transport names.
const (
	TransportStreamable = "streamable-http"
	TransportSSE        = "sse"
	TransportStdio      = "stdio"
)

// Target says where and how to connect.
type Target struct {
	URL       string   // Streamable HTTP endpoint or legacy SSE endpoint (GET)
	Transport string   // streamable-http (default), sse, stdio
	Command   []string // stdio: server command and arguments
	Era       string   // auto (default), 2026-07-28, 2025-11-25
	Header    http.Header
}

// Dialer opens connections to one target over a shared HTTP client.
type Dialer struct {
	Target Target
	HTTP   *http.Client
}

// NewHTTPClient returns the harness's own HTTP client: enough idle
// connections for maxConns concurrent requests, no compression, no timeout
// of its own (each call carries a deadline), HTTP/1.1 like most MCP servers.
func NewHTTPClient(maxConns int) *http.Client { return newHTTPClient(maxConns, nil) }

// newHTTPClient is NewHTTPClient counting the TCP connections it opens and
// holds in st (nil: not counted).
func newHTTPClient(maxConns int, st *stats) *http.Client {
	if maxConns < 16 {
		maxConns = 16
	}
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	dial := d.DialContext
	if st != nil {
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			st.connUp()
			return &countedConn{Conn: c, st: st}, nil
		}
	}
	return &http.Client{Transport: &http.Transport{
		DialContext:           dial,
		MaxIdleConns:          maxConns,
		MaxIdleConnsPerHost:   maxConns,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: 0,
		ForceAttemptHTTP2:     false,
	}}
}

// countedConn lowers the open-connections count once when closed.
type countedConn struct {
	net.Conn
	st   *stats
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.st.conns.Add(-1) })
	return c.Conn.Close()
}

// Dial connects and runs the handshake of d.Target.Era (detecting it when
// auto): server/discover for 2026-07-28, initialize + notifications/initialized
// for 2025-11-25.
func (d *Dialer) Dial(ctx context.Context) (*Conn, error) {
	var w wire
	var err error
	switch d.Target.Transport {
	case "", TransportStreamable:
		w = &streamableWire{http: d.HTTP, url: d.Target.URL, header: d.Target.Header}
	case TransportSSE:
		w, err = dialLegacySSE(ctx, d.HTTP, d.Target.URL, d.Target.Header)
	case TransportStdio:
		w, err = startStdio(d.Target.Command)
	default:
		return nil, fmt.Errorf("unknown transport %q: use streamable-http, sse or stdio", d.Target.Transport)
	}
	if err != nil {
		return nil, err
	}
	c := &Conn{w: w}
	if err := c.handshake(ctx, d.Target.Era); err != nil {
		_ = w.close(context.Background())
		return nil, err
	}
	return c, nil
}

// handshake follows the 2026-07-28 backward-compatibility rule: try
// server/discover; a server that answers with an HTTP or JSON-RPC error does
// not speak the stateless revision, so fall back to initialize.
func (c *Conn) handshake(ctx context.Context, era string) error {
	switch era {
	case "", EraAuto, Era20260728:
		err := c.discover(ctx)
		if err == nil {
			c.era = Era20260728
			c.w.negotiated(Era20260728)
			return nil
		}
		if !eraMismatch(err) {
			// Slow, busy or unreachable says nothing about the era.
			return fmt.Errorf("server/discover (probing the protocol) failed with %s, which says nothing about the era: %w", Classify(err), err)
		}
		if era == Era20260728 {
			return fmt.Errorf("server/discover was refused, the server does not speak %s (try --protocol=auto): %w", Era20260728, err)
		}
		fallthrough
	case Era20251125:
		return c.initialize(ctx)
	default:
		return fmt.Errorf("unknown protocol %q: use auto, %s or %s", era, Era20260728, Era20251125)
	}
}

// eraMismatch: the server answered server/discover and the answer means it
// does not know the method (an HTTP 4xx other than 408/429, a JSON-RPC
// error, a result without 2026-07-28, an answer that is not MCP). A timeout,
// a reset or a 5xx/429 is a busy server, not an old one.
func eraMismatch(err error) bool {
	var ce *CallError
	if !errors.As(err, &ce) || ce.Status == 408 || ce.Status == 429 || ce.Status >= 500 {
		return false
	}
	switch {
	case strings.HasPrefix(ce.Class, "jsonrpc_"), ce.Class == ClassProtocol:
		return true
	case strings.HasPrefix(ce.Class, "http_"):
		return ce.Status >= 400 && ce.Status < 500 && ce.Status != 408 && ce.Status != 429
	}
	return false
}

var discoverRequest, _ = Prepare(Request{Method: "server/discover", Params: json.RawMessage(`{}`), Tier: 1}, Era20260728)

func (c *Conn) discover(ctx context.Context) error {
	c.w.negotiated(Era20260728)
	m, err := c.w.call(ctx, discoverRequest, c.ids.Add(1))
	if err == nil {
		err = m.outcome(discoverRequest.method)
	}
	if err != nil {
		c.w.negotiated("")
		return err
	}
	var res struct {
		SupportedVersions []string `json:"supportedVersions"`
	}
	if err := json.Unmarshal(m.Result, &res); err != nil || !slices.Contains(res.SupportedVersions, Era20260728) {
		c.w.negotiated("")
		return &CallError{Class: ClassProtocol, Err: fmt.Errorf("server/discover result does not list %s: %s", Era20260728, truncate(m.Result, 200))}
	}
	return nil
}

func (c *Conn) initialize(ctx context.Context) error {
	params, _ := json.Marshal(map[string]any{
		"protocolVersion": Era20251125,
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]string{"name": clientName, "version": clientVersion},
	})
	p, _ := Prepare(Request{Method: "initialize", Params: params, Tier: 1}, Era20251125)
	m, err := c.w.call(ctx, p, c.ids.Add(1))
	if err == nil {
		err = m.outcome(p.method)
	}
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	var res struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if err := json.Unmarshal(m.Result, &res); err != nil || res.ProtocolVersion == "" {
		return &CallError{Class: ClassProtocol, Err: fmt.Errorf("initialize result has no protocolVersion: %s", truncate(m.Result, 200))}
	}
	c.era = Era20251125
	c.w.negotiated(res.ProtocolVersion)
	if err := c.w.notify(ctx, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)); err != nil {
		return fmt.Errorf("notifications/initialized: %w", err)
	}
	return nil
}
