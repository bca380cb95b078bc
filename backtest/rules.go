// Package backtest replays rule groups over a range of real history read from a Prometheus
// (remote read, or the query API) and reports what the alerts would have done: firings, firing
// time, pages per month, the receiver's actions, and how much of the range had no data.
//
// Recording rules and alert expressions are evaluated with Prometheus' own PromQL engine as range
// queries at each group's interval, in group order, writing recorded series (and their staleness
// markers) back into a local TSDB exactly as a rule group would; the alert state machine (for,
// keep_firing_for) is Prometheus' rules.AlertingRule, stepped through every evaluation time.
package backtest

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// DefaultInterval is a group's interval when it sets none: Prometheus' global default.
const DefaultInterval = time.Minute

// promParser parses rule expressions the way Prometheus does with no experimental features.
var promParser = parser.NewParser(parser.Options{})

// RuleSet is a parsed, checked set of rule groups, ready to replay.
type RuleSet struct {
	Name   string // what the rules came from, for the report
	Groups []*Group
	// raw are the selectors of series no rule records (matchers only): what is read from Prometheus.
	raw []*parser.VectorSelector
	// need is how far back of an evaluation each raw selector reads (range, offset and
	// subqueries), lookback excluded; maxRange is the longest of all selectors, recorded included.
	need     map[string]time.Duration
	maxRange time.Duration
}

// Group is one rule group: its rules are evaluated in order at every interval.
type Group struct {
	Name     string
	Interval time.Duration
	Rules    []*Rule
}

// Rule is one recording or alerting rule.
type Rule struct {
	Record, Alert string
	Expr          parser.Expr
	Labels        labels.Labels
	For           time.Duration
	KeepFiringFor time.Duration
	// deps are the raw selectors the rule reads, directly or through recorded series.
	deps []*parser.VectorSelector
	// reads are the recorded series names the rule reads.
	reads []string
}

// Name is the recorded series or the alert name.
func (r *Rule) Name() string { return cmp.Or(r.Alert, r.Record) }

// ParseRules reads a Prometheus rule file (andon-generated or not).
func ParseRules(name string, content []byte) (*RuleSet, error) {
	rgs, errs := rulefmt.Parse(content, false, model.UTF8Validation, promParser, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", name, errors.Join(errs...))
	}
	return NewRuleSet(name, rgs.Groups)
}

// NewRuleSet parses and checks groups. It refuses what it cannot replay faithfully rather than
// report numbers it cannot stand behind: rules reading ALERTS, query offsets, and rules reading a
// series that is recorded only later in evaluation order.
func NewRuleSet(name string, groups []rulefmt.RuleGroup) (*RuleSet, error) {
	rs := &RuleSet{Name: name}
	recordedAt := map[string]int{} // recorded metric name → evaluation position of its first rule
	type pending struct {
		r   *Rule
		pos int
		loc string
	}
	var all []pending
	pos := 0
	for gi, rg := range groups {
		if rg.QueryOffset != nil && *rg.QueryOffset != 0 {
			return nil, fmt.Errorf("%s: group %q: query_offset is not supported by the backtest; remove it for the replay", name, rg.Name)
		}
		g := &Group{Name: rg.Name, Interval: cmp.Or(time.Duration(rg.Interval), DefaultInterval)}
		for ri, r := range rg.Rules {
			loc := fmt.Sprintf("%s: group %q (#%d) rule #%d (%s)", name, rg.Name, gi+1, ri+1, cmp.Or(r.Alert, r.Record))
			e, err := promParser.ParseExpr(r.Expr)
			if err != nil {
				return nil, fmt.Errorf("%s: expr: %w", loc, err)
			}
			lbls := maps.Clone(rg.Labels)
			if lbls == nil {
				lbls = map[string]string{}
			}
			maps.Copy(lbls, r.Labels)
			rule := &Rule{Record: r.Record, Alert: r.Alert, Expr: e, Labels: labels.FromMap(lbls),
				For: time.Duration(r.For), KeepFiringFor: time.Duration(r.KeepFiringFor)}
			g.Rules = append(g.Rules, rule)
			if r.Record != "" {
				if _, ok := recordedAt[r.Record]; !ok {
					recordedAt[r.Record] = pos
				}
			}
			all = append(all, pending{rule, pos, loc})
			pos++
		}
		rs.Groups = append(rs.Groups, g)
	}
	byName := map[string][]*Rule{}
	for _, p := range all {
		if p.r.Record != "" {
			byName[p.r.Record] = append(byName[p.r.Record], p.r)
		}
	}
	rs.need = map[string]time.Duration{}
	for _, p := range all {
		var err error
		parser.Inspect(p.r.Expr, func(n parser.Node, path []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			if vs.Name == "ALERTS" || vs.Name == "ALERTS_FOR_STATE" {
				err = fmt.Errorf("%s: reads %s, which the backtest does not write; alerts built on other alerts cannot be replayed", p.loc, vs.Name)
				return err
			}
			if vs.Name == "" {
				err = fmt.Errorf("%s: selector %s has no metric name; the backtest needs one to tell raw series from recorded ones", p.loc, vs)
				return err
			}
			back := reach(vs, path)
			rs.maxRange = max(rs.maxRange, back)
			if at, ok := recordedAt[vs.Name]; ok {
				if at >= p.pos {
					err = fmt.Errorf("%s: reads %s, which is recorded only later in evaluation order (group order, then rule order); the replay evaluates each rule over a whole window before the next, so move that recording rule before its readers", p.loc, vs.Name)
					return err
				}
				p.r.reads = append(p.r.reads, vs.Name)
				return nil
			}
			key := plain(vs).String()
			if _, seen := rs.need[key]; !seen {
				rs.raw = append(rs.raw, plain(vs))
			}
			rs.need[key] = max(rs.need[key], back)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	// deps: raw selectors per rule, through recorded series (already resolved in order).
	for _, p := range all {
		p.r.deps = rawDeps(p.r.Expr, byName, map[string]bool{})
	}
	return rs, nil
}

// rawDeps lists the raw selectors e reads, following recorded series to their rules.
func rawDeps(e parser.Expr, byName map[string][]*Rule, visiting map[string]bool) []*parser.VectorSelector {
	var out []*parser.VectorSelector
	seen := map[string]bool{}
	add := func(vs *parser.VectorSelector) {
		if k := plain(vs).String(); !seen[k] {
			seen[k] = true
			out = append(out, plain(vs))
		}
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		rs, recorded := byName[vs.Name]
		if !recorded {
			add(vs)
			return nil
		}
		if visiting[vs.Name] {
			return nil
		}
		visiting[vs.Name] = true
		for _, r := range rs {
			for _, d := range rawDeps(r.Expr, byName, visiting) {
				add(d)
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b *parser.VectorSelector) int { return cmp.Compare(a.String(), b.String()) })
	return out
}

// plain is vs without range, offset or @: the series it selects, read as an instant vector.
func plain(vs *parser.VectorSelector) *parser.VectorSelector {
	return &parser.VectorSelector{Name: vs.Name, LabelMatchers: vs.LabelMatchers}
}

// reach is how far before an evaluation vs reads: its range, offset and enclosing subqueries.
func reach(vs *parser.VectorSelector, path []parser.Node) time.Duration {
	d := vs.OriginalOffset
	for _, n := range path {
		switch n := n.(type) {
		case *parser.MatrixSelector:
			d += n.Range
		case *parser.SubqueryExpr:
			d += n.Range + n.OriginalOffset
		}
	}
	return max(d, 0)
}

// Alerts returns the alerting rules in evaluation order.
func (rs *RuleSet) Alerts() []*Rule {
	var out []*Rule
	for _, g := range rs.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	return out
}
