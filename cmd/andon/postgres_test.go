package main

import (
	"os"
	"strings"
	"testing"

	"github.com/andon-sre/andon/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// Every ledger verb works on a postgres:// --db as on a file: 'andon init'
// creates the ledger in an empty database (once), and every other verb
// refuses a database that holds none (exit 2), as it refuses a missing file.
func TestLedgerCLIOnPostgres(t *testing.T) {
	db := pgtest.DB(t)
	for _, verb := range [][]string{{"gate", "--sku", "build-1"}, {"trigger", "--type", "test_failure", "--sku", "build-1"}} {
		if code := runLedgerCLI(t, append(verb, "--db", db)...); code != 2 {
			t.Fatalf("%v on a database without a ledger: exit %d, want 2", verb, code)
		}
	}
	if code := runLedgerCLI(t, "init", "--db", db); code != 0 {
		t.Fatalf("init: exit %d", code)
	}
	if code := runLedgerCLI(t, "init", "--db", db); code != 2 {
		t.Fatalf("second init: exit %d, want 2", code)
	}
	code, id := runLedgerCLIOut(t, "trigger", "--db", db, "--type", "test_failure", "--sku", "build-1", "--stage", "testing")
	if id = strings.TrimSpace(id); code != 0 || !strings.HasPrefix(id, "AND-") {
		t.Fatalf("trigger: exit %d, printed %q", code, id)
	}
	if code := runLedgerCLI(t, "gate", "--db", db, "--sku", "build-1", "--stage", "deployment"); code != 1 {
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
