package webhook

import (
	"bytes"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/andon-sre/andon/internal/pinned"
)

var update = flag.Bool("update", false, "rewrite testdata/alertmanager-*.json with what the real Alertmanager binaries send")

// fixtureAlert is the alert of the fixtures' notification: fixed labels and times, so a release
// sends the same bytes every time. One alert: with a startsAt older than group_wait, Alertmanager
// flushes a new group at once, so a second alert may or may not make the first notification.
var fixtureAlert = map[string]any{
	"labels": map[string]string{"alertname": "ErlmcpErrorRatioRed", "service": "erlmcp", "signal": "error_ratio", "level": "red",
		"severity": "critical", "action": "page,shed,reject_new,andon", "instance": "i0"},
	"annotations":  map[string]string{"summary": "Error ratio above 0.5%.", "shed_fraction": "0.5", "shed_tiers": "3,2"},
	"startsAt":     "2026-07-01T12:00:00Z",
	"generatorURL": "http://prometheus.test:9090/graph",
}

// TestAlertmanagerPayloadFixtures runs each real Alertmanager binary, lets it send one
// notification of fixtureAlert to a loopback endpoint, and compares the body byte for byte with
// testdata/alertmanager-<version>.json (-update rewrites it). ANDON_EXTRA_ALERTMANAGER names more
// binaries (space-separated paths), e.g. a v0.34.1 built with tools/build-module.sh.
func TestAlertmanagerPayloadFixtures(t *testing.T) {
	bins := map[string]func(*testing.T) string{}
	for _, name := range alertmanagers {
		bins[name] = func(t *testing.T) string { return pinned.Require(t, name) }
	}
	for _, p := range strings.Fields(os.Getenv("ANDON_EXTRA_ALERTMANAGER")) {
		bins[p] = func(*testing.T) string { return p }
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range bins {
			if !yield(k) {
				return
			}
		}
	}) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			bin := bins[name](t)
			version := alertmanagerVersion(t, bin)
			got := captureNotification(t, bin)
			fixture := filepath.Join("testdata", "alertmanager-"+version+".json")
			if *update {
				if err := os.WriteFile(fixture, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(fixture)
			if err != nil {
				t.Fatalf("%v: capture it with `go test ./webhook -run TestAlertmanagerPayloadFixtures -update`", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Alertmanager %s sends a different body than %s (rerun with -update if the release changed it):\ngot  %s\nwant %s", version, fixture, got, want)
			}
		})
	}
}

var versionRE = regexp.MustCompile(`version (\d+\.\d+\.\d+)`)

func alertmanagerVersion(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "--version").CombinedOutput()
	m := versionRE.FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("%s --version: %v\n%s", bin, err, out)
	}
	return "v" + string(m[1])
}

// captureNotification returns the first notification body Alertmanager bin sends for fixtureAlert.
func captureNotification(t *testing.T, bin string) []byte {
	t.Helper()
	bodies := make(chan []byte, 8)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
	}))
	defer sink.Close()
	amAddr := startAlertmanager(t, bin, fmt.Sprintf(`route:
  receiver: andon
  group_by: [alertname, service]
  group_wait: 100ms
  routes:
    - receiver: andon
      matchers: ['service="erlmcp"']
receivers:
  - name: andon
    webhook_configs:
      - url: %s/webhook
        send_resolved: true
`, sink.URL), "--web.external-url=http://alertmanager.test:9093")
	postAlerts(t, amAddr, fixtureAlert)
	select {
	case b := <-bodies:
		return b
	case <-time.After(20 * time.Second):
		t.Fatal("no notification from Alertmanager within 20s")
		return nil
	}
}

// Every captured body decodes with no unknown field, and the receiver records it.
func TestAlertmanagerFixturesAreRecorded(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "alertmanager-v*.json"))
	if len(files) < 2 {
		t.Fatalf("fixtures %v: want the oldest and the newest release's", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Decode(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Unknown) > 0 {
				t.Fatalf("fields of a supported release not known: %v", m.Unknown)
			}
			s, url := testServer(t, "")
			if code, a := post(t, url, "", body, "application/json"); code != http.StatusOK || a.Alerts != 1 || len(a.Andons) != 1 {
				t.Fatalf("status %d, ack %+v", code, a)
			}
			if got := storedReasons(t, s); len(got) != 1 || got[0] != m.NotificationReason {
				t.Fatalf("stored notification reasons %q, want [%q]", got, m.NotificationReason)
			}
		})
	}
}

// A notification shaped like Alertmanager 0.34's, with one more field at the top level and in an
// alert, as a later release may send: recorded (200), the reason kept, the unknown fields counted.
func TestUnknownFieldsAreToleratedAndCounted(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "alertmanager-v0.34.1.json"))
	if err != nil {
		t.Fatal(err)
	}
	body = bytes.Replace(body, []byte(`{"receiver"`), []byte(`{"invented":{"x":[1,2]},"receiver"`), 1)
	body = bytes.Replace(body, []byte(`"fingerprint"`), []byte(`"silencedBy":[],"fingerprint"`), 1)
	m, err := Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"invented", "alerts[].silencedBy"}; !slices.Equal(m.Unknown, want) {
		t.Fatalf("unknown fields %q, want %q", m.Unknown, want)
	}
	if m.NotificationReason == "" || m.RouteLabels == nil {
		t.Fatalf("known 0.32+ fields not kept: reason %q, routeLabels %v", m.NotificationReason, m.RouteLabels)
	}
	s, url := testServer(t, "")
	if code, a := post(t, url, "", body, "application/json"); code != http.StatusOK || a.Alerts != 1 || len(a.Andons) != 1 {
		t.Fatalf("status %d, ack %+v", code, a)
	}
	if got := storedReasons(t, s); len(got) != 1 || got[0] != "first notification" {
		t.Fatalf("stored notification reasons %q", got)
	}
	for in, want := range map[bool]float64{false: 1, true: 1} {
		if got := testutil.ToFloat64(s.unknown[in]); got != want {
			t.Fatalf("andon_webhook_unknown_fields_total{in alert: %v} = %v, want %v", in, got, want)
		}
	}
}

// storedReasons is the notification_reason column of every recorded alert.
func storedReasons(t *testing.T, s *Server) []string {
	t.Helper()
	db, err := sql.Open("sqlite", s.cfg.Load().DB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT notification_reason FROM alerts ORDER BY fingerprint`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// BenchmarkDecode: the strict fast path (a payload of known fields, as every tested release sends)
// and the tolerant path (one unknown field at the top level and one in the alert).
func BenchmarkDecode(b *testing.B) {
	known, err := os.ReadFile(filepath.Join("testdata", "alertmanager-v0.35.0.json"))
	if err != nil {
		b.Fatal(err)
	}
	unknown := bytes.Replace(known, []byte(`{"receiver"`), []byte(`{"invented":1,"receiver"`), 1)
	unknown = bytes.Replace(unknown, []byte(`"fingerprint"`), []byte(`"silencedBy":[],"fingerprint"`), 1)
	for name, body := range map[string][]byte{"known_fields": known, "unknown_fields": unknown} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(bytes.NewReader(body)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
