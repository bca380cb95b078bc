package andon_test

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/andon-sre/andon/andon"
	"github.com/andon-sre/andon/andon/storetest"
)

// The store conformance suite on SQLite (andon/postgres runs it on PostgreSQL).
func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, sqliteBackend)
}

func openSQLite(t testing.TB) (andon.Store, storetest.Raw) {
	path := filepath.Join(t.TempDir(), "andon.db")
	if _, err := andon.InitSQLite(path, time.Now()); err != nil {
		t.Fatal(err)
	}
	s, err := andon.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return s, sqlRaw{db}
}

type sqlRaw struct{ db *sql.DB }

func (r sqlRaw) Exec(q string) error { _, err := r.db.Exec(q); return err }

func (r sqlRaw) Count(q string) (n int, err error) { return n, r.db.QueryRow(q).Scan(&n) }

var sqliteBackend = storetest.Backend{Open: openSQLite}

func BenchmarkGate(b *testing.B)               { storetest.BenchGate(b, sqliteBackend) }
func BenchmarkConcurrentTriggers(b *testing.B) { storetest.BenchConcurrentTriggers(b, sqliteBackend) }
func BenchmarkStoreIngest(b *testing.B)        { storetest.BenchStoreIngest(b, sqliteBackend) }
func BenchmarkStoreIngestBesideHuge(b *testing.B) {
	storetest.BenchStoreIngestBesideHuge(b, sqliteBackend)
}
