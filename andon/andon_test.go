package andon

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
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
