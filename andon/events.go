package andon

import (
	"context"
	"time"
)

// Event is one state change of an andon, told to an EventSink after its
// receipt is committed (notifications: CloudEvents, chat, mail).
type Event struct {
	Type    ReceiptType // andon_triggered or andon_resolved
	Andon   Andon
	Receipt Receipt
	// Recurrence: an andon of the same failure type opened for the same sku
	// within RecurrenceWindow before this one (triggered events only).
	Recurrence bool
}

// EventSink receives andon events. AndonEvent must not block: it is called
// on the ingest and trigger paths after the commit.
type EventSink interface {
	AndonEvent(Event)
}

// The ledger's series that alerting rules (rulegen.LedgerRules) select.
const (
	MetricOpen        = "andon_open"
	MetricOpenSince   = "andon_open_since_timestamp_seconds"
	MetricRecurrences = "andon_recurrences_total"
)

// RecurrenceWindow is how far back an andon of the same sku and failure type
// makes a new one a recurrence (andon_recurrences_total, the Kaizen report).
const RecurrenceWindow = 30 * 24 * time.Hour

// IsRecurrence says whether a opened within window after an earlier andon
// of the same sku and type; earlier must hold that sku's andons of that type.
func IsRecurrence(a Andon, earlier []Andon, window time.Duration) bool {
	for _, e := range earlier {
		if e.ID != a.ID && e.SKU == a.SKU && e.Type == a.Type && !e.OpenedAt.After(a.OpenedAt) && a.OpenedAt.Sub(e.OpenedAt) <= window {
			return true
		}
	}
	return false
}

// listAndons is the one place the ledger's extras (events, metrics) read
// andons from a store.
func listAndons(ctx context.Context, s Store, f Filter) ([]Andon, error) {
	as, _, err := s.List(ctx, f)
	return as, err
}

// announce tells the metrics and the sink about a committed change. A
// failed recurrence lookup is logged: the change itself is committed.
func (l *Ledger) announce(rt ReceiptType, a Andon, r Receipt) {
	ev := Event{Type: rt, Andon: a, Receipt: r}
	if rt == ReceiptTriggered && (l.Metrics != nil || l.Events != nil) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		earlier, err := listAndons(ctx, l.Store, Filter{SKU: a.SKU, Type: a.Type, Limit: 2})
		cancel()
		if err != nil {
			l.logger().Warn("recurrence not checked", "andon", a.ID, "err", err)
		}
		ev.Recurrence = IsRecurrence(a, earlier, RecurrenceWindow)
		if ev.Recurrence && l.Metrics != nil {
			l.Metrics.recurrences.WithLabelValues(a.SKU, string(a.Type)).Inc()
		}
	}
	if l.Events != nil {
		l.Events.AndonEvent(ev)
	}
}
