package rulegen

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/andon-sre/andon/limits"
)

// Small typed builders over the PromQL AST. Every expression rulegen emits is built here, printed
// by the parser's own printer and parsed again (parseBack) before it is written.

var promParser = parser.NewParser(parser.Options{})

func sel(name string, ms ...*labels.Matcher) *parser.VectorSelector {
	all := append([]*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, name)}, ms...)
	return &parser.VectorSelector{Name: name, LabelMatchers: all}
}

// withName returns a copy of vs selecting a different metric (name_bucket of a histogram).
func withName(vs *parser.VectorSelector, name string) *parser.VectorSelector {
	out := &parser.VectorSelector{Name: name}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName {
			m = labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, name)
		}
		out.LabelMatchers = append(out.LabelMatchers, m)
	}
	return out
}

func call(fn string, args ...parser.Expr) parser.Expr {
	return &parser.Call{Func: parser.Functions[fn], Args: args}
}

func matrix(vs *parser.VectorSelector, w time.Duration) parser.Expr {
	return &parser.MatrixSelector{VectorSelector: vs, Range: w}
}

func rangeFn(fn string, vs *parser.VectorSelector, w time.Duration) parser.Expr {
	return call(fn, matrix(vs, w))
}

func aggr(op string, e parser.Expr, by []string) parser.Expr {
	ops := map[string]parser.ItemType{"sum": parser.SUM, "max": parser.MAX, "min": parser.MIN, "avg": parser.AVG}
	return &parser.AggregateExpr{Op: ops[op], Expr: e, Grouping: by}
}

func num(v float64) parser.Expr {
	// Round through FormatNumber so derived numbers print without float noise.
	r, _ := strconv.ParseFloat(limits.FormatNumber(v), 64)
	return &parser.NumberLiteral{Val: r}
}

func paren(e parser.Expr) parser.Expr { return &parser.ParenExpr{Expr: e} }

func bin(op parser.ItemType, a, b parser.Expr) parser.Expr {
	e := &parser.BinaryExpr{Op: op, LHS: a, RHS: b}
	_, aNum := a.(*parser.NumberLiteral)
	_, bNum := b.(*parser.NumberLiteral)
	if !aNum && !bNum {
		card := parser.CardOneToOne
		if op == parser.LAND || op == parser.LOR || op == parser.LUNLESS {
			card = parser.CardManyToMany
		}
		e.VectorMatching = &parser.VectorMatching{Card: card}
	}
	return e
}

// landAll joins e and the conditions of guard (an `and` chain) left to right, so the printed
// expression reads as one flat chain: a and b and c.
func landAll(e, guard parser.Expr) parser.Expr {
	if b, ok := guard.(*parser.BinaryExpr); ok && b.Op == parser.LAND {
		return bin(parser.LAND, landAll(e, b.LHS), b.RHS)
	}
	return bin(parser.LAND, e, guard)
}

func compare(d limits.Direction, a parser.Expr, v float64) parser.Expr {
	var op parser.ItemType = parser.GTR
	if d == limits.Below {
		op = parser.LSS
	}
	return bin(op, a, num(v))
}

// parseBack parses every expression of the rule groups, so nothing unparsable is ever written.
func parseBack(groups []rulefmt.RuleGroup) error {
	for _, g := range groups {
		for _, r := range g.Rules {
			if _, err := promParser.ParseExpr(r.Expr); err != nil {
				return fmt.Errorf("internal error: generated PromQL of %s%s does not parse: %q: %w", r.Record, r.Alert, r.Expr, err)
			}
		}
	}
	return nil
}
