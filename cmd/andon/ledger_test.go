package main

import (
	"errors"
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
