package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/andon-sre/andon/andon"
)

// T0 is the receive time of the suite's notifications.
var T0 = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// Notification of n alerts of one group; every firing alert asks for the
// andon of origin svc/Red/error_ratio, as the webhook's red alerts do.
func Notification(group string, n int, status string) andon.Notification {
	nt := andon.Notification{Receiver: "andon", GroupKey: group, ReceivedAt: T0}
	for i := range n {
		ev := andon.AlertEvent{Key: fmt.Sprintf("%s:%016x:%s", group, i, T0.Format(time.RFC3339Nano)), Status: status, Fingerprint: fmt.Sprintf("%016x", i),
			StartsAt: T0, Labels: map[string]string{"alertname": "Red", "instance": fmt.Sprint("i", i)}, Annotations: map[string]string{"summary": "red"}}
		if status == "firing" {
			ev.Andon = &andon.Trigger{Type: andon.OperatingLimit, SKU: "svc", Stage: "execution", Origin: "svc/Red/error_ratio"}
		}
		nt.Alerts = append(nt.Alerts, ev)
	}
	return nt
}

// A notification of 70 alerts (three SQLite chunks), the same alert twice
// within it, a re-send, and the resolved notification must each be recorded
// exactly once.
func ingestIsIdempotentAcrossChunks(t *testing.T, b Backend) {
	l, raw := open(t, b)
	ctx := context.Background()
	n := Notification("g", 70, "firing")
	n.Alerts = append(n.Alerts, n.Alerts[5]) // the same alert twice in one notification
	res, err := l.Ingest(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Opened) != 1 || len(res.Receipts) != 1 {
		t.Fatalf("opened %d andons (%d receipts), want 1", len(res.Opened), len(res.Receipts))
	}
	id := res.Opened[0].ID
	for i, dup := range res.Duplicate {
		if want := i == 70; dup != want {
			t.Fatalf("alert %d duplicate = %v, want %v", i, dup, want)
		}
		if res.AndonIDs[i] != id {
			t.Fatalf("alert %d tied to andon %q, want %q", i, res.AndonIDs[i], id)
		}
	}
	again, err := l.Ingest(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	for i, dup := range again.Duplicate {
		if !dup || again.AndonIDs[i] != id {
			t.Fatalf("re-sent alert %d: duplicate %v, andon %q; want true, %q", i, dup, again.AndonIDs[i], id)
		}
	}
	if len(again.Opened) != 0 {
		t.Fatalf("the re-send opened %d andons", len(again.Opened))
	}
	resolved, err := l.Ingest(ctx, Notification("g", 70, "resolved"))
	if err != nil {
		t.Fatal(err)
	}
	for i, dup := range resolved.Duplicate {
		if dup || resolved.AndonIDs[i] != "" {
			t.Fatalf("resolved alert %d: duplicate %v, andon %q; want a new record tied to no andon", i, dup, resolved.AndonIDs[i])
		}
	}
	if got := count(t, raw, "SELECT count(*) FROM alerts"); got != 140 {
		t.Fatalf("%d alert records, want 70 firing + 70 resolved", got)
	}
	if got := count(t, raw, "SELECT count(*) FROM andons WHERE status = 'open'"); got != 1 {
		t.Fatalf("%d open andons, want 1: resolved alerts leave it to a human", got)
	}
	if probs, err := l.Verify(ctx); err != nil || len(probs) > 0 {
		t.Fatalf("verify: %v %v", probs, err)
	}
}

// An alert asking for an invalid andon rejects the whole notification as
// invalid before anything is written.
func ingestRejectsAnInvalidAndonWhole(t *testing.T, b Backend) {
	l, raw := open(t, b)
	n := Notification("g", 3, "firing")
	n.Alerts[2].Andon.SKU = " "
	if _, err := l.Ingest(context.Background(), n); !errors.Is(err, andon.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	if got := count(t, raw, "SELECT count(*) FROM alerts"); got != 0 {
		t.Fatalf("%d alerts stored from a rejected notification", got)
	}
}

func stateDocumentsRoundTrip(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	ctx := context.Background()
	if doc, err := s.State(ctx, "actuator"); err != nil || doc != nil {
		t.Fatalf("State before any Put = %q, %v; want nil", doc, err)
	}
	for _, doc := range []string{`{"v":1}`, `{"v":2}`} {
		if err := s.PutState(ctx, "actuator", []byte(doc)); err != nil {
			t.Fatal(err)
		}
		if got, err := s.State(ctx, "actuator"); err != nil || string(got) != doc {
			t.Fatalf("State = %q, %v; want %s", got, err, doc)
		}
	}
}

// Retention deletes old alert records, except those an open andon still
// references; receipts stay, and the chain still verifies.
func retentionKeepsWhatOpenAndonsNeed(t *testing.T, b Backend) {
	l, raw := open(t, b)
	ctx := context.Background()
	open, err := l.Ingest(ctx, Notification("open", 3, "firing"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Ingest(ctx, Notification("open", 3, "resolved")); err != nil {
		t.Fatal(err)
	}
	closed := Notification("closed", 2, "firing")
	for i := range closed.Alerts {
		closed.Alerts[i].Andon.Origin = "other"
	}
	res, err := l.Ingest(ctx, closed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Resolve(ctx, res.Opened[0].ID, Fix); err != nil {
		t.Fatal(err)
	}
	recent := Notification("recent", 2, "resolved")
	recent.ReceivedAt = T0.Add(48 * time.Hour)
	if _, err := l.Ingest(ctx, recent); err != nil {
		t.Fatal(err)
	}
	n, err := l.Store.PruneAlerts(ctx, T0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// Pruned: 3 resolved records of "open" (tied to no andon), 2 of the resolved andon.
	if n != 5 {
		t.Fatalf("pruned %d alert records, want 5", n)
	}
	if got := count(t, raw, "SELECT count(*) FROM alerts"); got != 5 {
		t.Fatalf("%d alert records left, want 3 of the open andon %s and 2 recent ones", got, open.Opened[0].ID)
	}
	if got := count(t, raw, "SELECT count(*) FROM receipts"); got != 3 {
		t.Fatalf("%d receipts left, want all 3", got)
	}
	if probs, err := l.Verify(ctx); err != nil || len(probs) > 0 {
		t.Fatalf("verify after pruning: %v %v", probs, err)
	}
}

func actionsRoundTrip(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	ctx := context.Background()
	recs := []andon.ActionRecord{
		{Time: T0, Kind: "shed", Service: "svc", Target: "svc/a", Result: "applied", Reason: "new shed"},
		{Time: T0, Kind: "drain", Service: "other", Result: "skipped", Reason: "no instance"},
	}
	if err := s.RecordActions(ctx, recs); err != nil {
		t.Fatal(err)
	}
	got, err := s.Actions(ctx, andon.ActionFilter{Service: "svc"})
	if err != nil || len(got) != 1 || got[0].Target != "svc/a" || !got[0].Time.Equal(T0) {
		t.Fatalf("actions of svc: %+v %v", got, err)
	}
	if got, _ := s.Actions(ctx, andon.ActionFilter{Result: "skipped"}); len(got) != 1 || got[0].Service != "other" {
		t.Fatalf("skipped actions: %+v", got)
	}
}
