package andon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// initTest creates a new ledger file at path, as 'andon init' does.
func initTest(t testing.TB, path string) string {
	t.Helper()
	if _, err := InitSQLite(path, time.Now()); err != nil {
		t.Fatal(err)
	}
	return path
}

func openTest(t testing.TB) (*Ledger, string) {
	t.Helper()
	path := initTest(t, filepath.Join(t.TempDir(), "andon.db"))
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &Ledger{Store: s}, path
}

var fix = Resolution{RootCause: "disk full", FixApplied: "rotated logs", PreventionAdded: "alert at 80%", Resolver: "ana"}

func TestTriggerValidation(t *testing.T) {
	l, _ := openTest(t)
	cases := []struct {
		name string
		in   Trigger
		ok   bool
	}{
		{"a known type and a sku opens an andon", Trigger{Type: TestFailure, SKU: "build-42", Stage: "testing"}, true},
		{"every listed type is accepted", Trigger{Type: SHACLViolation, SKU: "svc", Stage: "testing"}, true},
		{"an unknown type is rejected", Trigger{Type: "bad_vibes", SKU: "svc", Stage: "testing"}, false},
		{"an empty sku is rejected", Trigger{Type: TestFailure, SKU: " ", Stage: "testing"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := l.Trigger(context.Background(), c.in)
			if c.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, c.ok)
			}
			if !c.ok && !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if c.ok && (!res.Created || res.Andon.Status != StatusOpen || res.Receipt == nil) {
				t.Fatalf("got %+v", res)
			}
		})
	}
}

func TestResolutionNeedsAllThree(t *testing.T) {
	l, _ := openTest(t)
	ctx := context.Background()
	res, _ := l.Trigger(ctx, Trigger{Type: TestFailure, SKU: "svc", Stage: "testing"})
	for _, r := range []Resolution{{FixApplied: "x", PreventionAdded: "y"}, {RootCause: "x", PreventionAdded: "y"}, {RootCause: "x", FixApplied: "y", PreventionAdded: "  "}} {
		if _, err := l.Resolve(ctx, res.Andon.ID, r); !errors.Is(err, ErrInvalid) {
			t.Fatalf("resolve %+v: err = %v, want ErrInvalid", r, err)
		}
	}
	if _, err := l.Resolve(ctx, "AND-nope", fix); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: err = %v", err)
	}
}

func TestGateBlocksUntilResolved(t *testing.T) {
	l, _ := openTest(t)
	ctx := context.Background()
	g, err := l.Gate(ctx, "svc", "deployment")
	if err != nil || !g.Proceed {
		t.Fatalf("empty ledger: %+v %v", g, err)
	}
	a, _ := l.Trigger(ctx, Trigger{Type: TestFailure, SKU: "svc", Stage: "testing"})
	l.Trigger(ctx, Trigger{Type: TestFailure, SKU: "other", Stage: "testing"})
	if g, _ = l.Gate(ctx, "svc", "deployment"); g.Proceed || len(g.Blocking) != 1 || g.Blocking[0].ID != a.Andon.ID {
		t.Fatalf("open andon must block every stage of its sku: %+v", g)
	}
	if _, err := l.Resolve(ctx, a.Andon.ID, fix); err != nil {
		t.Fatal(err)
	}
	if g, _ = l.Gate(ctx, "svc", "deployment"); !g.Proceed {
		t.Fatalf("resolved andon still blocks: %+v", g)
	}
}

func TestOriginOpensOnlyOnceWhileOpen(t *testing.T) {
	l, _ := openTest(t)
	ctx := context.Background()
	tr := Trigger{Type: OperatingLimit, SKU: "svc", Stage: "execution", Origin: "svc/ErrorRatioRed/error_ratio"}
	first, _ := l.Trigger(ctx, tr)
	second, _ := l.Trigger(ctx, tr)
	if !first.Created || second.Created || second.Andon.ID != first.Andon.ID {
		t.Fatalf("second trigger with the same origin opened another: %+v / %+v", first, second)
	}
	l.Resolve(ctx, first.Andon.ID, fix)
	if third, _ := l.Trigger(ctx, tr); !third.Created {
		t.Fatal("after resolution the origin must be able to open a new andon")
	}
}

func TestConcurrentTriggersAndRacingResolvers(t *testing.T) {
	l, _ := openTest(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	ids := make([]string, 100)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := l.Trigger(ctx, Trigger{Type: TestFailure, SKU: fmt.Sprintf("sku-%d", i%7), Stage: "testing"})
			if err != nil {
				t.Error(err)
			}
			ids[i] = res.Andon.ID
		}()
	}
	wg.Wait()
	list, _ := l.List(ctx, Filter{Limit: 1000})
	if len(list) != 100 {
		t.Fatalf("100 concurrent triggers stored %d andons", len(list))
	}
	var wins, losses sync.Map
	for _, id := range ids[:20] {
		for r := range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := fix
				res.Resolver = fmt.Sprint("resolver-", r)
				_, err := l.Resolve(ctx, id, res)
				switch {
				case err == nil:
					if _, dup := wins.LoadOrStore(id, r); dup {
						t.Errorf("%s resolved twice", id)
					}
				case errors.Is(err, ErrAlreadyResolved):
					losses.Store(fmt.Sprint(id, r), true)
				default:
					t.Error(err)
				}
			}()
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

func TestVerifyDetectsTampering(t *testing.T) {
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
			l, path := openTest(t)
			ctx := context.Background()
			for i := range 3 {
				a, _ := l.Trigger(ctx, Trigger{Type: TestFailure, SKU: "svc", Stage: DefaultStages[i]})
				if i == 2 {
					l.Resolve(ctx, a.Andon.ID, fix)
				}
			}
			if probs, _ := l.Verify(ctx); len(probs) != 0 {
				t.Fatalf("untouched chain: %v", probs)
			}
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(c.tamper); err != nil {
				t.Fatal(err)
			}
			if probs, _ := l.Verify(ctx); len(probs) == 0 {
				t.Fatal("tampering not detected")
			}
		})
	}
}

func TestReceiptFiles(t *testing.T) {
	l, _ := openTest(t)
	l.ReceiptsDir = t.TempDir()
	ctx := context.Background()
	a, _ := l.Trigger(ctx, Trigger{Type: TestFailure, SKU: "svc", Stage: "testing"})
	l.Resolve(ctx, a.Andon.ID, fix)
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

func TestMetricsReadTheStore(t *testing.T) {
	l, _ := openTest(t)
	reg := prometheus.NewRegistry()
	l.Metrics = NewMetrics(reg, l.Store)
	ctx := context.Background()
	a, _ := l.Trigger(ctx, Trigger{Type: SLOBurn, SKU: "svc", Stage: "testing"})
	l.Trigger(ctx, Trigger{Type: SLOBurn, SKU: "svc", Stage: "testing"})
	if got := testutil.ToFloat64(l.Metrics.triggered.WithLabelValues("slo_burn")); got != 2 {
		t.Fatalf("triggered = %v", got)
	}
	n, err := testutil.GatherAndCount(reg, "andon_open", "andon_blocked_seconds_total")
	if err != nil || n != 2 {
		t.Fatalf("open+blocked series = %d, %v", n, err)
	}
	l.Resolve(ctx, a.Andon.ID, fix)
	if got := testutil.CollectAndCount(l.Metrics.timeToResolve); got != 1 {
		t.Fatalf("time to resolve observations: %d", got)
	}
}

func TestHTTPClientRoundTrip(t *testing.T) {
	l, path := openTest(t)
	srv := httptest.NewServer(l.Handler())
	defer srv.Close()
	var c API = &Client{URL: srv.URL}
	ctx := context.Background()
	if _, err := c.Trigger(ctx, Trigger{Type: "nope", SKU: "svc", Stage: "testing"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown type over HTTP: %v", err)
	} else if n := strings.Count(err.Error(), ErrInvalid.Error()); n != 1 {
		t.Errorf("%q says %q %d times, want once", err, ErrInvalid, n)
	}
	res, err := c.Trigger(ctx, Trigger{Type: TestFailure, SKU: "svc", Stage: "testing", Details: map[string]any{"job": "7"}})
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := c.Gate(ctx, "svc", "deployment"); g.Proceed {
		t.Fatal("gate over HTTP lets a blocked sku proceed")
	}
	if _, err := c.Resolve(ctx, res.Andon.ID, fix); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve(ctx, res.Andon.ID, fix); !errors.Is(err, ErrAlreadyResolved) {
		t.Fatalf("second resolve over HTTP: %v", err)
	}
	a, rs, err := c.Show(ctx, res.Andon.ID)
	if err != nil || a.Status != StatusResolved || len(rs) != 2 || a.Details["job"] != "7" {
		t.Fatalf("show: %+v %v %v", a, rs, err)
	}
	if probs, err := c.Verify(ctx); err != nil || len(probs) != 0 {
		t.Fatalf("verify: %v %v", probs, err)
	}
	if list, _ := c.List(ctx, Filter{SKU: "svc"}); len(list) != 1 {
		t.Fatalf("list: %v", list)
	}
	// A ledger whose table no longer matches its chain answers ErrTampered over HTTP too.
	c.Trigger(ctx, Trigger{Type: TestFailure, SKU: "svc", Stage: "testing"})
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DELETE FROM andons WHERE status = 'open'`); err != nil {
		t.Fatal(err)
	}
	if g, err := c.Gate(ctx, "svc", "deployment"); !errors.Is(err, ErrTampered) {
		t.Fatalf("gate over HTTP on a tampered ledger: %+v %v; want ErrTampered", g, err)
	}
}

// The ledger API reads bodies strictly: what can never be valid is refused
// with its own status and opens nothing.
func TestAPIRefusesBadBodies(t *testing.T) {
	l, _ := openTest(t)
	srv := httptest.NewServer(l.Handler())
	defer srv.Close()
	good := `{"type":"test_failure","sku":"svc"}`
	for _, c := range []struct {
		name, contentType, body string
		want                    int
	}{
		{"data after the object", "application/json", good + `{}`, http.StatusBadRequest},
		{"an unknown field", "application/json", `{"type":"test_failure","sku":"svc","skew":1}`, http.StatusBadRequest},
		{"a body over 1 MiB", "application/json", `{"type":"test_failure","sku":"` + strings.Repeat("x", 1<<20) + `"}`, http.StatusRequestEntityTooLarge},
		{"a form", "application/x-www-form-urlencoded", good, http.StatusUnsupportedMediaType},
		{"null", "application/json", `null`, http.StatusBadRequest},
	} {
		resp, err := http.Post(srv.URL+"/api/v1/andons", c.contentType, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}
	if list, _ := l.List(context.Background(), Filter{}); len(list) != 0 {
		t.Fatalf("bad bodies opened %d andons", len(list))
	}
	a, _ := l.Trigger(context.Background(), Trigger{Type: TestFailure, SKU: "svc", Stage: "testing"})
	resp, err := http.Post(srv.URL+"/api/v1/andons/"+a.Andon.ID+"/resolve", "application/json", strings.NewReader("null"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("resolve with a null body: status %d, want 400", resp.StatusCode)
	}
}

// Query parameters that do not parse are 400, never silently the default.
func TestAPIRefusesBadQueryParameters(t *testing.T) {
	l, _ := openTest(t)
	srv := httptest.NewServer(l.Handler())
	defer srv.Close()
	for q, want := range map[string]int{
		"/api/v1/andons?limit=-1":                              http.StatusBadRequest,
		"/api/v1/andons?limit=ten":                             http.StatusBadRequest,
		"/api/v1/andons?status=bogus":                          http.StatusBadRequest,
		"/api/v1/andons?type=bad_vibes":                        http.StatusBadRequest,
		"/api/v1/andons?sku=a%E2%80%8Bb":                       http.StatusBadRequest,
		"/api/v1/actions?result=maybe":                         http.StatusBadRequest,
		"/api/v1/actions?limit=-5":                             http.StatusBadRequest,
		"/api/v1/gate?sku=%1B%5B2J":                            http.StatusBadRequest,
		"/api/v1/andons?limit=5&status=open&type=test_failure": http.StatusOK,
		"/api/v1/actions?result=applied&limit=0":               http.StatusOK,
	} {
		resp, err := http.Get(srv.URL + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d", q, resp.StatusCode, want)
		}
	}
}

func TestStoreUnavailableAfterClose(t *testing.T) {
	l, _ := openTest(t)
	l.Store.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := l.Trigger(ctx, Trigger{Type: TestFailure, SKU: "svc", Stage: "testing"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if err := l.Store.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ping = %v", err)
	}
}

func FuzzParseDetails(f *testing.F) {
	for _, s := range []string{"a=b", "=x", "k=v=w", "", "noeq"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseDetails([]string{s})
		if err == nil {
			for k := range m {
				if k == "" {
					t.Fatal("empty key accepted")
				}
			}
		}
	})
}

func TestCloseDoesNotReplayTheLastBatch(t *testing.T) {
	path := initTest(t, filepath.Join(t.TempDir(), "andon.db"))
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	l := &Ledger{Store: s}
	l.Trigger(context.Background(), Trigger{Type: TestFailure, SKU: "svc", Stage: "testing"})
	s.Close()
	if s, err = OpenSQLite(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if list, _, _ := s.List(context.Background(), Filter{}); len(list) != 1 {
		t.Fatalf("one trigger then Close stored %d andons", len(list))
	}
}
