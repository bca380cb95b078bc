// Package storetest is the conformance suite of andon.Store: every behaviour
// the ledger promises, run against each backend (andon/conformance_test.go
// for SQLite, andon/postgres for PostgreSQL).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andon-sre/andon/andon"
)

// Backend opens fresh, empty stores of one kind.
type Backend struct {
	// Open returns a new empty store, closed by t.Cleanup, and raw SQL access
	// to its database (to tamper with it, or count rows).
	Open func(t testing.TB) (andon.Store, Raw)
}

// Raw runs SQL on a store's database behind its back.
type Raw interface {
	Exec(sql string) error
	Count(sql string) (int, error)
}

// Run runs the suite.
func Run(t *testing.T, b Backend) {
	for _, c := range []struct {
		name string
		test func(*testing.T, Backend)
	}{
		{"TriggerValidation", triggerValidation},
		{"ResolutionNeedsAllThree", resolutionNeedsAllThree},
		{"GateBlocksUntilResolved", gateBlocksUntilResolved},
		{"OriginOpensOnlyOnceWhileOpen", originOpensOnlyOnceWhileOpen},
		{"ConcurrentTriggersAndRacingResolvers", concurrentTriggersAndRacingResolvers},
		{"VerifyDetectsTampering", verifyDetectsTampering},
		{"ReceiptFiles", receiptFiles},
		{"StatsCountOpenAndBlocked", statsCountOpenAndBlocked},
		{"HTTPClientRoundTrip", httpClientRoundTrip},
		{"UnavailableAfterClose", unavailableAfterClose},
		{"IngestIsIdempotentAcrossChunks", ingestIsIdempotentAcrossChunks},
		{"IngestRejectsAnInvalidAndonWhole", ingestRejectsAnInvalidAndonWhole},
		{"StateDocumentsRoundTrip", stateDocumentsRoundTrip},
		{"RetentionKeepsWhatOpenAndonsNeed", retentionKeepsWhatOpenAndonsNeed},
		{"ActionsRoundTrip", actionsRoundTrip},
		{"AnswersOnlyWhatTheChainProves", answersOnlyWhatTheChainProves},
		{"SignedReceipts", signedReceipts},
		{"RichContextIsKeptAndChained", richContext},
		{"OntologyRefsAreIRIs", ontologyRefsAreIRIs},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, b) })
	}
}

func open(t testing.TB, b Backend) (*andon.Ledger, Raw) {
	t.Helper()
	s, raw := b.Open(t)
	return &andon.Ledger{Store: s}, raw
}

// Fix is a complete resolution.
var Fix = andon.Resolution{RootCause: "disk full", FixApplied: "rotated logs", PreventionAdded: "alert at 80%", Resolver: "ana"}

func count(t testing.TB, raw Raw, sql string) int {
	t.Helper()
	n, err := raw.Count(sql)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func triggerValidation(t *testing.T, b Backend) {
	l, _ := open(t, b)
	cases := []struct {
		name string
		in   andon.Trigger
		ok   bool
	}{
		{"a known type and a sku opens an andon", andon.Trigger{Type: andon.TestFailure, SKU: "build-42", Stage: "testing"}, true},
		{"every listed type is accepted", andon.Trigger{Type: andon.SHACLViolation, SKU: "svc", Stage: "testing"}, true},
		{"an unknown type is rejected", andon.Trigger{Type: "bad_vibes", SKU: "svc", Stage: "testing"}, false},
		{"an empty sku is rejected", andon.Trigger{Type: andon.TestFailure, SKU: " ", Stage: "testing"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := l.Trigger(context.Background(), c.in)
			if c.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, c.ok)
			}
			if !c.ok && !errors.Is(err, andon.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if c.ok && (!res.Created || res.Andon.Status != andon.StatusOpen || res.Receipt == nil) {
				t.Fatalf("got %+v", res)
			}
		})
	}
}

func resolutionNeedsAllThree(t *testing.T, b Backend) {
	l, _ := open(t, b)
	ctx := context.Background()
	res, _ := l.Trigger(ctx, andon.Trigger{Type: andon.TestFailure, SKU: "svc", Stage: "testing"})
	for _, r := range []andon.Resolution{{FixApplied: "x", PreventionAdded: "y"}, {RootCause: "x", PreventionAdded: "y"}, {RootCause: "x", FixApplied: "y", PreventionAdded: "  "}} {
		if _, err := l.Resolve(ctx, res.Andon.ID, r); !errors.Is(err, andon.ErrInvalid) {
			t.Fatalf("resolve %+v: err = %v, want ErrInvalid", r, err)
		}
	}
	if _, err := l.Resolve(ctx, "AND-nope", Fix); !errors.Is(err, andon.ErrNotFound) {
		t.Fatalf("unknown id: err = %v", err)
	}
}

func gateBlocksUntilResolved(t *testing.T, b Backend) {
	l, _ := open(t, b)
	ctx := context.Background()
	g, err := l.Gate(ctx, "svc", "deployment")
	if err != nil || !g.Proceed {
		t.Fatalf("empty ledger: %+v %v", g, err)
	}
	a, _ := l.Trigger(ctx, andon.Trigger{Type: andon.TestFailure, SKU: "svc", Stage: "testing"})
	l.Trigger(ctx, andon.Trigger{Type: andon.TestFailure, SKU: "other", Stage: "testing"})
	if g, _ = l.Gate(ctx, "svc", "deployment"); g.Proceed || len(g.Blocking) != 1 || g.Blocking[0].ID != a.Andon.ID {
		t.Fatalf("open andon must block every stage of its sku: %+v", g)
	}
	if _, err := l.Resolve(ctx, a.Andon.ID, Fix); err != nil {
		t.Fatal(err)
	}
	if g, _ = l.Gate(ctx, "svc", "deployment"); !g.Proceed {
		t.Fatalf("resolved andon still blocks: %+v", g)
	}
}

func originOpensOnlyOnceWhileOpen(t *testing.T, b Backend) {
	l, _ := open(t, b)
	ctx := context.Background()
	tr := andon.Trigger{Type: andon.OperatingLimit, SKU: "svc", Stage: "execution", Origin: "svc/ErrorRatioRed/error_ratio"}
	first, _ := l.Trigger(ctx, tr)
	second, _ := l.Trigger(ctx, tr)
	if !first.Created || second.Created || second.Andon.ID != first.Andon.ID {
		t.Fatalf("second trigger with the same origin opened another: %+v / %+v", first, second)
	}
	l.Resolve(ctx, first.Andon.ID, Fix)
	if third, _ := l.Trigger(ctx, tr); !third.Created {
		t.Fatal("after resolution the origin must be able to open a new andon")
	}
}

func concurrentTriggersAndRacingResolvers(t *testing.T, b Backend) {
	l, _ := open(t, b)
	ctx := context.Background()
	var wg sync.WaitGroup
	ids := make([]string, 100)
	for i := range ids {
		wg.Go(func() {
			res, err := l.Trigger(ctx, andon.Trigger{Type: andon.TestFailure, SKU: fmt.Sprintf("sku-%d", i%7), Stage: "testing"})
			if err != nil {
				t.Error(err)
			}
			ids[i] = res.Andon.ID
		})
	}
	wg.Wait()
	list, _ := l.List(ctx, andon.Filter{Limit: 1000})
	if len(list) != 100 {
		t.Fatalf("100 concurrent triggers stored %d andons", len(list))
	}
	var wins, losses sync.Map
	for _, id := range ids[:20] {
		for r := range 5 {
			wg.Go(func() {
				res := Fix
				res.Resolver = fmt.Sprint("resolver-", r)
				_, err := l.Resolve(ctx, id, res)
				switch {
				case err == nil:
					if _, dup := wins.LoadOrStore(id, r); dup {
						t.Errorf("%s resolved twice", id)
					}
				case errors.Is(err, andon.ErrAlreadyResolved):
					losses.Store(fmt.Sprint(id, r), true)
				default:
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	n := 0
	losses.Range(func(any, any) bool { n++; return true })
	if n != 80 {
		t.Fatalf("racing resolvers: %d losers, want 80", n)
	}
	if probs, err := l.Verify(ctx); err != nil || len(probs) != 0 {
		t.Fatalf("chain after concurrency: %v %v", probs, err)
	}
}

func verifyDetectsTampering(t *testing.T, b Backend) {
	cases := []struct {
		name   string
		tamper string
	}{
		{"a changed receipt body is detected", `UPDATE receipts SET body = replace(body, '"sku":"svc"', '"sku":"evil"') WHERE seq = 2`},
		{"a receipt removed from the middle is detected", `DELETE FROM receipts WHERE seq = 2`},
		{"the last receipt removed is detected", `DELETE FROM receipts WHERE seq = (SELECT max(seq) FROM receipts)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, raw := open(t, b)
			ctx := context.Background()
			for i := range 3 {
				a, _ := l.Trigger(ctx, andon.Trigger{Type: andon.TestFailure, SKU: "svc", Stage: andon.DefaultStages[i]})
				if i == 2 {
					l.Resolve(ctx, a.Andon.ID, Fix)
				}
			}
			if probs, _ := l.Verify(ctx); len(probs) != 0 {
				t.Fatalf("untouched chain: %v", probs)
			}
			if err := raw.Exec(c.tamper); err != nil {
				t.Fatal(err)
			}
			if probs, _ := l.Verify(ctx); len(probs) == 0 {
				t.Fatal("tampering not detected")
			}
		})
	}
}

func receiptFiles(t *testing.T, b Backend) {
	l, _ := open(t, b)
	l.ReceiptsDir = t.TempDir()
	ctx := context.Background()
	a, _ := l.Trigger(ctx, andon.Trigger{Type: andon.TestFailure, SKU: "svc", Stage: "testing"})
	l.Resolve(ctx, a.Andon.ID, Fix)
	if probs, err := l.Verify(ctx); err != nil || len(probs) != 0 {
		t.Fatalf("%v %v", probs, err)
	}
	if err := os.WriteFile(filepath.Join(l.ReceiptsDir, "RCP-000000000001.json"), []byte(`{"hash":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if probs, _ := l.Verify(ctx); len(probs) != 1 {
		t.Fatalf("changed receipt file: problems %v", probs)
	}
}

// The gauges read the store: open andons by sku and type, and the seconds a
// sku has been blocked, which keep counting while an andon is open.
func statsCountOpenAndBlocked(t *testing.T, b Backend) {
	l, _ := open(t, b)
	ctx := context.Background()
	t0 := time.Now()
	a, _ := l.Trigger(ctx, andon.Trigger{Type: andon.SLOBurn, SKU: "svc", Stage: "testing"})
	l.Trigger(ctx, andon.Trigger{Type: andon.SLOBurn, SKU: "svc", Stage: "testing"})
	l.Trigger(ctx, andon.Trigger{Type: andon.TestFailure, SKU: "build", Stage: "testing"})
	st, err := l.Store.Stats(ctx, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	open := map[string]int{}
	for _, c := range st.Open {
		open[c.SKU+"/"+string(c.Type)] = c.Count
	}
	if open["svc/slo_burn"] != 2 || open["build/test_failure"] != 1 || len(open) != 2 {
		t.Fatalf("open counts %v", open)
	}
	if s := st.Blocked["svc"]; s < 3500 || s > 3700 {
		t.Fatalf("svc blocked %v s an hour after its first andon", s)
	}
	l.Resolve(ctx, a.Andon.ID, Fix)
	if st, _ = l.Store.Stats(ctx, t0.Add(time.Hour)); len(st.Open) != 2 || st.Blocked["svc"] < 3500 {
		t.Fatalf("one of two resolved: %+v", st)
	}
}

func httpClientRoundTrip(t *testing.T, b Backend) {
	l, _ := open(t, b)
	srv := httptest.NewServer(l.Handler())
	defer srv.Close()
	var c andon.API = &andon.Client{URL: srv.URL}
	ctx := context.Background()
	if _, err := c.Trigger(ctx, andon.Trigger{Type: "nope", SKU: "svc", Stage: "testing"}); !errors.Is(err, andon.ErrInvalid) {
		t.Fatalf("unknown type over HTTP: %v", err)
	} else if n := strings.Count(err.Error(), andon.ErrInvalid.Error()); n != 1 {
		t.Errorf("%q says %q %d times, want once", err, andon.ErrInvalid, n)
	}
	res, err := c.Trigger(ctx, andon.Trigger{Type: andon.TestFailure, SKU: "svc", Stage: "testing", Details: map[string]any{"job": "7"}})
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := c.Gate(ctx, "svc", "deployment"); g.Proceed {
		t.Fatal("gate over HTTP lets a blocked sku proceed")
	}
	if _, err := c.Resolve(ctx, res.Andon.ID, Fix); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve(ctx, res.Andon.ID, Fix); !errors.Is(err, andon.ErrAlreadyResolved) {
		t.Fatalf("second resolve over HTTP: %v", err)
	}
	a, rs, err := c.Show(ctx, res.Andon.ID)
	if err != nil || a.Status != andon.StatusResolved || len(rs) != 2 || a.Details["job"] != "7" {
		t.Fatalf("show: %+v %v %v", a, rs, err)
	}
	if probs, err := c.Verify(ctx); err != nil || len(probs) != 0 {
		t.Fatalf("verify: %v %v", probs, err)
	}
	if list, _ := c.List(ctx, andon.Filter{SKU: "svc"}); len(list) != 1 {
		t.Fatalf("list: %v", list)
	}
}

func unavailableAfterClose(t *testing.T, b Backend) {
	l, _ := open(t, b)
	l.Store.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := l.Trigger(ctx, andon.Trigger{Type: andon.TestFailure, SKU: "svc", Stage: "testing"}); !errors.Is(err, andon.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if err := l.Store.Ping(ctx); !errors.Is(err, andon.ErrUnavailable) {
		t.Fatalf("ping = %v", err)
	}
}

// A row deleted or edited behind the ledger's back no longer matches the
// receipts that prove it: the gate refuses to answer (ErrTampered) instead
// of letting the sku proceed, and verify names the problem.
func answersOnlyWhatTheChainProves(t *testing.T, b Backend) {
	l, raw := open(t, b)
	ctx := context.Background()
	a, _ := l.Trigger(ctx, andon.Trigger{Type: andon.TestFailure, SKU: "svc", Stage: "testing"})
	if g, err := l.Gate(ctx, "svc", "deployment"); err != nil || g.Proceed {
		t.Fatalf("untouched: %+v %v", g, err)
	}
	if err := raw.Exec(`DELETE FROM andons WHERE id = '` + a.Andon.ID + `'`); err != nil {
		t.Fatal(err)
	}
	if g, err := l.Gate(ctx, "svc", "deployment"); !errors.Is(err, andon.ErrTampered) {
		t.Fatalf("gate after the open andon's row was deleted: %+v %v; want ErrTampered", g, err)
	}
	if probs, err := l.Verify(ctx); err != nil || len(probs) == 0 {
		t.Fatalf("verify after the row was deleted: %v %v", probs, err)
	}
}

// Receipts written with a signing key verify with its public key; once the
// chain is signed, a writer without the key is refused (nothing written).
func signedReceipts(t *testing.T, b Backend) {
	key := filepath.Join(t.TempDir(), "andon.key")
	if _, err := andon.GenerateKey(key); err != nil {
		t.Fatal(err)
	}
	sg, err := andon.LoadSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := andon.LoadKeyring([]string{key + ".pub"})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := open(t, b)
	l.Store.SetSigner(sg)
	l.Keys = keys
	ctx := context.Background()
	a, err := l.Trigger(ctx, andon.Trigger{Type: andon.TestFailure, SKU: "svc", Stage: "testing"})
	if err != nil || a.Receipt.Signature == "" || a.Receipt.KeyID != sg.KeyID {
		t.Fatalf("signed trigger: %+v %v", a.Receipt, err)
	}
	if _, err := l.Resolve(ctx, a.Andon.ID, Fix); err != nil {
		t.Fatal(err)
	}
	if probs, err := l.Verify(ctx); err != nil || len(probs) > 0 {
		t.Fatalf("verify with the public key: %v %v", probs, err)
	}
	l.Store.SetSigner(nil)
	if _, err := l.Trigger(ctx, andon.Trigger{Type: andon.TestFailure, SKU: "other", Stage: "testing"}); !errors.Is(err, andon.ErrKeyRequired) {
		t.Fatalf("unsigned trigger on a signed chain: %v, want ErrKeyRequired", err)
	}
	if list, _ := l.List(ctx, andon.Filter{SKU: "other"}); len(list) != 0 {
		t.Fatalf("the refused trigger wrote %v", list)
	}
}
