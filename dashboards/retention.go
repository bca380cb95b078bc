package dashboards

import (
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/andon-sre/andon/rulegen"
)

// defaultRange is the dashboard's time range; range queries read that much more history.
const defaultRange = 3 * time.Hour

// PanelRetention is how much history a panel reads: Prometheus must keep at least Needs, or the
// panel silently shows a shorter window than it says (Prometheus keeps 15d by default).
type PanelRetention struct {
	Title string
	Needs time.Duration
}

// Retention lists what every panel of res's dashboard needs, in panel order.
func Retention(res *rulegen.Result) ([]PanelRetention, error) {
	g, err := newGen(res)
	if err != nil {
		return nil, err
	}
	if _, err := g.build(); err != nil {
		return nil, err
	}
	return g.retention, nil
}

// lookbacks knows how far back each recorded series of the rules reads raw samples: a rate
// recorded over 30d needs 30d of samples, however short the range a panel shows.
type lookbacks struct {
	exprs map[string][]string // recorded series → the expressions recording it
	memo  map[string]time.Duration
}

func newLookbacks(res *rulegen.Result) *lookbacks {
	lb := &lookbacks{exprs: map[string][]string{}, memo: map[string]time.Duration{}}
	for _, g := range res.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				lb.exprs[r.Record] = append(lb.exprs[r.Record], r.Expr)
			}
		}
	}
	return lb
}

// series is the look-back of a recorded series (0 for a raw one).
func (lb *lookbacks) series(name string) time.Duration {
	if d, ok := lb.memo[name]; ok {
		return d
	}
	lb.memo[name] = 0 // a cycle (there is none in generated rules) ends here
	var d time.Duration
	for _, expr := range lb.exprs[name] {
		if e, err := promParser.ParseExpr(expr); err == nil {
			d = max(d, lb.expr(e))
		}
	}
	lb.memo[name] = d
	return d
}

// expr is how far back e reads: the longest range plus offset of its selectors and subqueries,
// each plus the look-back of the recorded series it selects.
func (lb *lookbacks) expr(e parser.Expr) time.Duration {
	var d time.Duration
	var walk func(n parser.Node, outer time.Duration)
	walk = func(n parser.Node, outer time.Duration) {
		switch n := n.(type) {
		case *parser.VectorSelector:
			d = max(d, outer+n.OriginalOffset+lb.series(n.Name))
			return
		case *parser.MatrixSelector:
			walk(n.VectorSelector, outer+n.Range)
			return
		case *parser.SubqueryExpr:
			walk(n.Expr, outer+n.Range+n.OriginalOffset)
			return
		}
		for _, c := range parser.Children(n) {
			walk(c, outer)
		}
	}
	walk(e, 0)
	return d
}

// retentionNote is what a panel's description says about the history it reads.
func retentionNote(needs time.Duration) string {
	if needs == 0 {
		return " Reads the latest samples only: needs no Prometheus history."
	}
	return fmt.Sprintf(" Needs Prometheus retention ≥ %s.", model.Duration(needs))
}

// needs is the retention a panel's queries need: their look-back, plus the time range shown
// for range queries.
func (g *gen) needs(qs []query) time.Duration {
	var d time.Duration
	for _, q := range qs {
		e, err := promParser.ParseExpr(substitute(q.expr, g.vars(), model.Duration(defaultRange).String(), ".*"))
		if err != nil {
			g.fail(fmt.Errorf("internal error: dashboard query does not parse: %q: %w", q.expr, err))
			continue
		}
		need := g.lookbacks.expr(e)
		if !q.instant {
			need += defaultRange
		}
		d = max(d, need)
	}
	return d
}
