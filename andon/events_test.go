package andon

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// events records what the ledger announces.
type events struct {
	mu  sync.Mutex
	got []Event
}

func (e *events) AndonEvent(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
}

func TestEventsRecurrenceAndOpenSince(t *testing.T) {
	l, _ := openTest(t)
	reg := prometheus.NewRegistry()
	l.Metrics = NewMetrics(reg, l.Store)
	sink := &events{}
	l.Events = sink
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	l.Now = func() time.Time { return now }
	ctx := context.Background()

	first, err := l.Trigger(ctx, Trigger{Type: TestFailure, SKU: "build", Stage: "testing"})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if _, err := l.Resolve(ctx, first.Andon.ID, fix); err != nil {
		t.Fatal(err)
	}
	now = now.Add(24 * time.Hour)
	if _, err := l.Trigger(ctx, Trigger{Type: TestFailure, SKU: "build", Stage: "testing"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Trigger(ctx, Trigger{Type: CompilationFailure, SKU: "build", Stage: "compilation"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(RecurrenceWindow + time.Hour)
	if _, err := l.Trigger(ctx, Trigger{Type: CompilationFailure, SKU: "build", Stage: "compilation"}); err != nil {
		t.Fatal(err)
	}

	var kinds []string
	for _, ev := range sink.got {
		k := string(ev.Type) + ":" + string(ev.Andon.Type)
		if ev.Recurrence {
			k += ":recurrence"
		}
		if ev.Receipt.AndonID != ev.Andon.ID {
			t.Errorf("event of %s carries receipt of %s", ev.Andon.ID, ev.Receipt.AndonID)
		}
		kinds = append(kinds, k)
	}
	want := "andon_triggered:test_failure andon_resolved:test_failure andon_triggered:test_failure:recurrence andon_triggered:compilation_failure andon_triggered:compilation_failure"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("events\n got %s\nwant %s (the last compilation failure is past the 30-day window)", got, want)
	}
	if got := testutil.ToFloat64(l.Metrics.recurrences.WithLabelValues("build", "test_failure")); got != 1 {
		t.Errorf("andon_recurrences_total{build,test_failure} = %v, want 1", got)
	}
	// The oldest open andon of the sku is the first compilation failure.
	oldest := time.Date(2026, 7, 2, 13, 0, 0, 0, time.UTC)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "andon_open_since_timestamp_seconds" {
			if len(mf.Metric) != 1 || mf.Metric[0].GetGauge().GetValue() != float64(oldest.Unix()) {
				t.Errorf("andon_open_since_timestamp_seconds: %v, want one series at %d", mf.Metric, oldest.Unix())
			}
			return
		}
	}
	t.Error("no andon_open_since_timestamp_seconds")
}
