package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// What the ledger pays per andon event with one endpoint: encoding the
// CloudEvent and a non-blocking queue hand-over (the endpoint answers 200).
func BenchmarkAndonEvent(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	c := Config{QueueSize: 1_000_000, Endpoints: []Endpoint{{URL: srv.URL, Secret: secret}}}
	if err := c.Validate(); err != nil {
		b.Fatal(err)
	}
	n := New(c, prometheus.NewRegistry(), nil)
	ev := event("AND-1")
	b.ReportAllocs()
	for b.Loop() {
		n.AndonEvent(ev)
	}
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second) // what is still queued then is dropped
	defer cancel()
	n.Close(ctx)
}
