package andon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// notification of n firing alerts of one group; every alert asks for the
// andon of origin svc/Red/error_ratio, as the webhook's red alerts do.
func notification(group string, n int, status string) Notification {
	nt := Notification{Receiver: "andon", GroupKey: group, ReceivedAt: t0}
	for i := range n {
		ev := AlertEvent{Key: fmt.Sprintf("%s:%016x:%s", group, i, t0.Format(time.RFC3339Nano)), Status: status, Fingerprint: fmt.Sprintf("%016x", i),
			StartsAt: t0, Labels: map[string]string{"alertname": "Red", "instance": fmt.Sprint("i", i)}, Annotations: map[string]string{"summary": "red"}}
		if status == "firing" {
			ev.Andon = &Trigger{Type: OperatingLimit, SKU: "svc", Stage: "execution", Origin: "svc/Red/error_ratio"}
		}
		nt.Alerts = append(nt.Alerts, ev)
	}
	return nt
}

func count(t *testing.T, s Store, table string) int {
	t.Helper()
	var n int
	if err := s.(*SQLite).read.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Alerts go to the store in multi-row statements of up to 32: a notification
// of 70 alerts (three chunks), the same alert twice within it, a re-send,
// and the resolved notification must each be recorded exactly once.
func TestIngestIsIdempotentAcrossChunks(t *testing.T) {
	t.Run("statements", func(t *testing.T) { testIngestChunks(t, 70) })
	// And in write ops of up to ingestChunk: one andon for the whole
	// notification, the repeated alert a duplicate in a later op.
	t.Run("write ops", func(t *testing.T) { testIngestChunks(t, 2*ingestChunk+70) })
}

func testIngestChunks(t *testing.T, size int) {
	l, _ := openTest(t)
	ctx := context.Background()
	n := notification("g", size, "firing")
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
		if want := i == size; dup != want {
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
	resolved, err := l.Ingest(ctx, notification("g", size, "resolved"))
	if err != nil {
		t.Fatal(err)
	}
	for i, dup := range resolved.Duplicate {
		if dup || resolved.AndonIDs[i] != "" {
			t.Fatalf("resolved alert %d: duplicate %v, andon %q; want a new record tied to no andon", i, dup, resolved.AndonIDs[i])
		}
	}
	if got := count(t, l.Store, "alerts"); got != 2*size {
		t.Fatalf("%d alert records, want %d firing + %d resolved", got, size, size)
	}
	if got := count(t, l.Store, "andons WHERE status = 'open'"); got != 1 {
		t.Fatalf("%d open andons, want 1: resolved alerts leave it to a human", got)
	}
	if probs, err := l.Verify(ctx); err != nil || len(probs) > 0 {
		t.Fatalf("verify: %v %v", probs, err)
	}
}

// An alert asking for an invalid andon rejects the whole notification as
// invalid before anything is written.
func TestIngestRejectsAnInvalidAndonWhole(t *testing.T) {
	l, _ := openTest(t)
	n := notification("g", 3, "firing")
	n.Alerts[2].Andon.SKU = " "
	if _, err := l.Ingest(context.Background(), n); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	if got := count(t, l.Store, "alerts"); got != 0 {
		t.Fatalf("%d alerts stored from a rejected notification", got)
	}
}

// The checkpointer runs beside the writer, which cannot rewind the WAL while
// writes keep coming unless it copies the last frames itself: under a
// steady stream of writes the WAL file must stay bounded.
func TestWALStaysBoundedUnderSteadyWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 3,200 notifications")
	}
	path := initTest(t, filepath.Join(t.TempDir(), "andon.db"))
	const rewind = 256 // frames of 4 KiB
	s, err := openSQLite(path, rewind)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	var maxWAL int64
	var mu sync.Mutex
	for w := range 8 {
		wg.Go(func() {
			for i := range 400 {
				if _, err := s.Ingest(context.Background(), notification(fmt.Sprint(w, "/", i), 10, "firing")); err != nil {
					t.Error(err)
					return
				}
				if fi, err := os.Stat(path + "-wal"); err == nil {
					mu.Lock()
					maxWAL = max(maxWAL, fi.Size())
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	// 3,200 notifications write about 80 MiB of frames; the WAL
	// is rewound at rewind frames when idle and 4× rewind at the latest,
	// also when the checkpointer is starved of CPU (measured ~4.1× with
	// four busy loops beside the race detector on 2 cores).
	const bound = 6 * rewind * 4096
	if maxWAL > bound {
		t.Fatalf("WAL grew to %d bytes (bound %d): it is not rewound under steady writes", maxWAL, bound)
	}
	t.Logf("largest WAL %d KiB", maxWAL>>10)
}

// A named document round-trips, and survives a reopen.
func TestStateDocumentsRoundTrip(t *testing.T) {
	path := initTest(t, filepath.Join(t.TempDir(), "andon.db"))
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
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
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	// Back to what schema 3 (the first with an identity) created: no notification_reason and no metadata column.
	if _, err := db.Exec(`ALTER TABLE alerts DROP COLUMN notification_reason; ALTER TABLE andons DROP COLUMN metadata; PRAGMA user_version = 3`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err = OpenSQLite(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.State(ctx, "actuator"); err != nil || string(got) != `{"v":2}` {
		t.Fatalf("after reopen: State = %q, %v", got, err)
	}
	n := notification("g", 1, "firing")
	n.Reason = "first notification"
	if _, err := s.Ingest(ctx, n); err != nil {
		t.Fatalf("ingest with a notification reason after migrating a schema-3 ledger: %v", err)
	}
}
