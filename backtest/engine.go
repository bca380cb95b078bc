package backtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// LookbackDelta is Prometheus' default: how far back an instant selector finds a sample.
const LookbackDelta = 5 * time.Minute

// Options says what range to replay and how.
type Options struct {
	From, To time.Time
	// Step is the shortest evaluation interval: groups evaluate every max(interval, Step).
	// 0 keeps each group's own interval, which is what Prometheus does.
	Step time.Duration
	// Window is how much history is evaluated at once (default 6h). Memory is bounded by the
	// series read times the window plus the longest range any rule reads.
	Window time.Duration
	// Dir is a scratch directory for the local TSDB; "" makes (and removes) a temporary one.
	Dir string
	// Points is how many points each alert's signal keeps for the report's timeline (default 720).
	Points int
	// Progress, when set, is told after each window.
	Progress func(Progress)
}

// Progress reports a run's advance.
type Progress struct {
	Window, Windows int
	Through         time.Time // evaluated up to here
	Series, Samples int64     // raw, read so far
	Elapsed         time.Duration
}

func (o *Options) check() error {
	if !o.To.After(o.From) {
		return fmt.Errorf("backtest range: --to %s must be after --from %s", o.To.UTC().Format(time.RFC3339), o.From.UTC().Format(time.RFC3339))
	}
	if o.Step < 0 {
		return fmt.Errorf("--step %s: must not be negative", o.Step)
	}
	if o.Window == 0 {
		o.Window = 6 * time.Hour
	}
	if o.Window < time.Minute {
		return fmt.Errorf("--window %s: want at least 1m", o.Window)
	}
	if o.Points == 0 {
		o.Points = 720
	}
	return nil
}

// Run replays rs over [o.From, o.To] on history read from src.
func Run(ctx context.Context, src Source, rs *RuleSet, o Options) (*Report, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	dir := o.Dir
	if entries, err := os.ReadDir(dir); dir != "" && err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("scratch directory %s is not empty: give an empty or new one (old blocks there would join the replay)", dir)
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "andon-backtest-")
		if err != nil {
			return nil, fmt.Errorf("backtest scratch directory: %w (set --scratch-dir)", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	opts := tsdb.DefaultOptions()
	opts.WALSegmentSize = -1 // scratch data: no write-ahead log
	// The head takes samples within half a chunk range of its newest; a window's recorded series
	// are written up to a window behind the raw samples read for it.
	opts.MinBlockDuration = 4 * o.Window.Milliseconds()
	opts.MaxBlockDuration = opts.MinBlockDuration
	// Blocks older than the longest look-back of any rule are deleted as the replay moves on.
	opts.RetentionDuration = (rs.maxRange + LookbackDelta + o.Window + 4*time.Hour).Milliseconds()
	db, err := tsdb.Open(dir, nil, nil, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("backtest scratch TSDB in %s: %w", dir, err)
	}
	defer db.Close()
	db.DisableCompactions() // compacted only between windows, never under a window's appends

	r := newRun(ctx, src, rs, o, db)
	start := time.Now()
	windows := int((o.To.Sub(o.From) + o.Window) / o.Window)
	for w := 0; w < windows; w++ {
		wFrom := o.From.Add(time.Duration(w) * o.Window)
		wTo := wFrom.Add(o.Window) // evaluations in [wFrom, wTo)
		if end := o.To.Add(time.Millisecond); wTo.After(end) {
			wTo = end
		}
		if err := r.read(wFrom, wTo); err != nil {
			return nil, err
		}
		if err := r.window(wFrom, wTo); err != nil {
			return nil, err
		}
		if err := r.compact(); err != nil {
			return nil, err
		}
		if o.Progress != nil {
			o.Progress(Progress{Window: w + 1, Windows: windows, Through: wTo.Add(-time.Millisecond), Series: int64(len(r.series)), Samples: r.samples, Elapsed: time.Since(start)})
		}
	}
	return r.report(), nil
}

// run is the state of one replay.
type run struct {
	ctx    context.Context
	src    Source
	rs     *RuleSet
	o      Options
	db     *tsdb.DB
	engine *promql.Engine

	read1   bool            // the first window reads each selector's full look-back
	readTo  int64           // raw samples are read up to here (inclusive)
	series  map[uint64]bool // raw series read
	samples int64           // raw samples read
	levels  [][]*ruleState  // rules by dependency level: a level reads only earlier levels
	alerts  []*ruleState    // alerting rules in evaluation order
}

// ruleState is one rule's evaluation state across windows.
type ruleState struct {
	rule     *Rule
	interval time.Duration
	// recording: series present at the last evaluation of the previous window (for staleness).
	present map[string]labels.Labels
	// alerting
	ar        *rules.AlertingRule
	static    bool // rule labels hold no template: applied to samples before the state machine
	expr      string
	open      map[uint64]*Episode
	episodes  []*Episode
	steps     int // evaluations in the range
	noData    int // evaluations where a raw series the rule depends on was missing
	signal    parser.Expr
	threshold float64
	below     bool // the comparison fires below the threshold
	timeline  []float64
}

func newRun(ctx context.Context, src Source, rs *RuleSet, o Options, db *tsdb.DB) *run {
	r := &run{ctx: ctx, src: src, rs: rs, o: o, db: db, series: map[uint64]bool{}}
	r.engine = promql.NewEngine(promql.EngineOpts{
		MaxSamples:    math.MaxInt32,
		Timeout:       24 * time.Hour,
		LookbackDelta: LookbackDelta,
		// Prometheus' default global evaluation_interval, for subqueries without a step.
		NoStepSubqueryIntervalFn: func(int64) int64 { return DefaultInterval.Milliseconds() },
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		Parser:                   promParser,
	})
	needed := r.neededRecordings()
	level := map[string]int{} // recorded name → level of its (last) rule
	for _, g := range rs.Groups {
		iv := max(g.Interval, o.Step)
		for _, rule := range g.Rules {
			if rule.Record != "" && !needed[rule.Record] {
				continue // no alert reads it: it cannot change a firing
			}
			st := &ruleState{rule: rule, interval: iv, present: map[string]labels.Labels{}}
			lv := 0
			for _, name := range rule.reads {
				lv = max(lv, level[name]+1)
			}
			if rule.Record != "" {
				level[rule.Record] = max(level[rule.Record], lv)
			} else {
				st.initAlert(o)
				r.alerts = append(r.alerts, st)
			}
			for len(r.levels) <= lv {
				r.levels = append(r.levels, nil)
			}
			r.levels[lv] = append(r.levels[lv], st)
		}
	}
	return r
}

// neededRecordings are the recorded series the alerting rules read, directly or not.
func (r *run) neededRecordings() map[string]bool {
	byName := map[string][]*Rule{}
	for _, g := range r.rs.Groups {
		for _, rule := range g.Rules {
			if rule.Record != "" {
				byName[rule.Record] = append(byName[rule.Record], rule)
			}
		}
	}
	needed := map[string]bool{}
	var visit func(names []string)
	visit = func(names []string) {
		for _, n := range names {
			if needed[n] {
				continue
			}
			needed[n] = true
			for _, rule := range byName[n] {
				visit(rule.reads)
			}
		}
	}
	for _, a := range r.rs.Alerts() {
		visit(a.reads)
	}
	return needed
}

func (st *ruleState) initAlert(o Options) {
	rule := st.rule
	st.expr = rule.Expr.String()
	st.open = map[uint64]*Episode{}
	st.static = true
	rule.Labels.Range(func(l labels.Label) {
		if strings.Contains(l.Value, "{{") {
			st.static = false
		}
	})
	lbls := rule.Labels
	if st.static {
		lbls = labels.EmptyLabels()
	}
	// Annotations do not change when an alert fires; leaving them out saves a template
	// expansion per alert per evaluation.
	st.ar = rules.NewAlertingRule(rule.Alert, rule.Expr, rule.For, rule.KeepFiringFor, lbls,
		labels.EmptyLabels(), labels.EmptyLabels(), "", false, promslog.NewNopLogger())
	st.signal, st.threshold, st.below = signalOf(rule.Expr)
	if st.signal != nil {
		st.timeline = make([]float64, o.Points)
		for i := range st.timeline {
			st.timeline[i] = math.NaN()
		}
	}
}

// signalOf finds the first comparison of an expression with a number, e.g. `x > 0.005`: the
// signal drawn on the report's timeline and its threshold.
func signalOf(e parser.Expr) (signal parser.Expr, threshold float64, below bool) {
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		b, ok := n.(*parser.BinaryExpr)
		if signal != nil || !ok || !b.Op.IsComparisonOperator() {
			return nil
		}
		lhs, rhs, op := b.LHS, b.RHS, b.Op
		if _, ok := lhs.(*parser.NumberLiteral); ok {
			lhs, rhs = rhs, lhs
			op = map[parser.ItemType]parser.ItemType{parser.LSS: parser.GTR, parser.LTE: parser.GTE, parser.GTR: parser.LSS, parser.GTE: parser.LTE}[op]
		}
		for p, ok := rhs.(*parser.ParenExpr); ok; p, ok = rhs.(*parser.ParenExpr) {
			rhs = p.Expr
		}
		num, ok := rhs.(*parser.NumberLiteral)
		if !ok || lhs.Type() != parser.ValueTypeVector {
			return nil
		}
		signal, threshold, below = lhs, num.Val, op == parser.LSS || op == parser.LTE
		return nil
	})
	return signal, threshold, below
}

// read appends the raw samples every evaluation in [from, to) needs to the scratch TSDB, in
// slices of one window so that appends move forward in time together (the TSDB head only takes
// samples within half its chunk range of the newest).
func (r *run) read(from, to time.Time) error {
	maxt := to.UnixMilli() - 1
	start := map[string]int64{} // per selector, the first sample wanted
	lo := int64(math.MaxInt64)
	for _, vs := range r.rs.raw {
		k := vs.String()
		start[k] = r.readTo + 1
		if !r.read1 {
			start[k] = from.Add(-r.rs.need[k] - LookbackDelta).UnixMilli()
		}
		lo = min(lo, start[k])
	}
	r.read1, r.readTo = true, maxt
	win := r.o.Window.Milliseconds()
	for pmin := lo; pmin <= maxt; pmin += win {
		pmax := min(pmin+win-1, maxt)
		// One request per first-sample time: selectors that start inside the slice read from there.
		byStart := map[int64][]*parser.VectorSelector{}
		for _, vs := range r.rs.raw {
			if st := start[vs.String()]; st <= pmax {
				m := max(st, pmin)
				byStart[m] = append(byStart[m], vs)
			}
		}
		if err := r.readSlice(byStart, pmax); err != nil {
			return err
		}
		if err := r.compact(); err != nil { // long look-backs: keep the head small
			return err
		}
	}
	return nil
}

// compact persists the head's oldest part as a block when it is large enough (a block is four
// windows): memory then holds a few windows, and retention drops what no rule reaches back to.
func (r *run) compact() error {
	h := r.db.Head()
	if h.MaxTime()-h.MinTime() <= 6*r.o.Window.Milliseconds() {
		return nil
	}
	if err := r.db.Compact(r.ctx); err != nil {
		return fmt.Errorf("backtest scratch TSDB: compaction: %w", err)
	}
	return nil
}

func (r *run) readSlice(byStart map[int64][]*parser.VectorSelector, maxt int64) error {
	seen := map[uint64]bool{} // a series matched by two selectors is appended once
	app := r.db.Appender(r.ctx)
	pending := 0
	for _, mint := range slices.Sorted(maps.Keys(byStart)) {
		err := r.src.Read(r.ctx, mint, maxt, byStart[mint], func(lset labels.Labels, it chunkenc.Iterator) error {
			h := lset.Hash()
			if seen[h] {
				return nil
			}
			seen[h] = true
			lset = lset.Copy() // a source may reuse the memory behind the labels it hands over
			r.series[h] = true
			var ref storage.SeriesRef
			var err error
			for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
				switch vt {
				case chunkenc.ValFloat:
					t, v := it.At()
					ref, err = app.Append(ref, lset, t, v)
				case chunkenc.ValHistogram:
					t, h := it.AtHistogram(nil)
					ref, err = app.AppendHistogram(ref, lset, t, h, nil)
				case chunkenc.ValFloatHistogram:
					t, fh := it.AtFloatHistogram(nil)
					ref, err = app.AppendHistogram(ref, lset, t, nil, fh)
				}
				if err != nil {
					return fmt.Errorf("%s: sample of %s at %d: %w", r.src, lset, it.AtT(), err)
				}
				r.samples++
				if pending++; pending >= 100_000 { // bounds the appender's batch
					if err := app.Commit(); err != nil {
						return err
					}
					app, pending, ref = r.db.Appender(r.ctx), 0, 0
				}
			}
			return it.Err()
		})
		if err != nil {
			_ = app.Rollback()
			return err
		}
	}
	return app.Commit()
}

// window evaluates every rule over the evaluations in [from, to), level by level; the rules of a
// level read nothing another rule of the level records, so their queries run side by side. No
// query runs while recorded series are written: a level's results are written once all its
// queries are done, and its alerts (which only read) are stepped after that.
func (r *run) window(from, to time.Time) error {
	for _, lv := range r.levels {
		results := make([]promql.Matrix, len(lv))
		err := parallel(len(lv), func(i int) error {
			st := lv[i]
			first, last, n := r.evalTimes(st, from, to)
			if n == 0 {
				return nil
			}
			m, err := r.rangeQuery(st.rule.Expr.String(), first, last, st.interval)
			if err != nil {
				return fmt.Errorf("rule %s over %s…%s: %w", st.rule.Name(), first.UTC().Format(time.RFC3339), last.UTC().Format(time.RFC3339), err)
			}
			results[i] = m
			return nil
		})
		if err != nil {
			return err
		}
		for i, st := range lv {
			if first, last, n := r.evalTimes(st, from, to); n > 0 && st.rule.Record != "" {
				if err := r.record(st, results[i], first, last); err != nil {
					return err
				}
			}
		}
		err = parallel(len(lv), func(i int) error {
			st := lv[i]
			first, last, n := r.evalTimes(st, from, to)
			if n == 0 || st.rule.Alert == "" {
				return nil
			}
			if err := r.step(st, results[i], first, n); err != nil {
				return err
			}
			if err := r.countNoData(st, first, last); err != nil {
				return err
			}
			return r.drawSignal(st, first, last)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// parallel runs f(0…n-1) on as many goroutines as there are cores and joins their errors.
func parallel(n int, f func(i int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
	)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(i); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// evalTimes are a rule's evaluation times in [from, to): o.From + k·interval.
func (r *run) evalTimes(st *ruleState, from, to time.Time) (first, last time.Time, n int) {
	iv := st.interval
	k := (from.Sub(r.o.From) + iv - 1) / iv
	first = r.o.From.Add(k * iv)
	if !first.Before(to) {
		return first, first, 0
	}
	n = int((to.Sub(first)-1)/iv) + 1
	return first, first.Add(time.Duration(n-1) * iv), n
}

func (r *run) rangeQuery(expr string, first, last time.Time, step time.Duration) (promql.Matrix, error) {
	q, err := r.engine.NewRangeQuery(r.ctx, r.db, nil, expr, first, last, step)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	res := q.Exec(r.ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	m, ok := res.Value.(promql.Matrix)
	if !ok {
		return nil, fmt.Errorf("range query answered %s, want a matrix", res.Value.Type())
	}
	// Close hands the points back to the engine's pools for the next query: keep a copy.
	out := make(promql.Matrix, len(m))
	for i, s := range m {
		out[i] = promql.Series{Metric: s.Metric, Floats: slices.Clone(s.Floats), Histograms: slices.Clone(s.Histograms)}
		for j := range out[i].Histograms {
			out[i].Histograms[j].H = out[i].Histograms[j].H.Copy()
		}
	}
	return out, nil
}

// record writes a recording rule's results as a rule group would: the series named and labelled
// by the rule, and a staleness marker at the first evaluation a series is missing from.
func (r *run) record(st *ruleState, m promql.Matrix, first, last time.Time) error {
	iv := st.interval.Milliseconds()
	f, l := first.UnixMilli(), last.UnixMilli()
	app := r.db.Appender(r.ctx)
	fail := func(err error) error {
		_ = app.Rollback()
		return fmt.Errorf("rule %s: %w", st.rule.Name(), err)
	}
	stale := func(lset labels.Labels, t int64) error {
		_, err := app.Append(0, lset, t, math.Float64frombits(value.StaleNaN))
		return err
	}
	lb := labels.NewBuilder(labels.EmptyLabels())
	seen := make(map[string]bool, len(m))
	atEnd := make(map[string]labels.Labels, len(m))
	for _, s := range m {
		lb.Reset(s.Metric)
		lb.Set(labels.MetricName, st.rule.Record)
		st.rule.Labels.Range(func(l labels.Label) { lb.Set(l.Name, l.Value) })
		lset := lb.Labels()
		key := string(lset.Bytes(nil))
		if seen[key] {
			return fail(fmt.Errorf("%w: %s", rules.ErrDuplicateRecordingLabelSet, lset))
		}
		seen[key] = true
		ps := points(s)
		if _, was := st.present[key]; was && ps[0].T != f {
			if err := stale(lset, f); err != nil {
				return fail(err)
			}
		}
		for i, p := range ps {
			var err error
			if p.H == nil {
				_, err = app.Append(0, lset, p.T, p.F)
			} else {
				_, err = app.AppendHistogram(0, lset, p.T, nil, p.H)
			}
			if err == nil && p.T < l && (i+1 == len(ps) || ps[i+1].T != p.T+iv) {
				err = stale(lset, p.T+iv) // gone at the next evaluation
			}
			if err != nil {
				return fail(fmt.Errorf("writing %s at %d: %w", lset, p.T, err))
			}
		}
		if ps[len(ps)-1].T == l {
			atEnd[key] = lset
		}
	}
	for key, lset := range st.present {
		if !seen[key] {
			if err := stale(lset, f); err != nil {
				return fail(err)
			}
		}
	}
	st.present = atEnd
	return app.Commit()
}

// point is one evaluation's result of a series: a float or a histogram.
type point struct {
	T int64
	F float64
	H *histogram.FloatHistogram
}

// points merges a series' floats and histograms in time order.
func points(s promql.Series) []point {
	out := make([]point, 0, len(s.Floats)+len(s.Histograms))
	i, j := 0, 0
	for i < len(s.Floats) || j < len(s.Histograms) {
		if j == len(s.Histograms) || (i < len(s.Floats) && s.Floats[i].T < s.Histograms[j].T) {
			out = append(out, point{T: s.Floats[i].T, F: s.Floats[i].F})
			i++
		} else {
			out = append(out, point{T: s.Histograms[j].T, H: s.Histograms[j].H})
			j++
		}
	}
	return out
}

// step runs Prometheus' alert state machine through each evaluation of the window, feeding it the
// alert expression's result at that time, and records firing episodes per alert label set.
func (r *run) step(st *ruleState, m promql.Matrix, first time.Time, n int) error {
	type cursor struct {
		lset labels.Labels
		ps   []point
		i    int
	}
	curs := make([]cursor, len(m))
	lb := labels.NewBuilder(labels.EmptyLabels())
	for i, s := range m {
		lset := s.Metric
		if st.static { // what AlertingRule.Eval would do with the rule's labels, done once
			lb.Reset(lset)
			lb.Del(labels.MetricName)
			st.rule.Labels.Range(func(l labels.Label) { lb.Set(l.Name, l.Value) })
			lset = lb.Labels()
		}
		curs[i] = cursor{lset: lset, ps: points(s)}
	}
	var vec promql.Vector
	query := func(ctx context.Context, qs string, t time.Time) (promql.Vector, error) {
		if qs == st.expr {
			return vec, nil
		}
		return r.instant(ctx, qs, t) // a label template's own query
	}
	firing := map[uint64]*rules.Alert{}
	for k := range n {
		ts := first.Add(time.Duration(k) * st.interval)
		t := ts.UnixMilli()
		vec = vec[:0]
		for i := range curs {
			c := &curs[i]
			if c.i < len(c.ps) && c.ps[c.i].T == t {
				vec = append(vec, promql.Sample{Metric: c.lset, T: t, F: c.ps[c.i].F, H: c.ps[c.i].H})
				c.i++
			}
		}
		st.steps++
		if len(vec) == 0 && st.ar.ActiveAlertsCount() == 0 {
			continue // Eval would change nothing
		}
		if _, err := st.ar.Eval(r.ctx, 0, ts, query, nil, 0); err != nil {
			return fmt.Errorf("alert %s at %s: %w", st.rule.Alert, ts.UTC().Format(time.RFC3339), err)
		}
		clear(firing)
		st.ar.ForEachActiveAlert(func(a *rules.Alert) {
			if a.State == rules.StateFiring {
				firing[a.Labels.Hash()] = a
			}
		})
		for h, a := range firing {
			if _, ok := st.open[h]; !ok {
				e := &Episode{Labels: a.Labels.Copy(), Start: ts.UTC()}
				st.open[h] = e
				st.episodes = append(st.episodes, e)
			}
		}
		for h, e := range st.open {
			if _, ok := firing[h]; !ok {
				e.End = ts.UTC()
				delete(st.open, h)
			}
		}
	}
	return nil
}

func (r *run) instant(ctx context.Context, qs string, t time.Time) (promql.Vector, error) {
	q, err := r.engine.NewInstantQuery(ctx, r.db, nil, qs, t)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	switch v := res.Value.(type) {
	case promql.Vector:
		v = slices.Clone(v) // Close hands the vector back to the engine's pool
		for i := range v {
			if v[i].H != nil {
				v[i].H = v[i].H.Copy()
			}
		}
		return v, nil
	case promql.Scalar:
		return promql.Vector{{T: v.T, F: v.V, Metric: labels.EmptyLabels()}}, nil
	}
	return nil, fmt.Errorf("%s: answered %s, want a vector", qs, res.Value.Type())
}

// countNoData counts the evaluations at which some raw series the alert depends on selected
// nothing (instant-vector semantics: no sample within the look-back).
func (r *run) countNoData(st *ruleState, first, last time.Time) error {
	if len(st.rule.deps) == 0 {
		return nil
	}
	parts := make([]string, len(st.rule.deps))
	for i, d := range st.rule.deps {
		parts[i] = "absent(" + d.String() + ")"
	}
	m, err := r.rangeQuery("group("+strings.Join(parts, " or ")+")", first, last, st.interval)
	if err != nil {
		return fmt.Errorf("alert %s: no-data query: %w", st.rule.Alert, err)
	}
	for _, s := range m {
		st.noData += len(s.Floats)
	}
	return nil
}

// drawSignal keeps, per timeline point, the worst value of the alert's signal across series:
// the highest for a signal that fires above its threshold, the lowest for one below.
func (r *run) drawSignal(st *ruleState, first, last time.Time) error {
	if st.signal == nil {
		return nil
	}
	agg := "max"
	if st.below {
		agg = "min"
	}
	m, err := r.rangeQuery(agg+"("+st.signal.String()+")", first, last, st.interval)
	if err != nil {
		return fmt.Errorf("alert %s: signal query: %w", st.rule.Alert, err)
	}
	span := r.o.To.Sub(r.o.From).Milliseconds() + 1
	from := r.o.From.UnixMilli()
	for _, s := range m {
		for _, p := range s.Floats {
			i := int((p.T - from) * int64(len(st.timeline)) / span)
			if old := st.timeline[i]; math.IsNaN(old) || (!st.below && p.F > old) || (st.below && p.F < old) {
				st.timeline[i] = p.F
			}
		}
	}
	return nil
}
