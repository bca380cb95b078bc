package actuator

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/andon-sre/andon/limits"
)

// Alert is what the actuator needs of one received alert.
type Alert struct {
	Key         string
	Name        string
	Status      string // firing | resolved
	Fingerprint string
	StartsAt    time.Time
	Labels      map[string]string
	Annotations map[string]string
	AndonID     string
}

// Result of a decision (the `result` label of andon_actions_total).
type Result string

// Decision results.
const (
	Applied Result = "applied"
	DryRun  Result = "dry_run"
	Skipped Result = "skipped"
	Failed  Result = "failed"
)

// Decision is one thing the actuator did or chose not to do, and why.
type Decision struct {
	Time     time.Time
	AlertKey string
	Alert    string
	AndonID  string
	Kind     Kind
	Service  string
	Target   string
	Result   Result
	Reason   string
	Detail   string
}

// Recorder stores decisions (the webhook records them in the ledger's store).
type Recorder interface {
	Record(ctx context.Context, ds []Decision) error
}

type target struct {
	kind              Kind
	service, instance string
}

func (t target) String() string {
	if t.instance == "" {
		return t.service
	}
	return t.service + "/" + t.instance
}

type activeAction struct {
	req       Request
	appliedAt time.Time
	expires   time.Time
	dryRun    bool
	sources   map[string]bool // fingerprints of the firing alerts that want it
	revert    *pendingRevert  // set while a revert waits out the hold-down
}

type pendingRevert struct {
	timer *time.Timer
	at    time.Time
	hold  time.Duration
	alert Alert // the resolved alert, for the decision record
}

// Engine decides and executes actions. Its state (active actions, last
// changes, pending reverts) lives in memory and, when the Recorder is also a
// StateStore, in the store after every change (see state.go), so a restarted
// receiver still reverts what it applied before. Every setting on the
// services also expires by its TTL unless a re-send renews it.
type Engine struct {
	mu         sync.Mutex
	pol        *Policy
	execs      map[string]Executor
	active     map[target]*activeAction
	lastChange map[target]time.Time
	sem        chan struct{}

	rec     Recorder
	store   StateStore // rec, when it keeps state too
	saveMu  sync.Mutex // serializes saves
	saved   []byte     // the state last saved
	log     *slog.Logger
	client  *http.Client
	Now     func() time.Time
	actions *prometheus.CounterVec
	invalid prometheus.Counter
	activeD *prometheus.Desc
	wg      sync.WaitGroup
	closed  bool
}

// NewEngine returns an engine for pol; metrics go to reg (may be nil).
func NewEngine(pol *Policy, rec Recorder, reg prometheus.Registerer, log *slog.Logger) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		active: map[target]*activeAction{}, lastChange: map[target]time.Time{},
		rec: rec, log: log, client: &http.Client{}, Now: time.Now,
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "andon_actions_total", Help: "Actuator decisions, by action kind and result."}, []string{"kind", "result"}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{Name: "andon_actions_refused_invalid_annotation_total", Help: "Actions refused because an alert's action annotation (shed_fraction, shed_tiers) was invalid."}),
		activeD: prometheus.NewDesc("andon_active_actions", "Actions currently in force (applied, not expired, not reverted).", []string{"kind"}, nil),
	}
	for _, k := range executableKinds {
		for _, r := range []Result{Applied, DryRun, Skipped, Failed} {
			e.actions.WithLabelValues(string(k), string(r))
		}
	}
	if reg != nil {
		reg.MustRegister(e.actions, e.invalid, e)
	}
	e.store, _ = rec.(StateStore)
	e.SetPolicy(pol)
	return e
}

// SetPolicy swaps the policy (config reload); active actions are kept.
func (e *Engine) SetPolicy(p *Policy) {
	execs := map[string]Executor{}
	for name, s := range p.Services {
		execs[name] = executorFor(s, e.client)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pol, e.execs = p, execs
	if cap(e.sem) != p.MaxConcurrent {
		e.sem = make(chan struct{}, p.MaxConcurrent)
	}
}

// Describe implements prometheus.Collector.
func (e *Engine) Describe(ch chan<- *prometheus.Desc) { ch <- e.activeD }

// Collect implements prometheus.Collector.
func (e *Engine) Collect(ch chan<- prometheus.Metric) {
	counts := map[Kind]int{}
	e.mu.Lock()
	now := e.Now()
	for t, a := range e.active {
		if !a.dryRun && now.Before(a.expires) {
			counts[t.kind]++
		}
	}
	e.mu.Unlock()
	for _, k := range executableKinds {
		ch <- prometheus.MustNewConstMetric(e.activeD, prometheus.GaugeValue, float64(counts[k]), string(k))
	}
}

// step is one planned execution.
type step struct {
	t    target
	req  Request
	d    Decision
	inst Instance
	exec Executor
}

// Handle decides on every alert, executes what is due, records every
// decision and returns them. It blocks until the executions finish.
// After Close it does nothing and returns nil.
func (e *Engine) Handle(ctx context.Context, alerts []Alert) []Decision {
	var decided []Decision
	var steps []step
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	// Under the lock that Close takes to set closed: an Add can never race
	// with Close's Wait on a zero counter.
	e.wg.Add(1)
	defer e.wg.Done()
	for _, a := range alerts {
		if a.Status == "resolved" {
			e.resolvedLocked(a)
			continue
		}
		d, s := e.planLocked(a)
		decided = append(decided, d...)
		steps = append(steps, s...)
	}
	sem, retry := e.sem, e.pol.Retry
	e.mu.Unlock()
	if len(steps) > 0 {
		// Fail closed: act only on a decision the store has committed.
		if err := e.saveState(ctx); err != nil {
			decided = append(decided, e.refuse(steps, err)...)
			steps = nil
		}
	}
	decided = append(decided, e.run(ctx, sem, retry, steps)...)
	e.record(ctx, decided)
	e.saveState(ctx)
	return decided
}

// refuse fails steps whose decision could not be committed, and forgets
// them, so the next re-send tries again.
func (e *Engine) refuse(steps []step, err error) []Decision {
	out := make([]Decision, len(steps))
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, s := range steps {
		out[i] = s.d
		out[i].Time, out[i].Result = e.Now(), Failed
		out[i].Detail = strings.TrimSpace(s.d.Detail + " not acted: the decision could not be committed to the store: " + err.Error())
		if a := e.active[s.t]; a != nil && a.req.On == s.req.On {
			delete(e.active, s.t)
			delete(e.lastChange, s.t)
		}
	}
	return out
}

func (e *Engine) run(ctx context.Context, sem chan struct{}, retry Retry, steps []step) []Decision {
	out := make([]Decision, len(steps))
	var wg sync.WaitGroup
	for i, s := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			n, err := withRetry(ctx, retry, func(ctx context.Context) error { return s.exec.Execute(ctx, s.req, s.inst) })
			d := s.d
			d.Time = e.Now()
			if err != nil {
				d.Result, d.Detail = Failed, fmt.Sprintf("after %d attempt(s): %v", n, err)
				e.mu.Lock()
				if a := e.active[s.t]; a != nil && a.req.On == s.req.On && s.req.On {
					delete(e.active, s.t) // let the next re-send try again, without cooldown
					delete(e.lastChange, s.t)
				}
				e.mu.Unlock()
			} else {
				d.Result = Applied
				if n > 1 {
					d.Detail = strings.TrimSpace(d.Detail + fmt.Sprintf(" (after %d attempts)", n))
				}
			}
			out[i] = d
		}()
	}
	wg.Wait()
	return out
}

func (e *Engine) record(ctx context.Context, ds []Decision) {
	if len(ds) == 0 {
		return
	}
	for _, d := range ds {
		e.actions.WithLabelValues(string(d.Kind), string(d.Result)).Inc()
		e.log.Info("action decision", "kind", d.Kind, "service", d.Service, "target", d.Target, "result", d.Result, "reason", d.Reason, "detail", d.Detail, "alert", d.Alert)
	}
	if e.rec != nil {
		if err := e.rec.Record(context.WithoutCancel(ctx), ds); err != nil {
			e.log.Error("action decisions not recorded", "count", len(ds), "err", err)
		}
	}
}

func (e *Engine) ruleFor(labels map[string]string) (int, *Rule) {
	for i := range e.pol.Rules {
		if e.pol.Rules[i].matches(labels) {
			return i, &e.pol.Rules[i]
		}
	}
	return -1, nil
}

// planLocked applies the safety checks to a firing alert.
func (e *Engine) planLocked(a Alert) ([]Decision, []step) {
	now := e.Now()
	p := e.pol
	ri, rule := e.ruleFor(a.Labels)
	safety := p.Defaults
	kinds := ParseActions(a.Labels[limits.LabelAction])
	if rule != nil {
		if rule.Safety != nil {
			safety = *rule.Safety
		}
		if rule.Actions != nil {
			kinds = *rule.Actions
		}
	}
	firing, clamped := firingFor(a, now)
	if clamped != "" {
		e.log.Warn("alert time clamped", "alert", a.Name, "fingerprint", a.Fingerprint, "why", clamped)
	}
	escalated := escalate(kinds, p.Escalation, firing)
	svcName := a.Labels[limits.LabelService]
	svc := p.Services[svcName]
	var out []Decision
	var steps []step
	for _, k := range escalated {
		if !executable(k) {
			continue
		}
		base := Decision{Time: now, AlertKey: a.Key, Alert: a.Name, AndonID: a.AndonID, Kind: k, Service: svcName, Result: Skipped, Detail: clamped}
		if !slices.Contains(kinds, k) {
			base.Detail = strings.TrimSpace(base.Detail + fmt.Sprintf(" escalated: firing for %s", firing.Round(time.Second)))
		}
		skip := func(t string, reason string, args ...any) {
			d := base
			d.Target, d.Reason = t, fmt.Sprintf(reason, args...)
			out = append(out, d)
		}
		if svc == nil {
			skip(svcName, "service %q has no entry under services in the actuator policy", svcName)
			continue
		}
		if p.killed() {
			skip(svcName, "kill switch is on")
			continue
		}
		insts, reason := e.targetsLocked(k, svcName, svc, a.Labels["instance"], safety, now)
		if reason != "" {
			skip(svcName, "%s", reason)
			continue
		}
		req := Request{Kind: k, On: true, Service: svcName, TTL: time.Duration(safety.TTL), Reason: a.Name, AndonID: a.AndonID}
		if k == Shed {
			var err error
			if req.ShedFraction, req.ShedTiers, err = ParseShedAnnotations(a.Annotations); err != nil {
				e.invalid.Inc()
				skip(svcName, "refused: %v", err)
				continue
			}
			if req.ShedFraction > safety.MaxShedFraction {
				base.Detail = strings.TrimSpace(base.Detail + fmt.Sprintf(" shed_fraction %v capped to max_shed_fraction %v", req.ShedFraction, safety.MaxShedFraction))
				req.ShedFraction = safety.MaxShedFraction
			}
		}
		for _, inst := range insts {
			t := target{k, svcName, inst.Name}
			d := base
			d.Target = t.String()
			if r := e.gateLocked(t, req, a.Fingerprint, time.Duration(safety.Cooldown), now); r != "" {
				d.Reason = r
				out = append(out, d)
				continue
			}
			dry := p.DryRun || (rule != nil && rule.DryRun)
			act := &activeAction{req: req, appliedAt: now, expires: now.Add(req.TTL), dryRun: dry, sources: map[string]bool{a.Fingerprint: true}}
			if old := e.active[t]; old != nil {
				for f := range old.sources {
					act.sources[f] = true
				}
				d.Reason = "renewed"
			} else {
				d.Reason = "new"
			}
			e.active[t] = act
			e.lastChange[t] = now
			d.Reason = fmt.Sprintf("%s %s for %s (ttl %s)", d.Reason, k, a.Name, req.TTL)
			if dry {
				d.Result = DryRun
				if p.DryRun {
					d.Detail = strings.TrimSpace(d.Detail + " dry_run: global")
				} else {
					d.Detail = strings.TrimSpace(d.Detail + fmt.Sprintf(" dry_run: rules[%d]", ri))
				}
				out = append(out, d)
				continue
			}
			steps = append(steps, step{t: t, req: req, d: d, inst: inst, exec: e.execs[svcName]})
		}
	}
	return out, steps
}

// targetsLocked picks the instances an action reaches, or says why none.
func (e *Engine) targetsLocked(k Kind, svcName string, svc *Service, instance string, s Safety, now time.Time) ([]Instance, string) {
	if instance != "" {
		for _, in := range svc.Instances {
			if in.Name == instance {
				return e.drainCheckLocked(k, svcName, svc, in, s, now)
			}
		}
		if len(svc.Instances) > 0 {
			return nil, fmt.Sprintf("instance %q is not listed under the service's instances in the policy", instance)
		}
	}
	if k == Drain {
		if instance == "" {
			return nil, "drain needs an `instance` label: refusing to drain every instance of the service"
		}
		return nil, fmt.Sprintf("drain of %q refused: list the service's instances in the policy so min_healthy_instances can be checked", instance)
	}
	if len(svc.Instances) == 0 {
		return []Instance{{Name: instance}}, ""
	}
	return svc.Instances, ""
}

func (e *Engine) drainCheckLocked(k Kind, svcName string, svc *Service, in Instance, s Safety, now time.Time) ([]Instance, string) {
	if k != Drain {
		return []Instance{in}, ""
	}
	draining := 0
	for _, other := range svc.Instances {
		if a := e.active[target{Drain, svcName, other.Name}]; a != nil && now.Before(a.expires) && other.Name != in.Name {
			draining++
		}
	}
	healthy := len(svc.Instances) - draining - 1
	if healthy < s.MinHealthyInstances {
		return nil, fmt.Sprintf("draining %q would leave %d healthy instance(s) of %d; min_healthy_instances is %d", in.Name, healthy, len(svc.Instances), s.MinHealthyInstances)
	}
	return []Instance{in}, ""
}

// gateLocked says why an action on t must not run now ("" = go).
func (e *Engine) gateLocked(t target, req Request, fingerprint string, cooldown time.Duration, now time.Time) string {
	a := e.active[t]
	if a != nil && !now.Before(a.expires) {
		delete(e.active, t)
		a = nil
	}
	if a != nil {
		a.sources[fingerprint] = true
		if a.revert != nil { // firing again within the hold-down: keep it
			if a.revert.timer.Stop() {
				e.wg.Done()
			} // else the revert is waiting for the lock and will see it is no longer pending
			a.revert = nil
		}
		since := now.Sub(a.appliedAt)
		if sameSetting(a.req, req) && since < cooldown {
			return fmt.Sprintf("already active since %s (expires %s); renewal is due after the %s cooldown", a.appliedAt.Format(time.RFC3339), a.expires.Format(time.RFC3339), cooldown)
		}
		if since < cooldown {
			return fmt.Sprintf("cooldown: %s changed %s ago, next change allowed after %s", t, since.Round(time.Millisecond), cooldown)
		}
		return ""
	}
	if last, ok := e.lastChange[t]; ok && now.Sub(last) < cooldown {
		return fmt.Sprintf("cooldown: %s was reverted %s ago, next change allowed after %s", t, now.Sub(last).Round(time.Millisecond), cooldown)
	}
	return ""
}

func sameSetting(a, b Request) bool {
	return a.On == b.On && a.ShedFraction == b.ShedFraction && slices.Equal(a.ShedTiers, b.ShedTiers)
}

// resolvedLocked schedules a revert after the hold-down once no firing alert
// wants an action any more. Drain is never reverted.
func (e *Engine) resolvedLocked(al Alert) {
	_, rule := e.ruleFor(al.Labels)
	hold := e.pol.Defaults.HoldDown
	if rule != nil && rule.Safety != nil {
		hold = rule.Safety.HoldDown
	}
	for t, a := range e.active {
		if !a.sources[al.Fingerprint] {
			continue
		}
		delete(a.sources, al.Fingerprint)
		if len(a.sources) > 0 || t.kind == Drain || a.revert != nil {
			continue
		}
		e.scheduleRevertLocked(t, a, &pendingRevert{at: e.Now().Add(time.Duration(hold)), hold: time.Duration(hold), alert: al})
	}
}

// scheduleRevertLocked arms p to revert a when p.at comes (at once if past).
func (e *Engine) scheduleRevertLocked(t target, a *activeAction, p *pendingRevert) {
	e.wg.Add(1)
	a.revert = p
	p.timer = time.AfterFunc(max(0, p.at.Sub(e.Now())), func() {
		defer e.wg.Done()
		e.revert(t, a, p)
	})
}

func (e *Engine) revert(t target, a *activeAction, p *pendingRevert) {
	e.mu.Lock()
	if e.active[t] != a || a.revert != p || len(a.sources) > 0 || e.closed {
		e.mu.Unlock()
		return
	}
	al, hold := p.alert, p.hold
	delete(e.active, t)
	now := e.Now()
	e.lastChange[t] = now
	sem, retry, ex, inst := e.sem, e.pol.Retry, e.execs[t.service], e.instanceLocked(t)
	e.mu.Unlock()
	req := a.req
	req.On = false
	req.Reason = al.Name + " resolved"
	d := Decision{Time: now, AlertKey: al.Key, Alert: al.Name, AndonID: al.AndonID, Kind: t.kind, Service: t.service, Target: t.String(),
		Reason: fmt.Sprintf("revert %s: %s resolved and stayed resolved for the %s hold-down", t.kind, al.Name, hold)}
	ctx := context.Background()
	defer e.saveState(ctx)
	if a.dryRun || ex == nil {
		d.Result = DryRun
		e.record(ctx, []Decision{d})
		return
	}
	if err := e.saveState(ctx); err != nil { // the store keeps the pending revert for whoever acts next
		e.record(ctx, e.refuse([]step{{t: t, req: req, d: d}}, err))
		return
	}
	e.record(ctx, e.run(ctx, sem, retry, []step{{t: t, req: req, d: d, inst: inst, exec: ex}}))
}

func (e *Engine) instanceLocked(t target) Instance {
	if s := e.pol.Services[t.service]; s != nil {
		for _, in := range s.Instances {
			if in.Name == t.instance {
				return in
			}
		}
	}
	return Instance{Name: t.instance}
}

// Close cancels pending reverts and waits for running actions.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	for _, a := range e.active {
		if a.revert != nil && a.revert.timer.Stop() {
			e.wg.Done()
		}
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// escalate adds the ladder steps due after firing for the given time.
func escalate(kinds []Kind, esc Escalation, firing time.Duration) []Kind {
	out := slices.Clone(kinds)
	if esc.After <= 0 || firing < time.Duration(esc.After) {
		return out
	}
	top := -1
	for i, k := range esc.Ladder {
		if slices.Contains(kinds, k) {
			top = i
		}
	}
	if top < 0 {
		return out
	}
	steps := int(firing / time.Duration(esc.After))
	for i := top + 1; i <= top+steps && i < len(esc.Ladder); i++ {
		if !slices.Contains(out, esc.Ladder[i]) {
			out = append(out, esc.Ladder[i])
		}
	}
	return out
}

// Alert times are data, not trust: a startsAt further back than
// maxFiringAge or ahead of now by more than maxClockSkew is taken as now
// for escalation, so no duration overflows and a forged time escalates nothing.
const (
	maxFiringAge = 30 * 24 * time.Hour
	maxClockSkew = 10 * time.Minute
)

// firingFor is how long a has been firing at now, and a warning when its
// startsAt was implausible and clamped.
func firingFor(a Alert, now time.Time) (time.Duration, string) {
	if a.StartsAt.Before(now.Add(-maxFiringAge)) || a.StartsAt.After(now.Add(maxClockSkew)) {
		return 0, fmt.Sprintf("startsAt %s is implausible (more than %s ago or %s ahead): taken as now", a.StartsAt.UTC().Format(time.RFC3339), maxFiringAge, maxClockSkew)
	}
	return max(0, now.Sub(a.StartsAt)), ""
}
