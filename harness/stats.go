package harness

import (
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, 1 µs to 10 minutes, 3 significant digits.
const (
	hdrMin    = 1
	hdrMax    = int64(10 * time.Minute / time.Microsecond)
	hdrDigits = 3
)

func newHist() *hdr.Histogram { return hdr.New(hdrMin, hdrMax, hdrDigits) }

func recordHist(h *hdr.Histogram, d time.Duration) {
	us := int64(d / time.Microsecond)
	_ = h.RecordValue(min(max(us, hdrMin), hdrMax))
}

// opKey names one request class: method, tool/prompt/URI, priority tier.
type opKey struct {
	Method, Name string
	Tier         int
}

type opStats struct {
	handshake              bool // session set-up, kept out of the request totals
	corrected, uncorrected *hdr.Histogram
	count, errors, dropped uint64
	classes                map[string]uint64
}

// Why a scheduled request was never sent (the reason label of
// andon_harness_requests_dropped_total). Every scheduled slot ends up sent or
// dropped for exactly one of these.
const (
	// DropInFlightCap: it waited behind max_in_flight outstanding requests
	// until its timeout passed.
	DropInFlightCap = "in_flight_cap"
	// DropSchedulerBehind: the harness itself (CPU-starved) reached it later
	// than its timeout.
	DropSchedulerBehind = "scheduler_behind"
	// DropDeadline: the run ended while it was still waiting to be sent.
	DropDeadline = "deadline"
	// DropNoSession: closed model, its session could not be set up or was lost.
	DropNoSession = "no_session"
	// DropInterrupted: the run was interrupted (Ctrl-C, SIGTERM) first.
	DropInterrupted = "interrupted"
)

// DropReasons lists every drop reason, in the order reports show them.
var DropReasons = []string{DropInFlightCap, DropSchedulerBehind, DropDeadline, DropNoSession, DropInterrupted}

// stats holds everything measured, for the summary, the JSON result and
// the timeline; one lock because a record costs well under a microsecond.
type stats struct {
	mu     sync.Mutex
	ops    map[opKey]*opStats
	window *hdr.Histogram // corrected latencies completed since the last tick
	stages []*stageStats  // per stage of the schedule, by intended start

	intended, sent, completed, failed, late        atomic.Uint64
	dropped                                        [5]atomic.Uint64 // by DropReasons index
	inFlight, sessions                             atomic.Int64
	sessionsOpened, sessionsFailed, sessionsClosed atomic.Uint64
	closeFailed, peakSessions                      atomic.Int64
	connsOpened                                    atomic.Uint64
	conns, peakConns                               atomic.Int64
}

// stageStats is the whole-run bookkeeping of one stage, for per-stage
// threshold checks.
type stageStats struct {
	Stage
	corrected                            *hdr.Histogram
	completed, errors, dropped, intended uint64
}

func newStats(stages []Stage) *stats {
	s := &stats{ops: map[opKey]*opStats{}, window: newHist()}
	for _, st := range stages {
		s.stages = append(s.stages, &stageStats{Stage: st, corrected: newHist()})
	}
	return s
}

// stageAt is the stage a request intended at offset t belongs to (nil for
// set-up calls and runs without stages).
func (s *stats) stageAt(t time.Duration) *stageStats {
	for i, st := range s.stages {
		if t < st.End || i == len(s.stages)-1 {
			return st
		}
	}
	return nil
}

func (s *stats) op(k opKey, handshake bool) *opStats {
	o := s.ops[k]
	if o == nil {
		o = &opStats{handshake: handshake, corrected: newHist(), uncorrected: newHist(), classes: map[string]uint64{}}
		s.ops[k] = o
	}
	return o
}

// record one finished call: corrected = completion − intended start,
// uncorrected = completion − actual send; at is the intended start's offset
// into the run (it picks the stage).
func (s *stats) record(k opKey, at, corrected, uncorrected time.Duration, class string, handshake bool) {
	if !handshake {
		s.completed.Add(1)
		if class != "" {
			s.failed.Add(1)
		}
	}
	s.mu.Lock()
	o := s.op(k, handshake)
	o.count++
	recordHist(o.corrected, corrected)
	recordHist(o.uncorrected, uncorrected)
	if class != "" {
		o.errors++
		o.classes[class]++
	}
	if !handshake {
		recordHist(s.window, corrected)
		if st := s.stageAt(at); st != nil {
			st.completed++
			recordHist(st.corrected, corrected)
			if class != "" {
				st.errors++
			}
		}
	}
	s.mu.Unlock()
}

// drop accounts for a scheduled request that was never sent. Its
// CO-corrected latency is what it had waited when it was given up (at the
// latest the end of the run): the requests a stalled client never sends are
// the slowest ones, and leaving them out is coordinated omission again.
func (s *stats) drop(k opKey, at, waited time.Duration, reason string) {
	s.dropped[slices.Index(DropReasons, reason)].Add(1)
	s.mu.Lock()
	o := s.op(k, false)
	o.dropped++
	recordHist(o.corrected, waited)
	recordHist(s.window, waited)
	if st := s.stageAt(at); st != nil {
		st.dropped++
		recordHist(st.corrected, waited)
	}
	s.mu.Unlock()
}

// schedule counts one scheduled slot as intended (at its intended offset).
func (s *stats) schedule(at time.Duration) {
	s.intended.Add(1)
	if len(s.stages) == 0 {
		return
	}
	s.mu.Lock()
	s.stageAt(at).intended++
	s.mu.Unlock()
}

// droppedTotal sums the drops of every reason.
func (s *stats) droppedTotal() uint64 {
	var n uint64
	for i := range s.dropped {
		n += s.dropped[i].Load()
	}
	return n
}

// connUp counts a TCP connection the harness opened.
func (s *stats) connUp() {
	s.connsOpened.Add(1)
	raisePeak(&s.peakConns, s.conns.Add(1))
}

func (s *stats) sessionUp() { raisePeak(&s.peakSessions, s.sessions.Add(1)) }

func raisePeak(peak *atomic.Int64, n int64) {
	for {
		p := peak.Load()
		if n <= p || peak.CompareAndSwap(p, n) {
			return
		}
	}
}

// Quantiles of one latency distribution, in seconds.
type Quantiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func quantiles(h *hdr.Histogram) Quantiles {
	at := func(q float64) float64 { return float64(h.ValueAtQuantile(q)) / 1e6 }
	return Quantiles{P50: at(50), P90: at(90), P95: at(95), P99: at(99), P999: at(99.9),
		Max: float64(h.Max()) / 1e6, Mean: h.Mean() / 1e6}
}

// OpResult is the summary of one request class (or of all of them).
type OpResult struct {
	Method      string            `json:"method"`
	Name        string            `json:"name,omitempty"`
	Tier        int               `json:"tier,omitempty"`
	Handshake   bool              `json:"handshake,omitempty"` // session set-up, not in the overall totals
	Count       uint64            `json:"count"`               // completed calls
	Dropped     uint64            `json:"dropped,omitempty"`   // scheduled, never sent (in Latency, not in Count)
	Errors      uint64            `json:"errors"`
	ErrorRatio  float64           `json:"error_ratio"`
	Classes     map[string]uint64 `json:"error_classes,omitempty"`
	Latency     Quantiles         `json:"latency"`             // CO-corrected: completion − intended start
	Uncorrected Quantiles         `json:"latency_uncorrected"` // completion − actual send
}

func (s *stats) results() (ops []OpResult, overall OpResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := &opStats{corrected: newHist(), uncorrected: newHist(), classes: map[string]uint64{}}
	for k, o := range s.ops {
		ops = append(ops, o.result(k))
		if o.handshake {
			continue
		}
		all.corrected.Merge(o.corrected)
		all.uncorrected.Merge(o.uncorrected)
		all.count += o.count
		all.dropped += o.dropped
		all.errors += o.errors
		for c, n := range o.classes {
			all.classes[c] += n
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		a, b := ops[i], ops[j]
		if a.Tier != b.Tier {
			return a.Tier < b.Tier
		}
		if a.Method != b.Method {
			return a.Method < b.Method
		}
		return a.Name < b.Name
	})
	return ops, all.result(opKey{Method: "all"})
}

func (o *opStats) result(k opKey) OpResult {
	r := OpResult{Method: k.Method, Name: k.Name, Tier: k.Tier, Handshake: o.handshake, Count: o.count, Dropped: o.dropped, Errors: o.errors,
		Latency: quantiles(o.corrected), Uncorrected: quantiles(o.uncorrected)}
	if o.count > 0 {
		r.ErrorRatio = float64(o.errors) / float64(o.count)
	}
	if len(o.classes) > 0 {
		r.Classes = map[string]uint64{}
		for c, n := range o.classes {
			r.Classes[c] = n
		}
	}
	return r
}

// Point is one second (or tick) of the run, for the report's plots.
type Point struct {
	T         float64 `json:"t"` // seconds since start
	Intended  float64 `json:"intended_rps"`
	Sent      float64 `json:"sent_rps"`
	Completed float64 `json:"completed_rps"`
	Errors    float64 `json:"errors_rps"`
	Dropped   float64 `json:"dropped_rps"`
	P50       float64 `json:"p50"`
	P95       float64 `json:"p95"`
	P99       float64 `json:"p99"`
	Max       float64 `json:"max"`
	Sessions  int64   `json:"sessions"`
	InFlight  int64   `json:"in_flight"`
}

// ticker turns the running totals into per-interval points.
type ticker struct {
	last  time.Time
	prev  [5]uint64
	s     *stats
	start time.Time
}

func (t *ticker) point(now time.Time) Point {
	cur := [5]uint64{t.s.intended.Load(), t.s.sent.Load(), t.s.completed.Load(), t.s.failed.Load(), t.s.droppedTotal()}
	dt := now.Sub(t.last).Seconds()
	if dt <= 0 {
		dt = 1
	}
	t.s.mu.Lock()
	w := t.s.window
	q := quantiles(w)
	w.Reset()
	t.s.mu.Unlock()
	p := Point{T: now.Sub(t.start).Seconds(),
		Intended: float64(cur[0]-t.prev[0]) / dt, Sent: float64(cur[1]-t.prev[1]) / dt,
		Completed: float64(cur[2]-t.prev[2]) / dt, Errors: float64(cur[3]-t.prev[3]) / dt, Dropped: float64(cur[4]-t.prev[4]) / dt,
		P50: q.P50, P95: q.P95, P99: q.P99, Max: q.Max,
		Sessions: t.s.sessions.Load(), InFlight: t.s.inFlight.Load()}
	t.prev, t.last = cur, now
	return p
}

func tierLabel(t int) string { return strconv.Itoa(t) }

// stageResults summarises each stage.
func (s *stats) stageResults() []StageResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []StageResult
	for _, st := range s.stages {
		out = append(out, StageResult{Name: st.Name, Start: st.Start.Seconds(), End: st.End.Seconds(),
			Intended: st.intended, Completed: st.completed, Errors: st.errors, Dropped: st.dropped, Latency: quantiles(st.corrected)})
	}
	return out
}
