// Package admission is the service side of andon's actuator: an HTTP middleware
// that sheds load by priority tier, levels it through a bounded queue in front of a
// concurrency limit (heijunka), refuses new sessions, and drains the instance, plus
// the token-protected admin API (GET|PUT /admin/admission) the actuator drives.
//
// Every setting carries a TTL and reverts by itself unless renewed, so a lost
// "resolved" notification can never leave a service shedding forever.
package admission

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Result is what the middleware decided for one request; its String is the
// `result` label of andon_admission_requests_total.
type Result uint8

// The decisions, in the order of docs/contracts.md.
const (
	Admitted Result = iota
	Shed
	QueueFull
	QueueTimeout
	RejectedNew
	Draining
	numResults
)

var resultNames = [numResults]string{"admitted", "shed", "queue_full", "queue_timeout", "rejected_new", "draining"}

func (r Result) String() string { return resultNames[r] }

// Config configures a Controller. The zero value is usable: no concurrency limit,
// tiers from X-Priority-Tier, MCP session detection, admin API disabled (no token).
type Config struct {
	// Token protects the admin API (Authorization: Bearer <token>). Empty disables it.
	Token string

	// MaxConcurrency is the number of requests served at once; 0 means unlimited
	// (and no queue). QueueCapacity requests may wait for a slot for at most
	// QueueTimeout (default 1s), served by tier (1 before 2 before 3). A full
	// queue refuses at once, or evicts the newest waiter of a lower tier to make
	// room. MaxPassOver (default DefaultMaxPassOver) bounds starvation: a waiting
	// lower tier gets a slot after that many slots in a row went to higher tiers.
	MaxConcurrency int
	QueueCapacity  int
	QueueTimeout   time.Duration
	MaxPassOver    int
	// RetryAfter is the Retry-After sent with every 503 (default 1s, whole seconds).
	RetryAfter time.Duration

	// Classify returns a request's tier; default TierFromHeader.
	Classify func(*http.Request) Tier
	// IsNewSession tells whether a request opens a new session or connection,
	// which reject_new refuses; default IsNewMCPSession.
	IsNewSession func(*http.Request) bool
	// OnRefuse, when set, is called for every refused request (for the embedding
	// server's own counters). It must be cheap and must not write to the response.
	OnRefuse func(*http.Request, Result)

	// Shutdown is the embedding server's graceful shutdown (typically
	// http.Server.Shutdown). Drain calls it DrainGrace after readiness turned
	// false, with a context that ends DrainDeadline (default 30s) later.
	Shutdown      func(context.Context) error
	DrainGrace    time.Duration
	DrainDeadline time.Duration

	// ShedWindow is how often tier traffic shares are re-estimated while
	// shedding (default 1s).
	ShedWindow time.Duration

	// Now is the clock for TTLs; default time.Now. Tests inject a fake one.
	Now func() time.Time
	// Registerer receives the andon_admission_* metrics; nil registers nothing.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// ErrDrainStarted is returned when a drain is cleared after shutdown began.
var ErrDrainStarted = errors.New("drain: shutdown has already started and cannot be undone")

// policy is the immutable view of the settings that the request path reads
// with one atomic load; it is rebuilt under mu whenever the settings change.
type policy struct {
	active    bool
	shedProb  [numTiers + 1]float64 // indexed by Tier
	rejectNew bool
	draining  bool
	// recheckAt (Unix ns) is the earliest expiry or shed re-estimation.
	recheckAt int64
}

var inactive = &policy{}

// Controller is the admission state of one service instance.
type Controller struct {
	cfg        Config
	retryAfter string

	pol      atomic.Pointer[policy]
	arrivals [numTiers + 1]atomic.Uint64 // per tier, since the last share estimate

	slots *slots // nil when MaxConcurrency is 0

	mu           sync.Mutex
	st           State
	shares       [numTiers + 1]float64
	drainStarted bool
	drainCancel  chan struct{}
	nextEstimate time.Time

	m metrics
}

// New returns a Controller; it registers its metrics on cfg.Registerer.
func New(cfg Config) (*Controller, error) {
	if cfg.MaxConcurrency < 0 || cfg.QueueCapacity < 0 || cfg.MaxPassOver < 0 {
		return nil, fmt.Errorf("admission: max_concurrency (%d), queue_capacity (%d) and max_pass_over (%d) must not be negative",
			cfg.MaxConcurrency, cfg.QueueCapacity, cfg.MaxPassOver)
	}
	if cfg.MaxPassOver == 0 {
		cfg.MaxPassOver = DefaultMaxPassOver
	}
	if cfg.QueueTimeout <= 0 {
		cfg.QueueTimeout = time.Second
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	if cfg.DrainDeadline <= 0 {
		cfg.DrainDeadline = 30 * time.Second
	}
	if cfg.ShedWindow <= 0 {
		cfg.ShedWindow = time.Second
	}
	if cfg.Classify == nil {
		cfg.Classify = TierFromHeader
	}
	if cfg.IsNewSession == nil {
		cfg.IsNewSession = IsNewMCPSession
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Controller{
		cfg:        cfg,
		retryAfter: strconv.Itoa(max(1, int((cfg.RetryAfter+time.Second-1)/time.Second))),
	}
	c.pol.Store(inactive)
	if err := c.m.init(c, cfg.Registerer); err != nil {
		return nil, err
	}
	if cfg.MaxConcurrency > 0 {
		c.slots = &slots{limit: int64(cfg.MaxConcurrency), capacity: cfg.QueueCapacity, timeout: cfg.QueueTimeout,
			maxPassOver: cfg.MaxPassOver, onDepth: c.m.queueDepth.Add}
	}
	return c, nil
}

// TierHeader carries a request's priority tier.
const TierHeader = "X-Priority-Tier"

// TierFromHeader reads X-Priority-Tier (1, 2 or 3); anything else is normal (2).
func TierFromHeader(r *http.Request) Tier {
	v := r.Header.Get(TierHeader)
	if len(v) == 1 && v[0] >= '1' && v[0] <= '3' {
		return Tier(v[0] - '0')
	}
	return TierNormal
}

// MCPStatelessVersion is the first MCP revision without sessions: requests whose
// MCP-Protocol-Version is this or later belong to the stateless era.
const MCPStatelessVersion = "2026-07-28"

// IsNewMCPSession is the default "opens a new session" rule for MCP Streamable HTTP:
//   - 2025-11-25 era (MCP-Protocol-Version absent or older than 2026-07-28): a POST
//     without Mcp-Session-Id, i.e. initialize;
//   - 2026-07-28 era (stateless, no sessions): a server/discover call, the request
//     a new client opens with. Other stateless calls belong to clients that already
//     know the server and keep working.
func IsNewMCPSession(r *http.Request) bool {
	if r.Header.Get("Mcp-Session-Id") != "" {
		return false
	}
	if r.Header.Get("Mcp-Protocol-Version") >= MCPStatelessVersion {
		return r.Header.Get("Mcp-Method") == "server/discover"
	}
	return r.Method == http.MethodPost
}

// Ready reports whether the instance should receive traffic: false while draining.
func (c *Controller) Ready() bool { return !c.current().draining }

// current returns the policy in force, refreshing it first when a setting
// expires or the tier shares are due for re-estimation.
func (c *Controller) current() *policy {
	p := c.pol.Load()
	if p.active && c.cfg.Now().UnixNano() >= p.recheckAt {
		p = c.refresh()
	}
	return p
}

// Middleware wraps next with admission control.
func (c *Controller) Middleware(next http.Handler) http.Handler {
	return &middleware{c: c, next: next}
}

type middleware struct {
	c    *Controller
	next http.Handler
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := m.c
	start := time.Now()
	t := c.cfg.Classify(r)
	c.arrivals[t].Add(1)
	if p := c.current(); p.active {
		if res := c.decide(p, r, t); res != Admitted {
			c.refuse(w, r, t, res)
			return
		}
	}
	var waited time.Duration
	if c.slots != nil {
		if !c.slots.acquireFast() {
			if res := c.slots.acquire(r.Context(), t); res != Admitted {
				c.refuse(w, r, t, res)
				return
			}
			waited = time.Since(start)
		}
		defer c.slots.release()
	}
	c.m.results[t][Admitted].Inc()
	c.m.queueWait[t].Observe(waited.Seconds())
	c.m.inFlight.Inc()
	defer c.m.inFlight.Dec()
	m.next.ServeHTTP(w, r)
	c.m.duration[t].Observe(time.Since(start).Seconds())
}

// decide applies the policy in force to one request.
func (c *Controller) decide(p *policy, r *http.Request, t Tier) Result {
	switch {
	case p.draining:
		return Draining
	case p.rejectNew && c.cfg.IsNewSession(r):
		return RejectedNew
	}
	if prob := p.shedProb[t]; prob >= 1 || (prob > 0 && rand.Float64() < prob) {
		return Shed
	}
	return Admitted
}

var refusalText = [numResults]string{
	Shed:         "admission: load is being shed for this priority tier",
	QueueFull:    "admission: queue is full",
	QueueTimeout: "admission: timed out waiting in the queue",
	RejectedNew:  "admission: new sessions are not admitted right now; existing sessions continue",
	Draining:     "admission: instance is draining",
}

func (c *Controller) refuse(w http.ResponseWriter, r *http.Request, t Tier, res Result) {
	c.m.results[t][res].Inc()
	if c.cfg.OnRefuse != nil {
		c.cfg.OnRefuse(r, res)
	}
	h := w.Header()
	h.Set("Retry-After", c.retryAfter)
	if res == Draining {
		h.Set("Connection", "close")
	}
	http.Error(w, refusalText[res], http.StatusServiceUnavailable)
}
