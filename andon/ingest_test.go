package andon

import (
	"context"
	"database/sql"
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
			ev.Andon = &Trigger{Type: OperatingLimit, SKU: "svc", Stage: "operate", Origin: "svc/Red/error_ratio"}
		}
		nt.Alerts = append(nt.Alerts, ev)
	}
	return nt
}

// The checkpointer runs beside the writer, which cannot rewind the WAL while
// writes keep coming unless it copies the last frames itself: under a
// steady stream of writes the WAL file must stay bounded.
func TestWALStaysBoundedUnderSteadyWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 3,200 notifications")
	}
	path := filepath.Join(t.TempDir(), "andon.db")
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

// A named document round-trips, and a database of the previous schema
// (before the state table) gets it when opened.
func TestStateDocumentsAndTheirMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "andon.db")
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
	if _, err := db.Exec(`DROP TABLE state; PRAGMA user_version = 1`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err = OpenSQLite(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.PutState(ctx, "actuator", []byte(`{}`)); err != nil {
		t.Fatalf("after migrating a version-1 database: %v", err)
	}
}
