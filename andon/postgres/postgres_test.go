package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/andon-sre/andon/andon"
	"github.com/andon-sre/andon/andon/storetest"
	"github.com/andon-sre/andon/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// initDB creates a ledger in a fresh database and returns its URL.
func initDB(t testing.TB) string {
	t.Helper()
	url := pgtest.DB(t)
	if _, err := Init(context.Background(), url, time.Now()); err != nil {
		t.Fatal(err)
	}
	return url
}

func openTest(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The store conformance suite on a real PostgreSQL 15.
func TestConformance(t *testing.T) {
	storetest.Run(t, backend)
}

var backend = storetest.Backend{Open: func(t testing.TB) (andon.Store, storetest.Raw) {
	url := initDB(t)
	s := openTest(t, url)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return s, pgRaw{conn}
}}

func BenchmarkGate(b *testing.B)                  { storetest.BenchGate(b, backend) }
func BenchmarkConcurrentTriggers(b *testing.B)    { storetest.BenchConcurrentTriggers(b, backend) }
func BenchmarkStoreIngest(b *testing.B)           { storetest.BenchStoreIngest(b, backend) }
func BenchmarkStoreIngestBesideHuge(b *testing.B) { storetest.BenchStoreIngestBesideHuge(b, backend) }

type pgRaw struct{ conn *pgx.Conn }

func (r pgRaw) Exec(q string) error {
	_, err := r.conn.Exec(context.Background(), q)
	return err
}

func (r pgRaw) Count(q string) (n int, err error) {
	return n, r.conn.QueryRow(context.Background(), q).Scan(&n)
}

// Two replicas (two stores, two connection pools) opening one ledger at
// once, then receiving the same notification 10 times each, all at once:
// one record per alert, one andon, one receipt, one outbox entry per
// acknowledged notification.
func TestReplicasRecordANotificationOnce(t *testing.T) {
	url := initDB(t)
	var replicas [2]*Store
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { replicas[i] = openTest(t, url) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	ctx := context.Background()
	var mu sync.Mutex
	opened, fresh := 0, 0
	for i := range 20 {
		wg.Go(func() {
			res, err := replicas[i%2].Ingest(ctx, storetest.Notification("g", 5, "firing"))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			opened += len(res.Opened)
			for _, d := range res.Duplicate {
				if !d {
					fresh++
				}
			}
		})
	}
	wg.Wait()
	if opened != 1 || fresh != 5 {
		t.Fatalf("20 deliveries over 2 replicas: %d andons opened, %d alerts new; want 1 and 5", opened, fresh)
	}
	raw := func(q string) (n int) {
		if err := replicas[0].pool.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if a, o, r, q := raw(`SELECT count(*) FROM alerts`), raw(`SELECT count(*) FROM andons`), raw(`SELECT count(*) FROM receipts`), raw(`SELECT count(*) FROM outbox`); a != 5 || o != 1 || r != 1 || q != 20 {
		t.Fatalf("%d alerts, %d andons, %d receipts, %d outbox entries; want 5, 1, 1, 20", a, o, r, q)
	}
}

// Replicas triggering and resolving at once on different andons and skus
// write one linear chain: no gap, no fork, every prev_hash linking.
func TestReplicasKeepOneLinearChain(t *testing.T) {
	url := initDB(t)
	replicas := []*Store{openTest(t, url), openTest(t, url)}
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			s := replicas[i%2]
			at := time.Now()
			res, err := s.Trigger(ctx, andon.Trigger{Type: andon.TestFailure, SKU: fmt.Sprint("sku-", i%5)}, at)
			if err != nil {
				t.Error(err)
				return
			}
			if i%3 == 0 {
				if _, _, err := replicas[(i+1)%2].Resolve(ctx, res.Andon.ID, storetest.Fix, at); err != nil {
					t.Error(err)
				}
			}
			// A notification in between: its andon origin is shared by all.
			if _, err := s.Ingest(ctx, storetest.Notification(fmt.Sprint("n", i), 2, "firing")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	l := &andon.Ledger{Store: replicas[1]}
	probs, err := l.Verify(ctx)
	if err != nil || len(probs) > 0 {
		t.Fatalf("chain written by two replicas: %v %v", probs, err)
	}
	rs, _ := replicas[0].Receipts(ctx)
	if len(rs) != 60+20+1 {
		t.Fatalf("%d receipts, want 60 triggered + 20 resolved + 1 alert andon", len(rs))
	}
}

// One holder at a time; the epoch tells terms apart; a write fenced by a
// term that is over is refused, so a replica that lost its lease cannot
// commit a decision (and so does not act).
func TestLeaseFencesTheFormerHolder(t *testing.T) {
	url := initDB(t)
	a, b := openTest(t, url), openTest(t, url)
	ctx := context.Background()
	la, err := a.AcquireLease(ctx, "actuator", "a", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AcquireLease(ctx, "actuator", "b", time.Second); !errors.Is(err, andon.ErrLeaseHeld) {
		t.Fatalf("b took a held lease: %v", err)
	}
	if again, err := a.AcquireLease(ctx, "actuator", "a", 300*time.Millisecond); err != nil || again.Epoch != la.Epoch {
		t.Fatalf("renewal: %+v %v, want epoch %d", again, err, la.Epoch)
	}
	if err := a.PutStateFenced(ctx, la, "actuator", []byte(`{"by":"a"}`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // a stops renewing (partitioned, paused, dead)
	lb, err := b.AcquireLease(ctx, "actuator", "b", time.Minute)
	if err != nil || lb.Epoch <= la.Epoch {
		t.Fatalf("b after a's lease lapsed: %+v %v", lb, err)
	}
	if err := a.PutStateFenced(ctx, la, "actuator", []byte(`{"by":"a, late"}`)); !errors.Is(err, andon.ErrUnavailable) {
		t.Fatalf("a wrote with a lapsed term: %v", err)
	}
	if err := a.DoneOutbox(ctx, la, []int64{1}); !errors.Is(err, andon.ErrUnavailable) {
		t.Fatalf("a drained the outbox with a lapsed term: %v", err)
	}
	if doc, _ := b.State(ctx, "actuator"); string(doc) != `{"by":"a"}` {
		t.Fatalf("state %s", doc)
	}
	if err := b.ReleaseLease(ctx, lb); err != nil {
		t.Fatal(err)
	}
	if la2, err := a.AcquireLease(ctx, "actuator", "a", time.Second); err != nil || la2.Epoch <= lb.Epoch {
		t.Fatalf("a after b released: %+v %v", la2, err)
	}
}

// Only init creates a ledger, and only in an empty database: an open of a
// database without one fails (a typo in --db must not read as an empty
// ledger whose gate proceeds), a second init fails, and so does an init in
// another application's database. Every receipt carries the ledger's id.
func TestInitAndOpenRefuseWhatIsNotTheirs(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	if _, err := Open(ctx, url); !errors.Is(err, andon.ErrNotLedger) {
		t.Fatalf("open of an empty database: %v, want ErrNotLedger", err)
	}
	id, err := Init(ctx, url, time.Now())
	if err != nil || !strings.HasPrefix(id.ID, "LDG-") {
		t.Fatalf("init: %+v %v", id, err)
	}
	if _, err := Init(ctx, url, time.Now()); !errors.Is(err, ErrExists) {
		t.Fatalf("second init: %v, want ErrExists", err)
	}
	s := openTest(t, url)
	if s.Identity().ID != id.ID {
		t.Fatalf("identity %+v, want %s", s.Identity(), id.ID)
	}
	res, err := s.Trigger(ctx, andon.Trigger{Type: andon.TestFailure, SKU: "svc", Stage: "testing"}, time.Now())
	if err != nil || res.Receipt.LedgerID != id.ID {
		t.Fatalf("receipt of %q, want the ledger's id %s: %v", res.Receipt.LedgerID, id.ID, err)
	}
	foreign := pgtest.DB(t)
	conn, err := pgx.Connect(ctx, foreign)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE invoices (id int)`); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(ctx, foreign, time.Now()); !errors.Is(err, andon.ErrNotLedger) {
		t.Fatalf("init in another application's database: %v, want ErrNotLedger", err)
	}
}
