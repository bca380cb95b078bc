package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gopkg.in/yaml.v3"

	"github.com/andon-sre/andon/andon"
)

const secret = "0123456789abcdef0123456789abcdef"

// endpoint is a real HTTP receiver on loopback that answers with the codes
// given in order (then 200) and keeps the bodies it accepted.
type endpoint struct {
	*httptest.Server
	mu     sync.Mutex
	codes  []int
	got    []*http.Request
	bodies [][]byte
	calls  atomic.Int64
}

func newEndpoint(t *testing.T, codes ...int) *endpoint {
	e := &endpoint{codes: codes}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		defer e.mu.Unlock()
		code := http.StatusOK
		if len(e.codes) > 0 {
			code, e.codes = e.codes[0], e.codes[1:]
		}
		if code == http.StatusOK {
			e.got = append(e.got, r)
			e.bodies = append(e.bodies, b)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) delivered() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.bodies)
}

func testConfig(t *testing.T, urls ...string) Config {
	t.Helper()
	c := Config{RetryBackoff: 10 * time.Millisecond, MaxAttempts: 3, QueueSize: 4}
	for _, u := range urls {
		c.Endpoints = append(c.Endpoints, Endpoint{URL: u, Secret: secret})
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func event(id string) andon.Event {
	a := andon.Andon{ID: id, Type: andon.TestFailure, SKU: "build-7", Stage: "testing", Status: andon.StatusOpen, OpenedAt: time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)}
	return andon.Event{Type: andon.ReceiptTriggered, Andon: a, Receipt: andon.Receipt{ID: "RCP-1", AndonID: id, Hash: "h-" + id, Timestamp: "2026-07-01T12:00:00.000Z"}, Recurrence: true}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // a guard against hanging, not a speed check
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSignedCloudEventAfterRetries(t *testing.T) {
	ep := newEndpoint(t, 503, 429)
	reg := prometheus.NewRegistry()
	n := New(testConfig(t, ep.URL), reg, nil)
	defer n.Close(context.Background())
	n.AndonEvent(event("AND-1"))
	waitFor(t, "delivery", func() bool { return ep.delivered() == 1 })

	r, body := ep.got[0], ep.bodies[0]
	if ct := r.Header.Get("Content-Type"); ct != ContentType {
		t.Errorf("Content-Type %q", ct)
	}
	if !Verify(secret, body, r.Header.Get(SignatureHeader)) {
		t.Errorf("signature %q does not verify", r.Header.Get(SignatureHeader))
	}
	if Verify("another secret of some length", body, r.Header.Get(SignatureHeader)) {
		t.Error("signature verifies under another secret")
	}
	var ce CloudEvent
	if err := json.Unmarshal(body, &ce); err != nil {
		t.Fatal(err)
	}
	if ce.SpecVersion != "1.0" || ce.ID != "h-AND-1" || ce.Type != "com.github.andon-sre.andon.triggered" || ce.Source != "urn:andon:ledger" ||
		ce.Subject != "build-7" || ce.AndonID != "AND-1" || !ce.Recurrence || ce.Data.Andon.Stage != "testing" {
		t.Errorf("cloud event %+v", ce)
	}
	s := n.senders[0]
	if got := testutil.ToFloat64(s.retries); got != 2 {
		t.Errorf("retries %v, want 2 (503 then 429)", got)
	}
	if got := testutil.ToFloat64(s.delivered); got != 1 {
		t.Errorf("delivered %v", got)
	}
}

func TestDeadLetters(t *testing.T) {
	for _, tc := range []struct {
		name   string
		codes  []int
		reason string
		calls  int64
	}{
		{"a 400 is a rejection, not retried", []int{400}, ReasonRejected, 1},
		{"503 on every attempt exhausts them", []int{503, 503, 503}, ReasonExhausted, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := newEndpoint(t, tc.codes...)
			n := New(testConfig(t, ep.URL), prometheus.NewRegistry(), nil)
			n.AndonEvent(event("AND-1"))
			s := n.senders[0]
			waitFor(t, "dead letter", func() bool { return testutil.ToFloat64(s.dead[tc.reason]) == 1 })
			n.Close(context.Background())
			if ep.calls.Load() != tc.calls || ep.delivered() != 0 {
				t.Errorf("%d calls, %d delivered; want %d calls, none delivered", ep.calls.Load(), ep.delivered(), tc.calls)
			}
		})
	}
}

// An endpoint that hangs must not hold up the ledger: AndonEvent returns at
// once, the queue stays bounded, and the overflow is counted.
func TestNeverBlocksAndBoundsTheQueue(t *testing.T) {
	release := make(chan struct{})
	var entered atomic.Int64
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Add(1)
		<-release
	}))
	defer hang.Close()
	defer close(release)
	cfg := testConfig(t, hang.URL)
	cfg.Timeout = time.Hour
	reg := prometheus.NewRegistry()
	n := New(cfg, reg, nil)
	s := n.senders[0]
	n.AndonEvent(event("AND-0"))
	waitFor(t, "the first event in flight", func() bool { return entered.Load() == 1 })
	returned := make(chan struct{})
	go func() {
		for i := range 100 {
			n.AndonEvent(event("AND-" + string(rune('a'+i%26))))
		}
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(30 * time.Second):
		t.Fatal("AndonEvent blocked on a hanging endpoint")
	}
	if q, dead := len(s.queue), testutil.ToFloat64(s.dead[ReasonQueueFull]); q != cfg.QueueSize || dead != float64(100-cfg.QueueSize) {
		t.Errorf("queue %d, queue_full dead letters %v; want %d and %d", q, dead, cfg.QueueSize, 100-cfg.QueueSize)
	}
	if n, err := testutil.GatherAndCount(reg, "andon_notifications_queue_length"); err != nil || n != 1 {
		t.Errorf("queue length gauge: %d series, %v", n, err)
	}
	// Close gives up at its deadline: the one in flight and the queued ones are dead letters.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	n.Close(ctx)
	if got := testutil.ToFloat64(s.dead[ReasonShutdown]); got != float64(cfg.QueueSize+1) {
		t.Errorf("shutdown dead letters %v, want %d", got, cfg.QueueSize+1)
	}
	n.AndonEvent(event("AND-late"))
	if got := testutil.ToFloat64(s.dead[ReasonShutdown]); got != float64(cfg.QueueSize+2) {
		t.Errorf("an event after Close: shutdown dead letters %v", got)
	}
}

func TestConfigRefusesWhatCannotWork(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"a relative URL", "endpoints: [{url: /hook, secret: " + secret + "}]", "absolute http"},
		{"a short secret", "endpoints: [{url: 'http://127.0.0.1:1/x', secret: short}]", "at least 16"},
		{"an unknown event", "endpoints: [{url: 'http://127.0.0.1:1/x', secret: " + secret + ", events: [andon_exploded]}]", `event "andon_exploded"`},
		{"two endpoints of one name", "endpoints: [{url: 'http://127.0.0.1:1/x', secret: " + secret + "}, {url: 'http://127.0.0.1:1/y', secret: " + secret + "}]", "used twice"},
		{"a zero queue", "queue_size: -1", "queue_size"},
		{"a missing secret file", "endpoints: [{url: 'http://127.0.0.1:1/x', secret_file: /nonexistent}]", "secret_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseYAML(tc.yaml)
			if err == nil {
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func parseYAML(s string) (*Config, error) {
	var c Config
	return &c, yaml.Unmarshal([]byte(s), &c)
}
