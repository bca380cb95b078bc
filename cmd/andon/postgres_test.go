package main

import (
	"os"
	"strings"
	"testing"

	"github.com/andon-sre/andon/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// Every ledger verb works on a postgres:// --db as on a file; the read-only
// verbs refuse a database that holds no ledger (exit 2), as they refuse a
// missing file.
func TestLedgerCLIOnPostgres(t *testing.T) {
	empty, db := pgtest.DB(t), pgtest.DB(t)
	if code := runLedgerCLI(t, "gate", "--db", empty, "--sku", "build-1"); code != 2 {
		t.Fatalf("gate on a database without a ledger: exit %d, want 2", code)
	}
	code, id := runLedgerCLIOut(t, "trigger", "--db", db, "--type", "test_failure", "--sku", "build-1", "--stage", "test")
	if id = strings.TrimSpace(id); code != 0 || !strings.HasPrefix(id, "AND-") {
		t.Fatalf("trigger: exit %d, printed %q", code, id)
	}
	if code := runLedgerCLI(t, "gate", "--db", db, "--sku", "build-1", "--stage", "deploy"); code != 1 {
		t.Fatalf("gate with an open andon: exit %d, want 1", code)
	}
	if code := runLedgerCLI(t, "resolve", "--db", db, id, "--root-cause", "flaky", "--fix", "pinned", "--prevention", "quarantine"); code != 0 {
		t.Fatalf("resolve: exit %d", code)
	}
	if code := runLedgerCLI(t, "resolve", "--db", db, id, "--root-cause", "flaky", "--fix", "pinned", "--prevention", "quarantine"); code != 1 {
		t.Fatalf("second resolve: exit %d, want 1", code)
	}
	for _, verb := range [][]string{{"gate", "--sku", "build-1"}, {"receipts", "verify"}, {"list"}, {"show", id}, {"history", "--sku", "build-1"}, {"actions"}} {
		if code := runLedgerCLI(t, append(verb, "--db", db)...); code != 0 {
			t.Fatalf("%v: exit %d, want 0", verb, code)
		}
	}
}
