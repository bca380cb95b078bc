package main

import (
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

func TestLedgerCLIGateFlow(t *testing.T) {
	db := filepath.Join(t.TempDir(), "andon.db")
	if code := runLedgerCLI(t, "trigger", "--db", db, "--type", "bad_type", "--sku", "build-1"); code != 1 {
		t.Fatalf("unknown type: exit %d", code)
	}
	code, id := runLedgerCLIOut(t, "trigger", "--db", db, "--type", "test_failure", "--sku", "build-1", "--stage", "test", "--detail", "job=42")
	if id = strings.TrimSpace(id); code != 0 || !strings.HasPrefix(id, "AND-") {
		t.Fatalf("trigger: exit %d, printed %q", code, id)
	}
	if code := runLedgerCLI(t, "gate", "--db", db, "--sku", "build-1", "--stage", "deploy"); code != 1 {
		t.Fatalf("gate with an open andon: exit %d, want 1", code)
	}
	if code := runLedgerCLI(t, "gate", "--db", db, "--sku", "build-2", "--stage", "deploy"); code != 0 {
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
	if code := runLedgerCLI(t, "gate", "--db", db, "--sku", "build-1", "--stage", "deploy"); code != 0 {
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
	if code := runLedgerCLI(t, "trigger", "--db", db, "--type", "test_failure", "--sku", "build-1"); code != 0 {
		t.Fatalf("trigger: exit %d", code)
	}
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
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if code := runLedgerCLI(t, c.args...); code != c.want {
				t.Fatalf("%v: exit %d, want %d", c.args, code, c.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "typo.db")); err == nil {
		t.Fatal("a read-only verb created the mistyped ledger file")
	}
}
