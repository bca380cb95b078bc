package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/andon-sre/andon/actuator/admission"
	"github.com/andon-sre/andon/andon"
)

// The loop's milestones, in the order they should happen.
const (
	EvWarmup    = "warm-up"
	EvSteady    = "steady"
	EvBaseline  = "baseline"
	EvOnset     = "overload onset"
	EvCrossed   = "threshold crossed"
	EvPending   = "alert pending"
	EvFiring    = "alert firing"
	EvNotified  = "notification received"
	EvAndon     = "andon opened"
	EvApplied   = "shedding applied"
	EvRecovered = "latency back under the limit"
	EvReverted  = "shedding reverted"
	EvRecovery  = "load back to baseline"
	// EvAlert is a state change of any other alert of the service (and of the red one before onset).
	EvAlert = "alert"
)

// Event is one milestone, at a time since the watch started.
type Event struct {
	At     time.Time `json:"at"`
	Name   string    `json:"name"`
	Detail string    `json:"detail"`
}

// Snapshot is what the watcher reads from every component on one tick.
type Snapshot struct {
	At         time.Time
	P95        float64 // recorded p95 over the short window, seconds (NaN: no data)
	AlertState string  // "", "pending", "firing" of the red latency alert
	Alerts     []ActiveAlert
	Notified   float64 // firing alerts the webhook recorded
	Applied    float64 // actions the actuator applied
	Admission  admission.State
	ShedByTier map[string]float64 // andon_admission_requests_total{result="shed"} by tier
	Andons     []andon.Andon      // open andons of the service
	Err        error
}

// Watcher polls the stack and records milestones once each (recovery and revert may repeat
// after a new overload; Reset starts a new episode).
type Watcher struct {
	s     *Stack
	out   io.Writer
	start time.Time

	mu             sync.Mutex
	notifiedBase   float64           // firing alerts the webhook had recorded when the red alert went pending
	alerts         map[string]string // state by alert id, for EvAlert
	baselineAlerts map[string]string // "id state" → its first poll's detail
	baselineAt     time.Time         // when the baseline began (zero before)
	events         []Event
	seen           map[string]bool
	last           Snapshot
}

// NewWatcher watches the red latency alert of the demo spec; events are printed to out as they happen.
func NewWatcher(s *Stack, out io.Writer, start time.Time) *Watcher {
	return &Watcher{s: s, out: out, start: start, seen: map[string]bool{}, alerts: map[string]string{}, baselineAlerts: map[string]string{}}
}

// Mark records an event the orchestrator caused (onset, recovery, webhook stop…).
func (w *Watcher) Mark(name, detail string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.add(time.Now(), name, detail)
}

func (w *Watcher) add(at time.Time, name, detail string) {
	w.events = append(w.events, Event{At: at, Name: name, Detail: detail})
	w.seen[name] = true
	if name == EvBaseline {
		w.baselineAt = at
	}
	fmt.Fprintf(w.out, "%7.1fs  %-30s %s\n", at.Sub(w.start).Seconds(), name, detail)
}

// Events returns a copy of what happened so far.
func (w *Watcher) Events() []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Event(nil), w.events...)
}

// First is the first event of that name, if any.
func (w *Watcher) First(name string) (Event, bool) {
	for _, e := range w.Events() {
		if e.Name == name {
			return e, true
		}
	}
	return Event{}, false
}

// Last is the latest snapshot.
func (w *Watcher) Last() Snapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// Run polls every interval until ctx ends.
func (w *Watcher) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.observe(w.s.Snapshot(ctx))
		}
	}
}

func (w *Watcher) observe(sn Snapshot) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if sn.Err != nil { // a failed read is not a state change
		return
	}
	prev := w.last
	w.last = sn
	red := w.s.red
	w.alertChanges(sn)
	if !w.seen[EvOnset] {
		return
	}
	once := func(name string, cond bool, detail string) {
		if cond && !w.seen[name] {
			w.add(sn.At, name, detail)
		}
	}
	once(EvCrossed, sn.P95 > red.threshold, fmt.Sprintf("p95 %s > red %s (%s window)", ms(sn.P95), ms(red.threshold), red.window))
	if !w.seen[EvPending] && (sn.AlertState == "pending" || sn.AlertState == "firing") {
		w.notifiedBase = sn.Notified // other alerts (e.g. yellow at start-up) may have been delivered before
		w.add(sn.At, EvPending, red.alert)
	}
	once(EvFiring, sn.AlertState == "firing", red.alert)
	once(EvNotified, w.seen[EvPending] && sn.Notified > w.notifiedBase, "Alertmanager → andon webhook")
	if len(sn.Andons) > 0 {
		once(EvAndon, true, fmt.Sprintf("%s (%s, sku %s): gate blocked", sn.Andons[0].ID, sn.Andons[0].Type, sn.Andons[0].SKU))
	}
	if sh := sn.Admission.Shed; sh != nil && prev.Admission.Shed == nil {
		w.add(sn.At, EvApplied, fmt.Sprintf("shed %.0f%% of tiers %v until %s unless renewed", sh.Fraction*100, sh.Tiers, sh.ExpiresAt.Format("15:04:05")))
	}
	if w.seen[EvApplied] && !w.seen[EvRecovered] && sn.P95 < red.threshold {
		w.add(sn.At, EvRecovered, fmt.Sprintf("p95 %s < red %s; shed so far by tier: %s", ms(sn.P95), ms(red.threshold), tiers(sn.ShedByTier)))
	}
	if prev.Admission.Shed != nil && sn.Admission.Shed == nil {
		w.add(sn.At, EvReverted, fmt.Sprintf("shed setting gone (expired at %s)", prev.Admission.Shed.ExpiresAt.Format("15:04:05.000")))
	}
}

// alertChanges records every state change of the service's alerts but the red one's after onset
// (that one has its own events), with the value Prometheus last evaluated; and, during the
// baseline, every alert that became active after the baseline began (one that was already
// active belongs to the warm-up, which ends only when none is).
func (w *Watcher) alertChanges(sn Snapshot) {
	now := map[string]string{}
	inBaseline := w.seen[EvBaseline] && !w.seen[EvOnset]
	for _, a := range sn.Alerts {
		id := a.id()
		now[id] = a.State
		detail := fmt.Sprintf("%s %s, value %s (active since %s); p95 %s", id, a.State, a.value(), a.ActiveAt.Format("15:04:05.000"), ms(sn.P95))
		if w.alerts[id] != a.State && (a.Name() != w.s.red.alert || !w.seen[EvOnset]) {
			w.add(sn.At, EvAlert, detail)
		}
		if _, seen := w.baselineAlerts[id+" "+a.State]; inBaseline && !seen && !a.ActiveAt.Before(w.baselineAt) {
			w.baselineAlerts[id+" "+a.State] = detail
		}
	}
	for id := range w.alerts {
		if _, ok := now[id]; !ok && (!strings.HasPrefix(id, w.s.red.alert) || !w.seen[EvOnset]) {
			w.add(sn.At, EvAlert, id+" resolved")
		}
	}
	w.alerts = now
}

// BaselineAlerts are the alerts that became active during the baseline: each state of each alert, as first seen.
func (w *Watcher) BaselineAlerts() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Sorted(maps.Values(w.baselineAlerts))
}

// ActiveAlert is one pending or firing alert as Prometheus' /api/v1/alerts reports it.
type ActiveAlert struct {
	Labels   map[string]string `json:"labels"`
	State    string            `json:"state"`
	ActiveAt time.Time         `json:"activeAt"`
	Value    string            `json:"value"`
}

// value is the expression's value at the last evaluation, short.
func (a ActiveAlert) value() string {
	v, err := strconv.ParseFloat(a.Value, 64)
	if err != nil {
		return a.Value
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// Name is the alert's name.
func (a ActiveAlert) Name() string { return a.Labels["alertname"] }

// id names the alert with the labels that tell apart alerts of one name (e.g. SeriesAbsent's metric).
func (a ActiveAlert) id() string {
	var extra []string
	for k, v := range a.Labels {
		switch k {
		case "alertname", "service", "severity", "level", "action", "signal":
		default:
			extra = append(extra, fmt.Sprintf("%s=%q", k, v))
		}
	}
	if len(extra) == 0 {
		return a.Name()
	}
	slices.Sort(extra)
	return a.Name() + "{" + strings.Join(extra, ",") + "}"
}

// alerts returns the active alerts whose service label is the spec's.
func (s *Stack) alerts(ctx context.Context) ([]ActiveAlert, error) {
	data, err := promData[struct {
		Alerts []ActiveAlert `json:"alerts"`
	}](ctx, s, "/api/v1/alerts")
	if err != nil {
		return nil, err
	}
	var out []ActiveAlert
	for _, a := range data.Alerts {
		if a.Labels["service"] == s.Spec.Service {
			out = append(out, a)
		}
	}
	return out, nil
}

// Snapshot reads every component once; the first failure is kept in Err.
func (s *Stack) Snapshot(ctx context.Context) Snapshot {
	sn := Snapshot{At: time.Now()}
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	v, err := s.query(ctx, s.red.series, time.Time{})
	keep(err)
	sn.P95 = v
	sn.Alerts, err = s.alerts(ctx)
	keep(err)
	for _, a := range sn.Alerts {
		if a.Name() == s.red.alert && sn.AlertState != "firing" {
			sn.AlertState = a.State
		}
	}
	if s.WebhookUp() { // the receiver may be stopped on purpose
		fams, err := scrape(ctx, s.Webhook+"/metrics")
		keep(err)
		sn.Notified = sum(fams, "andon_webhook_alerts_received_total", map[string]string{"status": "firing"})
		sn.Applied = sum(fams, "andon_actions_total", map[string]string{"result": "applied"})
		list, err := s.Ledger().List(ctx, andon.Filter{SKU: s.Spec.Service, Status: andon.StatusOpen})
		keep(err)
		sn.Andons = list
	}
	keep(getJSON(ctx, s.Server+"/admin/admission", s.cfg.Token, &sn.Admission))
	fams, err := scrape(ctx, s.Server+"/metrics")
	keep(err)
	sn.ShedByTier = map[string]float64{}
	for _, t := range []string{"1", "2", "3"} {
		sn.ShedByTier[t] = sum(fams, "andon_admission_requests_total", map[string]string{"tier": t, "result": "shed"})
	}
	if len(errs) > 0 {
		sn.Err = errs[0]
	}
	return sn
}

// query returns the first value of the instant query q at t (zero: now), or NaN when it has none.
func (s *Stack) query(ctx context.Context, q string, t time.Time) (float64, error) {
	v, err := s.queryVector(ctx, q, t)
	if err != nil || len(v) == 0 {
		return nan, err
	}
	return float64(v[0].Value), nil
}

// queryVector is the instant query q at t (zero: now).
func (s *Stack) queryVector(ctx context.Context, q string, t time.Time) (model.Vector, error) {
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Result model.Vector `json:"result"`
		} `json:"data"`
		Error string `json:"error"`
	}
	params := url.Values{"query": {q}}
	if !t.IsZero() {
		params.Set("time", strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64))
	}
	if err := getJSON(ctx, s.Prom+"/api/v1/query?"+params.Encode(), "", &body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("prometheus query %q: %s", q, body.Error)
	}
	return body.Data.Result, nil
}

// promData GETs a Prometheus HTTP API path and returns its "data" member.
func promData[T any](ctx context.Context, s *Stack, path string) (T, error) {
	var body struct {
		Data T `json:"data"`
	}
	err := getJSON(ctx, s.Prom+path, "", &body)
	return body.Data, err
}

func getJSON(ctx context.Context, u, token string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func scrape(ctx context.Context, u string) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// sum adds the counters and gauges of family name whose labels include want.
func sum(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	var total float64
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return total
}

func ms(sec float64) string { return strconv.FormatFloat(sec*1000, 'f', 0, 64) + "ms" }

func tiers(m map[string]float64) string {
	return fmt.Sprintf("tier1 %.0f, tier2 %.0f, tier3 %.0f", m["1"], m["2"], m["3"])
}

// ActiveSince are the alerts that became active at or after t.
func ActiveSince(alerts []ActiveAlert, t time.Time) []ActiveAlert {
	var out []ActiveAlert
	for _, a := range alerts {
		if !a.ActiveAt.Before(t) {
			out = append(out, a)
		}
	}
	return out
}
