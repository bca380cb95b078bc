package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure one run.
type Options struct {
	Target  Target
	Profile *Profile
	// Pacer sets the open model's intended rate over time (nil: the
	// profile's rate shape).
	Pacer Pacer
	// ScrapeTarget is the target's own /metrics URL, recorded with the run.
	ScrapeTarget string
	// ConnectionsMetric is the target's gauge of open connections, read from
	// the scrape so the report shows the connections the server saw next to
	// the ones the harness opened (default mcp_server_open_connections).
	ConnectionsMetric string
	// RecordInterval is the sampling step of the recording (default 1s).
	RecordInterval time.Duration
	// LateAfter: a request sent more than this after its intended start is
	// counted late (default 5ms).
	LateAfter time.Duration
	// StartupTimeout bounds start-up against a busy server: the era probe
	// and session set-up retry with backoff within it (default 3 × the
	// profile's timeout).
	StartupTimeout time.Duration
	// Progress receives one status line a second (nil: none).
	Progress io.Writer
	// ProgressTTY rewrites the line in place instead of printing new lines.
	ProgressTTY bool
	// Thresholds only draw lines in the report.
	Thresholds []Threshold
	// Checks are pass/fail thresholds besides the profile's own; the
	// Result's Verdict says whether they held.
	Checks []Check
	Logger *slog.Logger
	// OnStart is called once the run's live metrics exist (e.g. to serve them).
	OnStart func(metrics http.Handler)
}

// DefaultConnectionsMetric is the reference server's open-connections gauge.
const DefaultConnectionsMetric = "mcp_server_open_connections"

// Threshold is a limit drawn on the report's plots.
type Threshold struct {
	// Metric is one of latency_p50, latency_p95, latency_p99, error_ratio,
	// rate (requests/s) or sessions.
	Metric string  `json:"metric"`
	Value  float64 `json:"value"` // seconds for latencies, 0..1 for ratios
	Label  string  `json:"label"` // e.g. "red"
}

// Result is the outcome of a run, written as JSON next to the report.
// Counters add up: Intended = Sent + Dropped (DroppedBy gives the reasons),
// Completed ≤ Sent (the difference was in flight when an interrupt cut it);
// session set-up calls are counted apart, in their own operations.
type Result struct {
	// Profile is the schedule as run: scaled, overridden, tool resolved.
	Profile      *Profile          `json:"profile"`
	Target       string            `json:"target"`
	Transport    string            `json:"transport"`
	Era          string            `json:"protocol"`
	Start        time.Time         `json:"start"`
	Seconds      float64           `json:"seconds"`
	Interrupted  bool              `json:"interrupted,omitempty"`
	Intended     uint64            `json:"intended"`
	Sent         uint64            `json:"sent"`
	Completed    uint64            `json:"completed"`
	Errors       uint64            `json:"errors"`
	Dropped      uint64            `json:"dropped"`
	DroppedBy    map[string]uint64 `json:"dropped_by,omitempty"`
	Late         uint64            `json:"late"`
	AchievedRPS  float64           `json:"achieved_rps"`
	Sessions     SessionResult     `json:"sessions"`
	Connections  ConnResult        `json:"connections"`
	Overall      OpResult          `json:"overall"`
	Operations   []OpResult        `json:"operations"`
	Stages       []StageResult     `json:"stages,omitempty"`
	Timeline     []Point           `json:"timeline"`
	Thresholds   []Threshold       `json:"thresholds,omitempty"`
	Checks       []Check           `json:"checks,omitempty"`
	Verdict      *Verdict          `json:"verdict,omitempty"`
	ScrapeErrors int               `json:"scrape_errors,omitempty"`
	Recording    *Recording        `json:"-"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"` // one message per class
}

// SessionResult counts session lifecycles.
type SessionResult struct {
	Opened      uint64 `json:"opened"`
	Failed      uint64 `json:"failed"`
	Closed      uint64 `json:"closed"`
	CloseFailed int64  `json:"close_failed"`
	Peak        int64  `json:"peak"`
}

// ConnResult counts TCP connections: the ones the harness opened and, when
// the target's metrics were scraped, the most the server reported open.
type ConnResult struct {
	Opened       uint64   `json:"opened"`
	Peak         int64    `json:"peak"`
	ServerPeak   *float64 `json:"server_peak,omitempty"`
	ServerMetric string   `json:"server_metric,omitempty"`
}

// StageResult is one stage of the schedule (see Profile.Stages).
type StageResult struct {
	Name      string    `json:"name"`
	Start     float64   `json:"start"` // seconds since the run's start
	End       float64   `json:"end"`
	Intended  uint64    `json:"intended"`
	Completed uint64    `json:"completed"`
	Errors    uint64    `json:"errors"`
	Dropped   uint64    `json:"dropped"`
	Latency   Quantiles `json:"latency"` // CO-corrected, dropped requests included
}

// runner is the state of one run.
type runner struct {
	opts        Options
	p           *Profile
	dialer      *Dialer
	st          *stats
	live        *liveMetrics
	mix         *mixTable
	start       time.Time
	end         time.Time
	era         string
	samples     sync.Map     // error class → first message
	interrupted atomic.Int64 // offset of the interrupt into the run, 0: none
}

// Run executes opts.Profile against opts.Target and returns what it saw.
// It returns an error only when the run could not start (bad options, target
// unreachable or still failing when the start-up budget ran out); failures
// during the run are measured, not returned.
func Run(ctx context.Context, opts Options) (*Result, error) {
	p := opts.Profile
	if p == nil {
		return nil, errors.New("no profile given")
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	checks := append([]Check(nil), opts.Checks...)
	for i, th := range p.Thresholds {
		c, err := ParseCheck(th)
		if err != nil {
			return nil, fmt.Errorf("thresholds[%d]: %w", i, err)
		}
		checks = append(checks, c)
	}
	if opts.RecordInterval <= 0 {
		opts.RecordInterval = time.Second
	}
	if opts.LateAfter <= 0 {
		opts.LateAfter = 5 * time.Millisecond
	}
	if opts.StartupTimeout <= 0 {
		opts.StartupTimeout = 3 * p.Timeout
	}
	if opts.ConnectionsMetric == "" {
		opts.ConnectionsMetric = DefaultConnectionsMetric
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Pacer == nil {
		opts.Pacer = NewPacer(p)
	}
	st := newStats(p.Stages())
	hc := newHTTPClient(max(p.MaxInFlight, p.Sessions)+16, st)
	defer hc.CloseIdleConnections()
	r := &runner{opts: opts, p: p, dialer: &Dialer{Target: opts.Target, HTTP: hc}, st: st}
	r.live = newLiveMetrics(r.st)

	// One probe connection fixes the era for the whole run, so every session
	// speaks the same revision and an unreachable target fails fast.
	probe, err := r.probe(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", r.targetName(), err)
	}
	r.era = probe.Era()
	r.dialer.Target.Era = r.era
	if p.needsTool() {
		name, args := p.Tool, map[string]any(nil)
		if name == ToolAuto {
			if name, args, err = r.pickTool(ctx, probe); err != nil {
				_ = probe.Close(context.Background())
				return nil, err
			}
			if p.Arguments != nil {
				args = nil // --args given: the caller's arguments win
			}
		}
		r.p = p.WithTool(name, args)
	}
	if r.mix, err = newMixTable(r.p.Mix, r.era); err != nil {
		_ = probe.Close(context.Background())
		return nil, err
	}
	if opts.OnStart != nil {
		opts.OnStart(r.live.Handler())
	}

	// Open-model sessions are set up before the clock starts, so the
	// schedule's first requests are not late because of handshakes.
	var pool *connPool
	if r.p.Model == ModelOpen {
		pool = r.openPool(ctx, probe)
	} else {
		_ = probe.Close(context.Background())
	}
	r.start = time.Now()
	r.end = r.start.Add(r.p.Duration)
	rec := newRecorder(r.start, opts.RecordInterval, opts.ScrapeTarget, hc)
	// Step 0, everything at zero, so rates start from a known base: taken
	// before the first slot (which is due at once).
	if fams, err := r.live.reg.Gather(); err == nil {
		rec.sample(ctx, 0, fams)
	}
	var timeline []Point
	monitorDone := make(chan struct{})
	stopMonitor := make(chan struct{})
	go func() {
		defer close(monitorDone)
		timeline = r.monitor(ctx, rec, stopMonitor)
	}()

	if pool != nil {
		r.open(ctx, pool)
	} else {
		r.closed(ctx)
	}
	close(stopMonitor)
	<-monitorDone

	res := r.result(timeline)
	res.Recording = &rec.rec
	res.ScrapeErrors = rec.errs
	if rec.lastErr != nil {
		opts.Logger.Warn("scraping the target failed", "errors", rec.errs, "last", rec.lastErr)
	}
	if peak, ok := rec.rec.peak("target", opts.ConnectionsMetric); ok {
		res.Connections.ServerPeak, res.Connections.ServerMetric = &peak, opts.ConnectionsMetric
	}
	res.Checks = checks
	res.Verdict = judge(checks, res)
	return res, nil
}

func (r *runner) targetName() string {
	if r.opts.Target.Transport == TransportStdio {
		return fmt.Sprint(r.opts.Target.Command)
	}
	return r.opts.Target.URL
}

// monitor samples the recording and prints progress until stop.
func (r *runner) monitor(ctx context.Context, rec *recorder, stop <-chan struct{}) []Point {
	sec := time.NewTicker(time.Second)
	defer sec.Stop()
	step := time.NewTicker(r.opts.RecordInterval)
	defer step.Stop()
	tk := &ticker{s: r.st, start: r.start, last: r.start}
	var points []Point
	k := 1 // step 0 was taken before the first slot
	sample := func() {
		fams, err := r.live.reg.Gather()
		if err == nil {
			rec.sample(ctx, k, fams)
			k++
		}
	}
	for {
		select {
		case now := <-sec.C:
			pt := tk.point(now)
			points = append(points, pt)
			r.progress(pt, false)
		case <-step.C:
			sample()
		case <-stop:
			sample()
			// The last partial second gets its own point and line; when
			// there is none, the last line printed stands (printed once).
			if now := time.Now(); now.Sub(tk.last) > 100*time.Millisecond {
				pt := tk.point(now)
				points = append(points, pt)
				r.progress(pt, true)
			} else if r.opts.ProgressTTY && len(points) > 0 {
				fmt.Fprintln(r.opts.Progress)
			}
			return points
		}
	}
}

// job is one scheduled request.
type job struct {
	intended time.Time
	offset   time.Duration // intended start − run start
	entry    *mixEntry
	conn     *pooledConn
	capped   bool // queued while max_in_flight requests were outstanding
}

// open runs the open model. The scheduler wakes at each intended start
// (precisely, see sleepUntil), counts the slot as intended and queues it: an
// idle worker sends it at once, a new worker starts while fewer than
// max_in_flight exist, otherwise it waits in the backlog, in order, and goes
// out late, its latency still counted from its intended start. Every slot
// ends up sent or dropped with a reason (DropReasons); the scheduler never
// blocks, so the schedule it counts is the schedule, whatever the server does.
func (r *runner) open(ctx context.Context, pool *connPool) {
	defer pool.close(r)
	q := newBacklog(r)
	var wg sync.WaitGroup
	workers := 0
	rng := rand.New(rand.NewPCG(uint64(r.start.UnixNano()), 0x9e3779b97f4a7c15))
	total := r.p.Duration
	next := time.Duration(-1) // the first slot is at 0 when the rate there is not 0
	for i := 0; ; i++ {
		if next < 0 && r.opts.Pacer.Rate(0) > 0 {
			next = 0
		} else {
			next = nextHit(r.opts.Pacer, max(next, 0), total)
		}
		if next >= total {
			break
		}
		at := r.start.Add(next)
		if !sleepUntil(ctx, at, true) {
			r.interrupt(next, rng)
			break
		}
		e := r.mix.pick(rng)
		r.st.schedule(next)
		if late := time.Since(at); late > r.p.Timeout {
			// Reached later than its timeout: the harness itself could not
			// keep up (it would have timed out before being sent).
			r.st.drop(e.key, next, late, DropSchedulerBehind)
			continue
		}
		j := job{intended: at, offset: next, entry: e, conn: pool.conns[i%len(pool.conns)]}
		if q.put(j, workers >= r.p.MaxInFlight) {
			continue // an idle worker takes it
		}
		if workers < r.p.MaxInFlight {
			workers++
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j, ok := q.take(); ok; j, ok = q.take() {
					r.do(ctx, j)
				}
			}()
		}
	}
	// The backlog may still go out until the end of the run; what is left
	// then was never sent.
	reason := DropDeadline
	if r.interrupted.Load() != 0 || !sleepUntil(ctx, r.end, false) {
		reason = DropInterrupted
	}
	q.close(reason)
	wg.Wait()
}

// interrupt accounts for the slots that were due when the run was
// interrupted (the one at from and every later one up to now) and marks the
// run interrupted. Slots after the interrupt were never due: not intended.
func (r *runner) interrupt(from time.Duration, rng *rand.Rand) {
	now := time.Since(r.start)
	r.markInterrupted(now)
	for t := from; t <= now && t < r.p.Duration; t = nextHit(r.opts.Pacer, t, r.p.Duration) {
		r.st.schedule(t)
		r.st.drop(r.mix.pick(rng).key, t, now-t, DropInterrupted)
	}
}

func (r *runner) markInterrupted(at time.Duration) {
	r.interrupted.CompareAndSwap(0, max(int64(at), 1))
}

// do sends one scheduled request and records it.
func (r *runner) do(ctx context.Context, j job) {
	if ctx.Err() != nil {
		r.st.drop(j.entry.key, j.offset, time.Since(j.intended), DropInterrupted)
		return
	}
	sent := time.Now()
	if sent.Sub(j.intended) > r.opts.LateAfter {
		r.st.late.Add(1)
	}
	conn, err := j.conn.get(ctx, r)
	if err != nil {
		if ctx.Err() != nil {
			r.st.drop(j.entry.key, j.offset, time.Since(j.intended), DropInterrupted)
			return
		}
		// Its session could not be set up (that call failed in its own
		// set-up row): the request was attempted and failed with it.
		r.st.sent.Add(1)
		r.finish(j.entry.key, j.offset, j.intended, sent, &CallError{Class: ClassNoSession, Err: err}, false)
		return
	}
	err = r.call(ctx, conn, j.entry, j.offset, j.intended, sent)
	if Classify(err) == ClassSessionLost {
		j.conn.lost(conn)
	}
}

// call sends one request: CO-corrected latency = completion − intended.
func (r *runner) call(ctx context.Context, c *Conn, e *mixEntry, offset time.Duration, intended, sent time.Time) error {
	r.st.sent.Add(1)
	r.st.inFlight.Add(1)
	cctx, cancel := context.WithTimeout(ctx, r.p.Timeout)
	err := c.Call(cctx, e.prepared)
	cancel()
	r.st.inFlight.Add(-1)
	if err != nil && ctx.Err() != nil {
		return err // the run was interrupted (Ctrl-C): not the server's failure
	}
	r.finish(e.key, offset, intended, sent, err, false)
	return err
}

func (r *runner) finish(k opKey, offset time.Duration, intended, sent time.Time, err error, handshake bool) {
	done := time.Now()
	class := Classify(err)
	if class != "" {
		if _, seen := r.samples.Load(class); !seen {
			r.samples.Store(class, err.Error())
		}
	}
	r.st.record(k, offset, done.Sub(intended), done.Sub(sent), class, handshake)
	r.live.observe(k, done.Sub(intended), class)
}

// pooledConn is one session slot of the open model; a lost session is
// re-established once by the next request that needs it (recorded as its own
// handshake operation; the request that found it lost is not retried).
type pooledConn struct {
	mu   sync.Mutex
	conn *Conn
}

func (pc *pooledConn) get(ctx context.Context, r *runner) (*Conn, error) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.conn != nil {
		return pc.conn, nil
	}
	c, err := r.dial(ctx, r.dialer)
	if err != nil {
		return nil, err
	}
	pc.conn = c
	return c, nil
}

func (pc *pooledConn) lost(c *Conn) {
	pc.mu.Lock()
	if pc.conn == c {
		pc.conn = nil
	}
	pc.mu.Unlock()
}

type connPool struct{ conns []*pooledConn }

// openPool sets up the open model's sessions before the clock starts; a
// session a busy server did not let in is retried with backoff within the
// start-up budget, and failing that, on first use.
func (r *runner) openPool(ctx context.Context, probe *Conn) *connPool {
	pool := &connPool{conns: make([]*pooledConn, r.p.Sessions)}
	pool.conns[0] = &pooledConn{conn: probe}
	r.st.sessionsOpened.Add(1)
	r.st.sessionUp()
	deadline := time.Now().Add(r.opts.StartupTimeout)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 1; i < len(pool.conns); i++ {
		pc := &pooledConn{}
		pool.conns[i] = pc
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_ = retry(ctx, deadline, func() error { _, err := pc.get(ctx, r); return err })
		}()
	}
	wg.Wait()
	return pool
}

func (p *connPool) close(r *runner) {
	var wg sync.WaitGroup
	for _, pc := range p.conns {
		if pc.conn == nil {
			continue
		}
		wg.Add(1)
		go func(c *Conn) {
			defer wg.Done()
			r.hangUp(c)
		}(pc.conn)
	}
	wg.Wait()
}

// setupMethod is the handshake call of the run's era.
func (r *runner) setupMethod(era string) string {
	if era == Era20251125 || r.opts.Target.Transport == TransportSSE {
		return "initialize"
	}
	return "server/discover"
}

// dial opens one session with d and records its handshake as an operation.
func (r *runner) dial(ctx context.Context, d *Dialer) (*Conn, error) {
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, r.p.Timeout)
	c, err := d.Dial(cctx)
	cancel()
	r.finish(opKey{Method: r.setupMethod(r.era), Tier: 1}, 0, start, start, err, true)
	if err != nil {
		r.st.sessionsFailed.Add(1)
		return nil, err
	}
	r.st.sessionsOpened.Add(1)
	r.st.sessionUp()
	return c, nil
}

func (r *runner) hangUp(c *Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), r.p.Timeout)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		r.st.closeFailed.Add(1)
		r.opts.Logger.Debug("closing session failed", "err", err)
	} else {
		r.st.sessionsClosed.Add(1)
	}
	r.st.sessions.Add(-1)
}

// closed runs the closed model: session i starts at i×ramp_up/N, sends at
// session_rps (waiting for each answer; a late request goes out at once and
// its latency counts from when it should have started) until the end, then
// ends its session. Each session is its own client: its own TCP
// connection(s) and, in the 2025-11-25 era, its own MCP session.
func (r *runner) closed(ctx context.Context) {
	n := r.p.Sessions
	var wg sync.WaitGroup
	for i := range n {
		offset := time.Duration(float64(r.p.RampUp) * float64(i) / float64(n))
		if !sleepUntil(ctx, r.start.Add(offset), false) {
			r.markInterrupted(time.Since(r.start))
			break
		}
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r.session(ctx, offset, rand.New(rand.NewPCG(seed, uint64(r.start.UnixNano()))))
		}(uint64(i))
	}
	wg.Wait()
}

// session is one closed-model client. Its schedule is fixed (a request
// every 1/session_rps from its start to the end of the run); what it could
// not send is dropped with the reason: its session failed, the run ended
// while it waited for an answer, or the run was interrupted.
func (r *runner) session(ctx context.Context, offset time.Duration, rng *rand.Rand) {
	d := &Dialer{Target: r.dialer.Target, HTTP: newHTTPClient(2, r.st)}
	defer d.HTTP.CloseIdleConnections()
	interval := time.Duration(0)
	if r.p.SessionRPS > 0 {
		interval = time.Duration(float64(time.Second) / r.p.SessionRPS)
	}
	next := offset
	// rest drops the remaining schedule, from next up to stop.
	rest := func(reason string) {
		stop := r.p.Duration
		if reason == DropInterrupted {
			stop = min(stop, time.Since(r.start))
			r.markInterrupted(stop)
		}
		for ; interval > 0 && next < stop; next += interval {
			r.st.schedule(next)
			r.st.drop(r.mix.pick(rng).key, next, stop-next, reason)
		}
	}
	c, err := r.dial(ctx, d)
	if err != nil {
		if ctx.Err() != nil {
			rest(DropInterrupted)
		} else {
			rest(DropNoSession)
		}
		return
	}
	defer r.hangUp(c)
	if interval == 0 {
		if !sleepUntil(ctx, r.end, false) {
			r.markInterrupted(time.Since(r.start))
		}
		return
	}
	for next < r.p.Duration {
		at := r.start.Add(next)
		if !sleepUntil(ctx, at, false) {
			rest(DropInterrupted)
			return
		}
		if time.Now().After(r.end) {
			rest(DropDeadline) // the previous answer came after the end
			return
		}
		r.st.schedule(next)
		e := r.mix.pick(rng)
		sent := time.Now()
		if sent.Sub(at) > r.opts.LateAfter {
			r.st.late.Add(1)
		}
		err := r.call(ctx, c, e, next, at, sent)
		next += interval
		if ctx.Err() != nil {
			rest(DropInterrupted)
			return
		}
		if Classify(err) == ClassSessionLost {
			rest(DropNoSession)
			return
		}
	}
}

func (r *runner) result(timeline []Point) *Result {
	ops, overall := r.st.results()
	elapsed := time.Since(r.start).Seconds()
	res := &Result{
		Profile: r.p, Target: r.targetName(), Transport: r.opts.Target.Transport, Era: r.era,
		Start: r.start, Seconds: elapsed, Interrupted: r.interrupted.Load() != 0,
		Intended: r.st.intended.Load(), Sent: r.st.sent.Load(), Completed: r.st.completed.Load(),
		Errors: r.st.failed.Load(), Dropped: r.st.droppedTotal(), Late: r.st.late.Load(),
		Sessions: SessionResult{Opened: r.st.sessionsOpened.Load(), Failed: r.st.sessionsFailed.Load(),
			Closed: r.st.sessionsClosed.Load(), CloseFailed: r.st.closeFailed.Load(), Peak: r.st.peakSessions.Load()},
		Connections: ConnResult{Opened: r.st.connsOpened.Load(), Peak: r.st.peakConns.Load()},
		Overall:     overall, Operations: ops, Stages: r.st.stageResults(), Timeline: timeline, Thresholds: r.opts.Thresholds,
	}
	for i, reason := range DropReasons {
		if n := r.st.dropped[i].Load(); n > 0 {
			if res.DroppedBy == nil {
				res.DroppedBy = map[string]uint64{}
			}
			res.DroppedBy[reason] = n
		}
	}
	if res.Transport == "" {
		res.Transport = TransportStreamable
	}
	ran := min(elapsed, r.p.Duration.Seconds())
	if res.Interrupted {
		ran = time.Duration(r.interrupted.Load()).Seconds()
	}
	if ran > 0 {
		res.AchievedRPS = float64(res.Sent) / ran
	}
	r.samples.Range(func(k, v any) bool {
		if res.ErrorSamples == nil {
			res.ErrorSamples = map[string]string{}
		}
		res.ErrorSamples[k.(string)] = v.(string)
		return true
	})
	return res
}

// mixTable picks request classes by weight.
type mixTable struct {
	entries []mixEntry
	cum     []float64
}

type mixEntry struct {
	key      opKey
	prepared *Prepared
}

func newMixTable(mix []MixEntry, era string) (*mixTable, error) {
	t := &mixTable{}
	sum := 0.0
	for i, m := range mix {
		req, err := m.Request()
		if err != nil {
			return nil, fmt.Errorf("mix[%d]: %w", i, err)
		}
		p, err := Prepare(req, era)
		if err != nil {
			return nil, fmt.Errorf("mix[%d]: %w", i, err)
		}
		sum += m.Weight
		t.entries = append(t.entries, mixEntry{key: opKey{Method: req.Method, Name: req.Name, Tier: req.Tier}, prepared: p})
		t.cum = append(t.cum, sum)
	}
	for i := range t.cum {
		t.cum[i] /= sum
	}
	return t, nil
}

func (t *mixTable) pick(rng *rand.Rand) *mixEntry {
	x := rng.Float64()
	for i, c := range t.cum {
		if x < c {
			return &t.entries[i]
		}
	}
	return &t.entries[len(t.entries)-1]
}
