package andon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Only init creates a ledger; every other kind of file is refused with
// ErrNotLedger, says what it is, and is left byte for byte as it was.
func TestOpenRefusesWhatIsNotALedger(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	db, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ana')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	newer := initTest(t, filepath.Join(dir, "newer.db"))
	db, _ = sql.Open("sqlite", newer)
	if _, err := db.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	old := filepath.Join(dir, "old.db")
	db, _ = sql.Open("sqlite", old)
	if _, err := db.Exec(migrations[0] + `; PRAGMA user_version = 1`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o644)
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("hello, not a database"), 0o644)

	cases := []struct{ name, path, want string }{
		{"a missing file is not created", filepath.Join(dir, "typo.db"), "no such file: create a ledger with 'andon init"},
		{"an empty file is not migrated into a new ledger", empty, "an empty file (0 bytes)"},
		{"a text file is not a SQLite database", text, "not a SQLite database"},
		{"another application's SQLite file is left alone", foreign, "another application (application_id 0, tables: users)"},
		{"a newer schema is refused", newer, "schema version 99, newer than this andon knows"},
		{"a ledger from before identities is refused", old, "made before ledgers had an identity"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, _ := os.ReadFile(c.path)
			s, err := OpenSQLite(c.path)
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, ErrNotLedger) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want ErrNotLedger saying %q", err, c.want)
			}
			after, statErr := os.ReadFile(c.path)
			if before == nil && statErr == nil {
				t.Fatal("the missing file was created")
			}
			if !bytes.Equal(before, after) {
				t.Fatal("the file was changed")
			}
			if _, err := os.Stat(c.path + "-wal"); err == nil {
				t.Fatal("a WAL file was created beside it")
			}
		})
	}
	t.Run("init refuses an existing file, even an empty one", func(t *testing.T) {
		if _, err := InitSQLite(empty, time.Now()); err == nil {
			t.Fatal("init took over an existing file")
		}
	})
}

// The identity is created once, and every receipt names it.
func TestIdentityIsInEveryReceipt(t *testing.T) {
	l, path := openTest(t)
	ctx := context.Background()
	id := l.Store.Identity()
	if !strings.HasPrefix(id.ID, "LDG-") || id.Schema != len(migrations) {
		t.Fatalf("identity %+v", id)
	}
	a, _ := l.Trigger(ctx, Trigger{Type: TestFailure, SKU: "svc", Stage: "testing"})
	if a.Receipt.LedgerID != id.ID {
		t.Fatalf("receipt names ledger %q, want %q", a.Receipt.LedgerID, id.ID)
	}
	s2, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Identity().ID != id.ID {
		t.Fatalf("reopened identity %q, want %q", s2.Identity().ID, id.ID)
	}
}

// Editing the andons table (what the gate reads) without the chain is
// detected by Verify, and the gate, show and list answer ErrTampered.
func TestAndonsTableIsBoundToTheChain(t *testing.T) {
	cases := []struct{ name, tamper string }{
		{"an open andon's row deleted", `DELETE FROM andons WHERE id = :open`},
		{"an open andon moved to another sku", `UPDATE andons SET sku = 'other' WHERE id = :open`},
		{"an open andon marked resolved", `UPDATE andons SET status = 'resolved', resolved_ms = 1, root_cause = 'x', fix_applied = 'x', prevention_added = 'x', resolver = 'x' WHERE id = :open`},
		{"a resolved andon reopened", `UPDATE andons SET status = 'open', resolved_ms = NULL WHERE id = :resolved`},
		{"a row added without receipts", `INSERT INTO andons SELECT 'AND-FAKE', type, sku, stage, details, 'open', '', opened_ms, NULL, NULL, NULL, NULL, NULL, metadata FROM andons WHERE id = :open`},
		{"a receipt's andon_id column changed", `UPDATE receipts SET andon_id = 'AND-X' WHERE andon_id = :open`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, path := openTest(t)
			ctx := context.Background()
			open, _ := l.Trigger(ctx, Trigger{Type: TestFailure, SKU: "prod", Stage: "testing"})
			done, _ := l.Trigger(ctx, Trigger{Type: TestFailure, SKU: "prod", Stage: "testing"})
			if _, err := l.Resolve(ctx, done.Andon.ID, fix); err != nil {
				t.Fatal(err)
			}
			if g, err := l.Gate(ctx, "prod", "deployment"); err != nil || g.Proceed {
				t.Fatalf("untouched: gate %+v %v", g, err)
			}
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(c.tamper, sql.Named("open", open.Andon.ID), sql.Named("resolved", done.Andon.ID)); err != nil {
				t.Fatal(err)
			}
			if probs, err := l.Verify(ctx); err != nil || len(probs) == 0 {
				t.Fatalf("verify: %v %v; want problems", probs, err)
			}
			g, err := l.Gate(ctx, "prod", "deployment")
			_, _, showErr := l.Show(ctx, open.Andon.ID)
			_, listErr := l.List(ctx, Filter{})
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("gate = %+v, %v; want ErrTampered", g, err)
			}
			if !errors.Is(showErr, ErrTampered) && !errors.Is(listErr, ErrTampered) {
				t.Fatalf("show: %v, list: %v; want ErrTampered from one", showErr, listErr)
			}
		})
	}
}

// A rewritten receipt whose hashes are all recomputed passes the unkeyed
// checks, but not the signatures; rotated keys verify together.
func TestSignedReceiptsResistRehashing(t *testing.T) {
	dir := t.TempDir()
	key1, key2 := filepath.Join(dir, "k1"), filepath.Join(dir, "k2")
	if _, err := GenerateKey(key1); err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateKey(key2); err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateKey(key1); err == nil {
		t.Fatal("GenerateKey overwrote an existing key")
	}
	l, path := openTest(t)
	ctx := context.Background()
	sg1, err := LoadSigner(key1)
	if err != nil {
		t.Fatal(err)
	}
	l.Store.SetSigner(sg1)
	a, _ := l.Trigger(ctx, Trigger{Type: TestFailure, SKU: "prod", Stage: "testing"})
	sg2, _ := LoadSigner(key2)
	l.Store.SetSigner(sg2) // rotation
	if _, err := l.Resolve(ctx, a.Andon.ID, fix); err != nil {
		t.Fatal(err)
	}
	if a.Receipt.KeyID != sg1.KeyID || a.Receipt.Signature == "" {
		t.Fatalf("receipt key %q sig %q", a.Receipt.KeyID, a.Receipt.Signature)
	}
	keys, err := LoadKeyring([]string{key1 + ".pub", key2 + ".pub"})
	if err != nil {
		t.Fatal(err)
	}
	l.Keys = keys
	if probs, err := l.Verify(ctx); err != nil || len(probs) != 0 {
		t.Fatalf("signed chain with both keys: %v %v", probs, err)
	}
	l.Keys, _ = LoadKeyring([]string{key2 + ".pub"})
	if probs, _ := l.Verify(ctx); len(probs) != 1 || !strings.Contains(probs[0].Message, "not among the --public-key keys") {
		t.Fatalf("with only the new key: %v; want receipt 1's key reported", probs)
	}

	// The attacker writes the database but holds no key: the resolution is
	// rewritten, every hash after it recomputed, the row changed to match.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rs, _ := l.Store.Receipts(ctx)
	prev := GenesisHash
	for _, r := range rs {
		if r.Type == ReceiptResolved {
			r.Details["root_cause"] = "nothing happened"
		}
		r.PrevHash = prev
		r.Hash = r.ComputeHash()
		prev = r.Hash
		b, _ := json.Marshal(r)
		if _, err := db.Exec(`UPDATE receipts SET body = ? WHERE seq = ?`, string(b), r.Seq); err != nil {
			t.Fatal(err)
		}
	}
	db.Exec(`UPDATE andons SET root_cause = 'nothing happened'`)
	l.Keys = nil
	if probs, _ := l.Verify(ctx); len(probs) != 0 {
		t.Fatalf("the unkeyed checks cannot see a consistent rewrite, yet found %v", probs)
	}
	l.Keys = keys
	probs, _ := l.Verify(ctx)
	if len(probs) != 1 || !strings.Contains(probs[0].Message, "signature does not verify") {
		t.Fatalf("rewritten chain with keys: %v; want the rewritten receipt's signature reported", probs)
	}

	// Once signed, a writer without the key writes nothing.
	l.Store.SetSigner(nil)
	if _, err := l.Trigger(ctx, Trigger{Type: TestFailure, SKU: "prod", Stage: "testing"}); !errors.Is(err, ErrKeyRequired) {
		t.Fatalf("unsigned trigger on a signed ledger: %v; want ErrKeyRequired", err)
	}
}

func TestSigningKeyReadableByOthersIsRefused(t *testing.T) {
	key := filepath.Join(t.TempDir(), "k")
	if _, err := GenerateKey(key); err != nil {
		t.Fatal(err)
	}
	os.Chmod(key, 0o644)
	if _, err := LoadSigner(key); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("err = %v", err)
	}
}

// A receipts directory belongs to one ledger; files are never overwritten.
func TestReceiptsDirBelongsToOneLedger(t *testing.T) {
	dir := t.TempDir()
	l1, _ := openTest(t)
	l1.ReceiptsDir = dir
	ctx := context.Background()
	l1.Trigger(ctx, Trigger{Type: TestFailure, SKU: "svc", Stage: "testing"})
	first, _ := os.ReadFile(filepath.Join(dir, "RCP-000000000001.json"))
	l2, _ := openTest(t)
	if err := BindReceiptsDir(dir, l2.Store.Identity().ID); !errors.Is(err, ErrNotLedger) {
		t.Fatalf("second ledger bound the first one's directory: %v", err)
	}
	l2.ReceiptsDir = dir
	l2.Trigger(ctx, Trigger{Type: TestFailure, SKU: "svc", Stage: "testing"})
	if now, _ := os.ReadFile(filepath.Join(dir, "RCP-000000000001.json")); !bytes.Equal(first, now) {
		t.Fatal("another ledger's receipt overwrote a file")
	}
	r, _ := DecodeReceipt(first)
	r.Hash = "changed"
	if err := writeReceiptFile(dir, r); err == nil {
		t.Fatal("a receipt file with other content was overwritten")
	}
	unbound := t.TempDir()
	os.WriteFile(filepath.Join(unbound, "RCP-000000000001.json"), first, 0o644)
	if err := BindReceiptsDir(unbound, l1.Store.Identity().ID); !errors.Is(err, ErrNotLedger) {
		t.Fatalf("a directory of receipts without LEDGER file was bound: %v", err)
	}
}

func TestIdentifiersAndResolutionText(t *testing.T) {
	l, _ := openTest(t)
	ctx := context.Background()
	cases := []struct {
		name string
		in   Trigger
		sku  string // "" = refused
	}{
		{"surrounding spaces are trimmed", Trigger{Type: TestFailure, SKU: " build-9 ", Stage: "testing"}, "build-9"},
		{"a zero-width space is refused", Trigger{Type: TestFailure, SKU: "build\u200b-9", Stage: "testing"}, ""},
		{"a bidi override is refused", Trigger{Type: TestFailure, SKU: "build-\u202e9", Stage: "testing"}, ""},
		{"a control character is refused", Trigger{Type: TestFailure, SKU: "build\x1b[31m", Stage: "testing"}, ""},
		{"a stage with a newline is refused", Trigger{Type: TestFailure, SKU: "b", Stage: "test\nFAKE ROW"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := l.Trigger(ctx, c.in)
			if c.sku == "" {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v; want ErrInvalid", err)
				}
				return
			}
			if err != nil || res.Andon.SKU != c.sku {
				t.Fatalf("stored sku %q, %v; want %q", res.Andon.SKU, err, c.sku)
			}
		})
	}
	if g, err := l.Gate(ctx, "build-9", ""); err != nil || g.Proceed {
		t.Fatalf("gate build-9 after trigger ' build-9 ': %+v %v", g, err)
	}
	for _, sku := range []string{"", "  ", "build​-9"} {
		if g, err := l.Gate(ctx, sku, ""); !errors.Is(err, ErrInvalid) {
			t.Fatalf("gate of sku %q: %+v %v; want ErrInvalid, never an answer", sku, g, err)
		}
	}
	a, _ := l.Trigger(ctx, Trigger{Type: TestFailure, SKU: "svc", Stage: "testing"})
	if _, err := l.Resolve(ctx, a.Andon.ID, Resolution{RootCause: "x", FixApplied: "y", PreventionAdded: "\u200b \u200b"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a zero-width-space prevention was accepted: %v", err)
	}
}

func TestEscapeKeepsTerminalOutputInert(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, ünïcödé 日本": "plain text, ünïcödé 日本",
		"a\x1b[2Jb":              `a\u{001B}[2Jb`,
		"x\u202eevil":            `x\u{202E}evil`,
		"tab\there\nrow":         `tab\u{0009}here\u{000A}row`,
		"bad\xffbyte":            `bad\xffbyte`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q; want %q", in, got, want)
		}
	}
}

// FuzzDecodeReceipt: receipt files are outside input; any bytes decode or
// fail cleanly, and what decodes re-encodes to a receipt that decodes the same.
func FuzzDecodeReceipt(f *testing.F) {
	f.Add([]byte(`{"seq":1,"receipt_id":"RCP-000000000001","hash":"ab","details":{"k":"v"}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"seq":1} {}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeReceipt(b)
		if err != nil {
			return
		}
		again, _ := json.Marshal(r)
		r2, err := DecodeReceipt(again)
		if err != nil || r2.ComputeHash() != r.ComputeHash() {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzParseKeys: key files are outside input; no bytes panic the parsers,
// and a parsed public key has the size ed25519 needs.
func FuzzParseKeys(f *testing.F) {
	dir := f.TempDir()
	key := filepath.Join(dir, "k")
	if _, err := GenerateKey(key); err != nil {
		f.Fatal(err)
	}
	priv, _ := os.ReadFile(key)
	pub, _ := os.ReadFile(key + ".pub")
	f.Add(priv)
	f.Add(pub)
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if k, err := ParsePublicKey(b); err == nil && len(k) != 32 {
			t.Fatalf("public key of %d bytes", len(k))
		}
		if k, err := ParsePrivateKey(b); err == nil {
			_ = sha256.Sum256(k)
		}
	})
}

// FuzzIdentifiersAndEscape: what NormalizeID accepts and what Escape writes
// hold no control or invisible character, and Escape changes printable text not at all.
func FuzzIdentifiersAndEscape(f *testing.F) {
	for _, s := range []string{"build-9", " build-9 ", "a\u200bb", "x\u202ey", "\x1b[31mred", "bad\xff", "tab\tnl\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := Escape(s)
		for _, r := range e {
			if !printable(r) {
				t.Fatalf("Escape(%q) = %q holds %U", s, e, r)
			}
		}
		if id, err := NormalizeID("sku", s); err == nil {
			if Escape(id) != id {
				t.Fatalf("NormalizeID accepted %q, which Escape changes to %q", id, Escape(id))
			}
		}
	})
}
