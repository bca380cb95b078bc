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
	"time"
)

// Options configure one run. Thresholds only draw lines in the report (the
// CLI fills them from --threshold).
type Options struct {
	Target  Target
	Profile *Profile
	// ScrapeTarget is the target's own /metrics URL, recorded with the run.
	ScrapeTarget string
	// RecordInterval is the sampling step of the recording (default 1s).
	RecordInterval time.Duration
	// LateAfter: a request sent more than this after its intended start is
	// counted late (default 5ms).
	LateAfter time.Duration
	// Progress receives one status line a second (nil: none).
	Progress io.Writer
	// ProgressTTY rewrites the line in place instead of printing new lines.
	ProgressTTY bool
	Thresholds  []Threshold
	Logger      *slog.Logger
	// OnStart is called once the run's live metrics exist (e.g. to serve them).
	OnStart func(metrics http.Handler)
}

// Threshold is a limit drawn on the report's plots.
type Threshold struct {
	// Metric is one of latency_p50, latency_p95, latency_p99, error_ratio,
	// rate (requests/s) or sessions.
	Metric string  `json:"metric"`
	Value  float64 `json:"value"` // seconds for latencies, 0..1 for ratios
	Label  string  `json:"label"` // e.g. "red"
}

// Result is the outcome of a run, written as JSON next to the report.
type Result struct {
	Profile      *Profile          `json:"profile"`
	Target       string            `json:"target"`
	Transport    string            `json:"transport"`
	Era          string            `json:"protocol"`
	Start        time.Time         `json:"start"`
	Seconds      float64           `json:"seconds"`
	Intended     uint64            `json:"intended"`
	Sent         uint64            `json:"sent"`
	Completed    uint64            `json:"completed"`
	Errors       uint64            `json:"errors"`
	Dropped      uint64            `json:"dropped"`
	Late         uint64            `json:"late"`
	AchievedRPS  float64           `json:"achieved_rps"`
	Sessions     SessionResult     `json:"sessions"`
	Overall      OpResult          `json:"overall"`
	Operations   []OpResult        `json:"operations"`
	Timeline     []Point           `json:"timeline"`
	Thresholds   []Threshold       `json:"thresholds,omitempty"`
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

// runner is the state of one run.
type runner struct {
	opts    Options
	p       *Profile
	dialer  *Dialer
	st      *stats
	live    *liveMetrics
	mix     *mixTable
	start   time.Time
	end     time.Time
	era     string
	samples sync.Map // error class → first message
}

// Run executes opts.Profile against opts.Target and returns what it saw.
// It returns an error only when the run could not start (bad options, target
// unreachable); failures during the run are measured, not returned.
func Run(ctx context.Context, opts Options) (*Result, error) {
	p := opts.Profile
	if p == nil {
		return nil, errors.New("no profile given")
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if opts.RecordInterval <= 0 {
		opts.RecordInterval = time.Second
	}
	if opts.LateAfter <= 0 {
		opts.LateAfter = 5 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	hc := NewHTTPClient(max(p.MaxInFlight, p.Sessions) + 16)
	defer hc.CloseIdleConnections()
	r := &runner{opts: opts, p: p, dialer: &Dialer{Target: opts.Target, HTTP: hc}, st: newStats()}
	r.live = newLiveMetrics(r.st)

	// One probe connection fixes the era for the whole run, so every session
	// speaks the same revision and an unreachable target fails fast.
	probeCtx, cancel := context.WithTimeout(ctx, p.Timeout)
	probe, err := r.dialer.Dial(probeCtx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", r.targetName(), err)
	}
	r.era = probe.Era()
	r.dialer.Target.Era = r.era
	if r.mix, err = newMixTable(p.Mix, r.era); err != nil {
		_ = probe.Close(context.Background())
		return nil, err
	}
	if opts.OnStart != nil {
		opts.OnStart(r.live.Handler())
	}

	// Open-model sessions are set up before the clock starts, so the
	// schedule's first requests are not late because of handshakes.
	var pool *connPool
	if p.Model == ModelOpen {
		pool = r.openPool(ctx, probe)
	} else {
		_ = probe.Close(context.Background())
	}
	r.start = time.Now()
	r.end = r.start.Add(p.Duration)
	rec := newRecorder(r.start, opts.RecordInterval, opts.ScrapeTarget, hc)
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
	k := 0
	sample := func() {
		fams, err := r.live.reg.Gather()
		if err == nil {
			rec.sample(ctx, k, fams)
			k++
		}
	}
	sample() // step 0: everything at zero, so rates start from a known base
	for {
		select {
		case now := <-sec.C:
			pt := tk.point(now)
			points = append(points, pt)
			r.progress(pt, false)
		case <-step.C:
			sample()
		case <-stop:
			now := time.Now()
			if now.Sub(tk.last) > 100*time.Millisecond {
				points = append(points, tk.point(now))
			}
			sample()
			if len(points) > 0 {
				r.progress(points[len(points)-1], true)
			}
			return points
		}
	}
}

// job is one scheduled request.
type job struct {
	intended time.Time
	entry    *mixEntry
	conn     *pooledConn
}

// open runs the open model: a scheduler computes every intended start time
// from the pacer and hands each request to an idle worker, starting a new one
// while fewer than max_in_flight exist. When all are busy the scheduler waits
// and the request goes out late; latency still counts from the intended start.
func (r *runner) open(ctx context.Context, pool *connPool) {
	defer pool.close(r)
	pacer := NewPacer(r.p)
	jobs := make(chan job)
	var wg sync.WaitGroup
	var workers int
	rng := rand.New(rand.NewPCG(uint64(r.start.UnixNano()), 0x9e3779b97f4a7c15))
	total := r.p.Duration
	runCtx, cancel := context.WithDeadline(ctx, r.end)
	defer cancel()
	var next time.Duration
	i := 0
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next = nextHit(pacer, next, total)
		if next >= total {
			break
		}
		at := r.start.Add(next)
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-runCtx.Done():
			}
		}
		if runCtx.Err() != nil {
			break
		}
		r.st.intended.Add(1)
		j := job{intended: at, entry: r.mix.pick(rng), conn: pool.conns[i%len(pool.conns)]}
		i++
		select {
		case jobs <- j:
			continue
		default:
		}
		if workers < r.p.MaxInFlight {
			workers++
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.do(ctx, j)
				for j := range jobs {
					r.do(ctx, j)
				}
			}()
			continue
		}
		select {
		case jobs <- j:
		case <-runCtx.Done():
			r.st.dropped.Add(1)
		}
	}
	close(jobs)
	wg.Wait()
}

// do sends one scheduled request and records it.
func (r *runner) do(ctx context.Context, j job) {
	sent := time.Now()
	lateness := sent.Sub(j.intended)
	if lateness > r.p.Timeout {
		// It would time out before it was sent: a dispatch the harness
		// could not make, not a server error.
		r.st.dropped.Add(1)
		return
	}
	if lateness > r.opts.LateAfter {
		r.st.late.Add(1)
	}
	conn, err := j.conn.get(ctx, r)
	if err == nil {
		err = r.call(ctx, conn, j.entry, j.intended, sent)
		if Classify(err) == ClassSessionLost {
			j.conn.lost(conn)
		}
		return
	}
	r.finish(j.entry.key, j.intended, sent, err, false)
}

// call sends one request: CO-corrected latency = completion − intended.
func (r *runner) call(ctx context.Context, c *Conn, e *mixEntry, intended, sent time.Time) error {
	r.st.sent.Add(1)
	r.st.inFlight.Add(1)
	cctx, cancel := context.WithTimeout(ctx, r.p.Timeout)
	err := c.Call(cctx, e.prepared)
	cancel()
	r.st.inFlight.Add(-1)
	if err != nil && ctx.Err() != nil {
		return err // the run was interrupted (Ctrl-C): not the server's failure
	}
	r.finish(e.key, intended, sent, err, false)
	return err
}

func (r *runner) finish(k opKey, intended, sent time.Time, err error, handshake bool) {
	done := time.Now()
	class := Classify(err)
	if class != "" {
		if _, seen := r.samples.Load(class); !seen {
			r.samples.Store(class, err.Error())
		}
	}
	r.st.record(k, done.Sub(intended), done.Sub(sent), class, handshake)
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
	c, err := r.dial(ctx)
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

func (r *runner) openPool(ctx context.Context, probe *Conn) *connPool {
	pool := &connPool{conns: make([]*pooledConn, r.p.Sessions)}
	pool.conns[0] = &pooledConn{conn: probe}
	r.st.sessionsOpened.Add(1)
	r.st.sessionUp()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 1; i < len(pool.conns); i++ {
		pc := &pooledConn{}
		pool.conns[i] = pc
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, _ = pc.get(ctx, r) // a failure is recorded; the slot retries on use
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

// dial opens one session and records its handshake as an operation.
func (r *runner) dial(ctx context.Context) (*Conn, error) {
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, r.p.Timeout)
	c, err := r.dialer.Dial(cctx)
	cancel()
	method := "initialize"
	if r.era == Era20260728 {
		method = "server/discover"
	}
	r.finish(opKey{Method: method, Tier: 1}, start, start, err, true)
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
// ends its session.
func (r *runner) closed(ctx context.Context) {
	n := r.p.Sessions
	runCtx, cancel := context.WithDeadline(ctx, r.end)
	defer cancel()
	var wg sync.WaitGroup
	for i := range n {
		at := r.start.Add(time.Duration(float64(r.p.RampUp) * float64(i) / float64(n)))
		if wait := time.Until(at); wait > 0 {
			select {
			case <-time.After(wait):
			case <-runCtx.Done():
			}
		}
		if runCtx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r.session(runCtx, ctx, rand.New(rand.NewPCG(seed, uint64(r.start.UnixNano()))))
		}(uint64(i))
	}
	wg.Wait()
}

func (r *runner) session(runCtx, ctx context.Context, rng *rand.Rand) {
	c, err := r.dial(ctx)
	if err != nil {
		return
	}
	defer r.hangUp(c)
	if r.p.SessionRPS <= 0 {
		<-runCtx.Done()
		return
	}
	interval := time.Duration(float64(time.Second) / r.p.SessionRPS)
	next := time.Now()
	for {
		if wait := time.Until(next); wait > 0 {
			select {
			case <-time.After(wait):
			case <-runCtx.Done():
				return
			}
		}
		if runCtx.Err() != nil {
			return
		}
		r.st.intended.Add(1)
		e := r.mix.pick(rng)
		sent := time.Now()
		if sent.Sub(next) > r.opts.LateAfter {
			r.st.late.Add(1)
		}
		err := r.call(ctx, c, e, next, sent)
		if Classify(err) == ClassSessionLost {
			return
		}
		next = next.Add(interval)
	}
}

func (r *runner) result(timeline []Point) *Result {
	ops, overall := r.st.results()
	elapsed := time.Since(r.start).Seconds()
	res := &Result{
		Profile: r.p, Target: r.targetName(), Transport: r.opts.Target.Transport, Era: r.era,
		Start: r.start, Seconds: elapsed,
		Intended: r.st.intended.Load(), Sent: r.st.sent.Load(), Completed: r.st.completed.Load(),
		Errors: r.st.failed.Load(), Dropped: r.st.dropped.Load(), Late: r.st.late.Load(),
		Sessions: SessionResult{Opened: r.st.sessionsOpened.Load(), Failed: r.st.sessionsFailed.Load(),
			Closed: r.st.sessionsClosed.Load(), CloseFailed: r.st.closeFailed.Load(), Peak: r.st.peakSessions.Load()},
		Overall: overall, Operations: ops, Timeline: timeline, Thresholds: r.opts.Thresholds,
	}
	if res.Transport == "" {
		res.Transport = TransportStreamable
	}
	if elapsed > 0 {
		res.AchievedRPS = float64(res.Sent) / min(elapsed, r.p.Duration.Seconds())
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
