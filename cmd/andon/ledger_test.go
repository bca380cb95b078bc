package main

import (
	"bytes"
	"database/sql"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
)

// runLedgerCLI parses args like main does and returns the exit code it would use.
func runLedgerCLI(t *testing.T, args ...string) int {
	t.Helper()
	code, _ := runLedgerCLIOut(t, args...)
	return code
}

func runLedgerCLIOut(t *testing.T, args ...string) (int, string) {
	t.Helper()
	app := kingpin.New("andon", "")
	app.Terminate(nil)
	registerLedger(app)
	registerWebhook(app)
	registerReport(app)
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = out
	_, err = app.Parse(args)
	os.Stdout = stdout
	out.Close()
	b, _ := os.ReadFile(out.Name())
	var ee *exitError
	switch {
	case err == nil:
		return 0, string(b)
	case errors.As(err, &ee):
		return ee.code, string(b)
	}
	t.Logf("%v: %v", args, err)
	return 2, string(b)
}

// initLedger runs 'andon init' and fails the test unless it succeeds.
func initLedger(t *testing.T, db string) {
	t.Helper()
	if code, out := runLedgerCLIOut(t, "init", "--db", db); code != 0 || !strings.Contains(out, "created ledger LDG-") {
		t.Fatalf("init: exit %d, printed %q", code, out)
	}
}

func TestLedgerCLIGateFlow(t *testing.T) {
	db := filepath.Join(t.TempDir(), "andon.db")
	initLedger(t, db)
	if code := runLedgerCLI(t, "trigger", "--db", db, "--type", "bad_type", "--sku", "build-1"); code != 1 {
		t.Fatalf("unknown type: exit %d", code)
	}
	code, id := runLedgerCLIOut(t, "trigger", "--db", db, "--type", "test_failure", "--sku", "build-1", "--stage", "testing", "--detail", "job=42")
	if id = strings.TrimSpace(id); code != 0 || !strings.HasPrefix(id, "AND-") {
		t.Fatalf("trigger: exit %d, printed %q", code, id)
	}
	if code := runLedgerCLI(t, "gate", "--db", db, "--sku", "build-1", "--stage", "deployment"); code != 1 {
		t.Fatalf("gate with an open andon: exit %d, want 1", code)
	}
	if code := runLedgerCLI(t, "gate", "--db", db, "--sku", "build-2", "--stage", "deployment"); code != 0 {
		t.Fatalf("gate of another sku: exit %d, want 0", code)
	}
	if code := runLedgerCLI(t, "resolve", id, "--db", db, "--root-cause", "flaky", "--fix", "pinned"); code != 2 {
		t.Fatalf("resolve without --prevention: exit %d, want 2 (usage)", code)
	}
	if code := runLedgerCLI(t, "resolve", id, "--db", db, "--root-cause", "flaky", "--fix", "pinned", "--prevention", "  "); code != 1 {
		t.Fatalf("resolve with a blank --prevention: exit %d, want 1", code)
	}
	if code := runLedgerCLI(t, "resolve", id, "--db", db, "--root-cause", "flaky", "--fix", "pinned", "--prevention", "retry budget"); code != 0 {
		t.Fatalf("resolve: exit %d", code)
	}
	if code := runLedgerCLI(t, "gate", "--db", db, "--sku", "build-1", "--stage", "deployment"); code != 0 {
		t.Fatalf("gate after resolve: exit %d, want 0", code)
	}
	if code := runLedgerCLI(t, "receipts", "verify", "--db", db); code != 0 {
		t.Fatalf("verify: exit %d", code)
	}
	for _, verb := range [][]string{{"list"}, {"history", "--sku", "build-1"}, {"actions"}, {"list", "-o", "json"}} {
		if code := runLedgerCLI(t, append(verb, "--db", db)...); code != 0 {
			t.Fatalf("%v: exit %d", verb, code)
		}
	}
}

// Exit 1 is an answer (blocked, refused, broken chain); a ledger that cannot
// be asked exits 2, so a CI gate never mistakes "no ledger" for "blocked"
// — nor a mistyped --db for an empty ledger where everything proceeds.
func TestLedgerCLIExitCodes(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "andon.db")
	initLedger(t, db)
	if code := runLedgerCLI(t, "trigger", "--db", db, "--type", "test_failure", "--sku", "build-1", "--stage", "testing"); code != 0 {
		t.Fatalf("trigger: exit %d", code)
	}
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o644)
	foreign := filepath.Join(dir, "foreign.db")
	fdb, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fdb.Exec(`CREATE TABLE t (x); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	fdb.Close()
	foreignBefore, _ := os.ReadFile(foreign)
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte("this is not a SQLite database, just text long enough to have a header"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	cases := []struct {
		name string
		args []string
		want int
	}{
		{"gate blocked by an open andon", []string{"gate", "--db", db, "--sku", "build-1"}, 1},
		{"gate proceeds for another sku", []string{"gate", "--db", db, "--sku", "build-2"}, 0},
		{"gate on a missing --db file", []string{"gate", "--db", filepath.Join(dir, "typo.db"), "--sku", "build-1"}, 2},
		{"gate in a missing directory", []string{"gate", "--db", filepath.Join(dir, "no", "such", "andon.db"), "--sku", "build-1"}, 2},
		{"gate on a file that is no database", []string{"gate", "--db", garbage, "--sku", "build-1"}, 2},
		{"gate against a server that is down", []string{"gate", "--url", closed, "--sku", "build-1"}, 2},
		{"trigger against a server that is down", []string{"trigger", "--url", closed, "--type", "test_failure", "--sku", "build-1"}, 2},
		{"trigger into a missing directory", []string{"trigger", "--db", filepath.Join(dir, "no", "andon.db"), "--type", "test_failure", "--sku", "b"}, 2},
		{"show of an unknown id is refused", []string{"show", "AND-NOPE", "--db", db}, 1},
		{"verify of a missing ledger", []string{"receipts", "verify", "--db", filepath.Join(dir, "typo.db")}, 2},
		{"list of a missing ledger", []string{"list", "--db", filepath.Join(dir, "typo.db")}, 2},
		{"trigger on a missing ledger does not create one", []string{"trigger", "--db", filepath.Join(dir, "typo.db"), "--type", "test_failure", "--sku", "b"}, 2},
		{"gate on an emptied (0 bytes) ledger", []string{"gate", "--db", empty, "--sku", "prod"}, 2},
		{"trigger on an emptied ledger", []string{"trigger", "--db", empty, "--type", "test_failure", "--sku", "b"}, 2},
		{"gate on another application's SQLite file", []string{"gate", "--db", foreign, "--sku", "prod"}, 2},
		{"init over an existing ledger", []string{"init", "--db", db}, 2},
		{"init over an empty file", []string{"init", "--db", empty}, 2},
		{"list with a sku holding a control character", []string{"list", "--db", db, "--sku", "build\x1b"}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if code := runLedgerCLI(t, c.args...); code != c.want {
				t.Fatalf("%v: exit %d, want %d", c.args, code, c.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "typo.db")); err == nil {
		t.Fatal("a verb created the mistyped ledger file")
	}
	if b, _ := os.ReadFile(empty); len(b) != 0 {
		t.Fatal("the emptied ledger was written")
	}
	if b, _ := os.ReadFile(foreign); !bytes.Equal(b, foreignBefore) {
		t.Fatal("the foreign SQLite file was changed")
	}
}

// Deleting or moving an andon row makes verify fail (1) and the gate give no answer (2).
func TestLedgerCLITamperedStateFailsClosed(t *testing.T) {
	for _, tamper := range []string{`DELETE FROM andons`, `UPDATE andons SET sku = 'other'`} {
		t.Run(tamper, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "l.db")
			initLedger(t, db)
			runLedgerCLI(t, "trigger", "--db", db, "--type", "test_failure", "--sku", "prod", "--stage", "testing")
			sdb, err := sql.Open("sqlite", db)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sdb.Exec(tamper); err != nil {
				t.Fatal(err)
			}
			sdb.Close()
			if code := runLedgerCLI(t, "receipts", "verify", "--db", db); code != 1 {
				t.Fatalf("verify: exit %d, want 1", code)
			}
			if code := runLedgerCLI(t, "gate", "--db", db, "--sku", "prod"); code != 2 {
				t.Fatalf("gate: exit %d, want 2", code)
			}
		})
	}
}

// Signed receipts: verify --public-key passes with the right key, fails with another.
func TestLedgerCLISignedReceipts(t *testing.T) {
	dir := t.TempDir()
	db, key, other := filepath.Join(dir, "l.db"), filepath.Join(dir, "k"), filepath.Join(dir, "other")
	initLedger(t, db)
	for _, k := range []string{key, other} {
		if code := runLedgerCLI(t, "keygen", k); code != 0 {
			t.Fatalf("keygen: exit %d", code)
		}
	}
	if code := runLedgerCLI(t, "keygen", key); code != 2 {
		t.Fatalf("keygen over an existing key: exit %d, want 2", code)
	}
	if code := runLedgerCLI(t, "trigger", "--db", db, "--signing-key", key, "--type", "test_failure", "--sku", "prod", "--stage", "testing"); code != 0 {
		t.Fatalf("signed trigger: exit %d", code)
	}
	if code := runLedgerCLI(t, "trigger", "--db", db, "--type", "test_failure", "--sku", "prod", "--stage", "testing"); code != 2 {
		t.Fatalf("unsigned trigger on a signed ledger: exit %d, want 2", code)
	}
	if code := runLedgerCLI(t, "receipts", "verify", "--db", db, "--public-key", key+".pub"); code != 0 {
		t.Fatalf("verify with the key: exit %d", code)
	}
	if code := runLedgerCLI(t, "receipts", "verify", "--db", db, "--public-key", other+".pub"); code != 1 {
		t.Fatalf("verify with another key: exit %d, want 1", code)
	}
	if code := runLedgerCLI(t, "receipts", "verify", "--url", "http://127.0.0.1:1", "--public-key", key+".pub"); code != 2 {
		t.Fatalf("verify --public-key over --url: exit %d, want 2", code)
	}
}
