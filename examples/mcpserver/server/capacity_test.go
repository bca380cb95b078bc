package server

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestCancelledWaitsGiveTheirSlotsBack: messages that give up while queued must not keep
// their places on the timeline, or the messages after them wait for nobody.
func TestCancelledWaitsGiveTheirSlotsBack(t *testing.T) {
	m := newCapacityModel(Capacity{RatePerSecond: 1, QueueCapacity: 100}, prometheus.NewGauge(prometheus.GaugeOpts{Name: "q"}))
	if err := m.admit(context.Background()); err != nil { // takes the free slot now
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	const queued = 5
	done := make(chan error, queued)
	for range queued {
		go func() { done <- m.admit(ctx) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for m.state().QueueDepth < queued {
		if time.Now().After(deadline) {
			t.Fatalf("queue depth %d, want %d", m.state().QueueDepth, queued)
		}
		time.Sleep(time.Millisecond)
	}
	m.mu.Lock()
	before := m.next
	m.mu.Unlock()
	cancel()
	for range queued {
		if err := <-done; err == nil {
			t.Fatal("a cancelled wait was admitted")
		}
	}
	m.mu.Lock()
	after, depth := m.next, m.waiting
	m.mu.Unlock()
	// Slots are 1 s apart: the five given up are the last five seconds of the timeline.
	if want := before.Add(-queued * time.Second); !after.Equal(want) {
		t.Errorf("next free slot %v after the cancellations, want %v (%v before)", after.Sub(before), -queued*time.Second, before)
	}
	if depth != 0 {
		t.Errorf("queue depth %d after every wait ended, want 0", depth)
	}
}
