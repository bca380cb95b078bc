package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
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

	mu           sync.Mutex
	notifiedBase float64 // firing alerts the webhook had recorded when the red alert went pending
	events       []Event
	seen         map[string]bool
	last         Snapshot
}

// NewWatcher watches the red latency alert of the demo spec; events are printed to out as they happen.
func NewWatcher(s *Stack, out io.Writer, start time.Time) *Watcher {
	return &Watcher{s: s, out: out, start: start, seen: map[string]bool{}}
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
	if !w.seen[EvOnset] {
		return
	}
	red := w.s.red
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

// Snapshot reads every component once; the first failure is kept in Err.
func (s *Stack) Snapshot(ctx context.Context) Snapshot {
	sn := Snapshot{At: time.Now()}
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	v, err := s.query(ctx, s.red.series)
	keep(err)
	sn.P95 = v
	states, err := s.queryVector(ctx, fmt.Sprintf("ALERTS{alertname=%q}", s.red.alert))
	keep(err)
	for _, smp := range states {
		if st := string(smp.Metric["alertstate"]); sn.AlertState != "firing" {
			sn.AlertState = st
		}
	}
	if s.wh != nil { // the receiver may be stopped on purpose
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

func (s *Stack) queryVector(ctx context.Context, q string) (model.Vector, error) {
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Result model.Vector `json:"result"`
		} `json:"data"`
		Error string `json:"error"`
	}
	if err := getJSON(ctx, s.Prom+"/api/v1/query?query="+url.QueryEscape(q), "", &body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("prometheus query %q: %s", q, body.Error)
	}
	return body.Data.Result, nil
}

// query returns the single value of q, or NaN when it has none.
func (s *Stack) query(ctx context.Context, q string) (float64, error) {
	v, err := s.queryVector(ctx, q)
	if err != nil || len(v) == 0 {
		return nan, err
	}
	return float64(v[0].Value), nil
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
