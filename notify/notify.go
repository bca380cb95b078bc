// Package notify posts andon events (triggered, resolved) to HTTP endpoints
// as CloudEvents 1.0 in structured JSON mode, signed with HMAC-SHA256. Each
// endpoint has a bounded queue and one sender with retries; an event that
// cannot be delivered (queue full, rejected, attempts exhausted, shutdown)
// is counted as a dead letter. It never blocks the ledger.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/andon-sre/andon/andon"
)

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body
// under the endpoint's secret.
const SignatureHeader = "X-Andon-Signature"

// ContentType of a structured-mode CloudEvent.
const ContentType = "application/cloudevents+json; charset=utf-8"

// TypePrefix + "triggered" or "resolved" is the CloudEvents type.
const TypePrefix = "com.github.andon-sre.andon."

// Dead-letter reasons.
const (
	ReasonQueueFull = "queue_full"
	ReasonRejected  = "rejected"
	ReasonExhausted = "attempts_exhausted"
	ReasonShutdown  = "shutdown"
)

// CloudEvent is what an endpoint receives. The id is the receipt's hash:
// the same on every retry, so a receiver can drop duplicates.
type CloudEvent struct {
	SpecVersion     string `json:"specversion"`
	ID              string `json:"id"`
	Source          string `json:"source"`
	Type            string `json:"type"`
	Subject         string `json:"subject"`
	Time            string `json:"time"`
	DataContentType string `json:"datacontenttype"`
	// Extensions, for routing without parsing data.
	AndonID     string `json:"andonid"`
	FailureType string `json:"failuretype"`
	Stage       string `json:"stage"`
	Recurrence  bool   `json:"recurrence"`
	Data        Data   `json:"data"`
}

// Data is the event's payload: the andon as it is now and the receipt of the change.
type Data struct {
	Andon      andon.Andon   `json:"andon"`
	Receipt    andon.Receipt `json:"receipt"`
	Recurrence bool          `json:"recurrence"`
}

// Encode renders ev as a CloudEvent body.
func Encode(source string, ev andon.Event) ([]byte, error) {
	ce := CloudEvent{
		SpecVersion: "1.0", ID: ev.Receipt.Hash, Source: source,
		Type:    TypePrefix + strings.TrimPrefix(string(ev.Type), "andon_"),
		Subject: ev.Andon.SKU, Time: ev.Receipt.Timestamp, DataContentType: "application/json",
		AndonID: ev.Andon.ID, FailureType: string(ev.Andon.Type), Stage: ev.Andon.Stage, Recurrence: ev.Recurrence,
		Data: Data{Andon: ev.Andon, Receipt: ev.Receipt, Recurrence: ev.Recurrence},
	}
	return json.Marshal(ce)
}

// Sign returns the signature header value of body.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header value in constant time (for receivers).
func Verify(secret string, body []byte, header string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(header))
}

// Notifier sends andon events to the configured endpoints.
type Notifier struct {
	cfg     Config
	log     *slog.Logger
	client  *http.Client
	senders []*sender

	mu     sync.RWMutex // closed and the queues' closing
	closed bool
	abort  chan struct{} // closed when Close's deadline passes: stop retrying
	wg     sync.WaitGroup
}

type sender struct {
	ep        Endpoint
	queue     chan job
	delivered prometheus.Counter
	retries   prometheus.Counter
	dead      map[string]prometheus.Counter
}

type job struct {
	body []byte
	ev   andon.Event
}

// New starts one sender per endpoint and registers the metrics on reg.
// cfg must have passed Validate.
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) *Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{cfg: cfg, log: log, client: &http.Client{Timeout: cfg.Timeout}, abort: make(chan struct{})}
	delivered := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "andon_notifications_delivered_total", Help: "Andon events delivered (2xx), by endpoint."}, []string{"endpoint"})
	retries := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "andon_notifications_retries_total", Help: "Failed delivery attempts that were retried, by endpoint."}, []string{"endpoint"})
	dead := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "andon_notifications_dead_letters_total", Help: "Andon events not delivered, by endpoint and reason (queue_full, rejected, attempts_exhausted, shutdown)."}, []string{"endpoint", "reason"})
	for _, ep := range cfg.Endpoints {
		s := &sender{ep: ep, queue: make(chan job, cfg.QueueSize), delivered: delivered.WithLabelValues(ep.Name), retries: retries.WithLabelValues(ep.Name), dead: map[string]prometheus.Counter{}}
		for _, r := range []string{ReasonQueueFull, ReasonRejected, ReasonExhausted, ReasonShutdown} {
			s.dead[r] = dead.WithLabelValues(ep.Name, r)
		}
		n.senders = append(n.senders, s)
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "andon_notifications_queue_length", Help: "Andon events waiting to be sent, by endpoint.", ConstLabels: prometheus.Labels{"endpoint": ep.Name},
		}, func() float64 { return float64(len(s.queue)) }))
		n.wg.Add(1)
		go n.run(s)
	}
	reg.MustRegister(delivered, retries, dead)
	return n
}

// AndonEvent queues ev for every endpoint that wants it, without waiting:
// a full queue counts a dead letter (andon.EventSink).
func (n *Notifier) AndonEvent(ev andon.Event) {
	body, err := Encode(n.cfg.Source, ev)
	if err != nil {
		n.log.Error("andon event not encoded", "andon", ev.Andon.ID, "err", err)
		return
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	for _, s := range n.senders {
		if !slices.Contains(s.ep.Events, ev.Type) {
			continue
		}
		if n.closed {
			s.dead[ReasonShutdown].Inc()
			continue
		}
		select {
		case s.queue <- job{body: body, ev: ev}:
		default:
			s.dead[ReasonQueueFull].Inc()
			n.log.Warn("notification queue full: event dropped", "endpoint", s.ep.Name, "andon", ev.Andon.ID, "event", ev.Type)
		}
	}
}

// Close stops taking events and sends what is queued until ctx ends; what
// is left then is counted as dead letters (shutdown).
func (n *Notifier) Close(ctx context.Context) {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		for _, s := range n.senders {
			close(s.queue)
		}
	}
	n.mu.Unlock()
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		close(n.abort)
		<-done
	}
}

func (n *Notifier) run(s *sender) {
	defer n.wg.Done()
	for j := range s.queue {
		select {
		case <-n.abort:
			s.dead[ReasonShutdown].Inc()
			continue
		default:
		}
		n.deliver(s, j)
	}
}

// deliver tries up to MaxAttempts times: 2xx is delivered; 408, 429, 5xx
// and transport errors are retried after a doubling backoff; any other
// answer is a rejection, not retried.
func (n *Notifier) deliver(s *sender, j job) {
	wait := n.cfg.RetryBackoff
	for attempt := 1; ; attempt++ {
		code, err := n.post(s, j.body)
		switch {
		case err == nil && code/100 == 2:
			s.delivered.Inc()
			return
		case err == nil && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests && code < 500:
			s.dead[ReasonRejected].Inc()
			n.log.Error("notification rejected", "endpoint", s.ep.Name, "andon", j.ev.Andon.ID, "status", code)
			return
		case attempt >= n.cfg.MaxAttempts:
			s.dead[ReasonExhausted].Inc()
			n.log.Error("notification not delivered", "endpoint", s.ep.Name, "andon", j.ev.Andon.ID, "attempts", attempt, "status", code, "err", err)
			return
		}
		s.retries.Inc()
		select {
		case <-time.After(wait):
		case <-n.abort:
			s.dead[ReasonShutdown].Inc()
			return
		}
		wait = min(2*wait, time.Minute)
	}
}

func (n *Notifier) post(s *sender, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
	defer cancel()
	go func() {
		select {
		case <-n.abort:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.ep.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set(SignatureHeader, Sign(s.ep.Secret, body))
	resp, err := n.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("POST %s: %w", s.ep.URL, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}
