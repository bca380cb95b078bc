package webhook

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/andon-sre/andon/andon"
	"github.com/andon-sre/andon/andon/stores"
	"github.com/andon-sre/andon/internal/pgtest"
)

// newLedger creates a ledger file, as 'andon init' does, and returns its path.
func newLedger(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "andon.db")
	if _, err := andon.InitSQLite(path, time.Now()); err != nil {
		t.Fatal(err)
	}
	return path
}

// testServer runs the real Server (real SQLite file) behind a loopback
// listener; without a bearer token in config, it runs insecure_no_auth.
func testServer(t testing.TB, config string) (*Server, string) {
	t.Helper()
	if !strings.Contains(config, "bearer_token") {
		config += "\ninsecure_no_auth: true\n"
	}
	cfg, err := ParseConfig([]byte("db: " + newLedger(t) + "\n" + config))
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, cfg)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { srv.Close(); s.Close() })
	return s, srv.URL
}

// newServer opens the store cfg names, as Run does, and builds the server on it.
func newServer(t testing.TB, cfg *Config) *Server {
	t.Helper()
	store, err := stores.Open(context.Background(), cfg.DB, true)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func payload(groupKey string, n int, status string) *Message {
	start := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	m := &Message{Version: "4", GroupKey: groupKey, Status: status, Receiver: "andon", ExternalURL: "http://am",
		GroupLabels: map[string]string{"service": "svc"}, CommonLabels: map[string]string{"service": "svc"}, CommonAnnotations: map[string]string{}}
	for i := range n {
		m.Alerts = append(m.Alerts, Alert{Status: status, StartsAt: start, Fingerprint: fmt.Sprintf("%016x", i+1),
			Labels:      map[string]string{"alertname": "SvcErrorRatioRed", "service": "svc", "signal": "error_ratio", "level": "red", "severity": "critical", "action": "page,andon", "instance": fmt.Sprint("i", i)},
			Annotations: map[string]string{"summary": "errors above 0.5%", "andon_type": "operating_limit"}})
	}
	return m
}

func encode(m *Message) []byte {
	b, _ := json.Marshal(m)
	return b
}

func post(t testing.TB, url, token string, body []byte, contentType string) (int, ack) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/webhook", bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer drain(resp)
	var a ack
	_ = json.NewDecoder(resp.Body).Decode(&a)
	return resp.StatusCode, a
}

func countAlerts(t testing.TB, s *Server) (alerts, andons int) {
	t.Helper()
	db, err := sql.Open("sqlite", s.cfg.Load().DB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT (SELECT count(*) FROM alerts), (SELECT count(*) FROM andons)`).Scan(&alerts, &andons); err != nil {
		t.Fatal(err)
	}
	return alerts, andons
}

func TestBadInputIsRejectedAndNothingStored(t *testing.T) {
	good := encode(payload("{}:{service=\"svc\"}", 1, "firing"))
	big := payload("g", 1, "firing")
	big.Alerts[0].Annotations["description"] = strings.Repeat("x", 5000)
	noFP := payload("g", 1, "firing")
	noFP.Alerts[0].Fingerprint = ""
	cases := []struct {
		name        string
		token       string
		contentType string
		body        []byte
		want        int
	}{
		{"malformed JSON is 400", "tok", "application/json", []byte(`{"version":"4",`), http.StatusBadRequest},
		{"a wrong version is 400", "tok", "application/json", bytes.Replace(good, []byte(`"version":"4"`), []byte(`"version":"3"`), 1), http.StatusBadRequest},
		{"a missing fingerprint is 400", "tok", "application/json", encode(noFP), http.StatusBadRequest},
		{"a missing groupKey is 400, even with an unknown field", "tok", "application/json", bytes.Replace(good, []byte(`"groupKey":`), []byte(`"surprise":1,"groupkey_":`), 1), http.StatusBadRequest},
		{"a missing startsAt is 400", "tok", "application/json", bytes.Replace(good, []byte(`"startsAt":`), []byte(`"startedAt":`), 1), http.StatusBadRequest},
		{"a known field of the wrong type is 400", "tok", "application/json", bytes.Replace(good, []byte(`"status":"firing"`), []byte(`"status":1`), 1), http.StatusBadRequest},
		{"trailing data is 400", "tok", "application/json", append(append([]byte{}, good...), []byte(`{}`)...), http.StatusBadRequest},
		{"an empty alert list is 400", "tok", "application/json", []byte(`{"version":"4","groupKey":"g","status":"firing","receiver":"r","alerts":[]}`), http.StatusBadRequest},
		{"a body over max_body_bytes is 413", "tok", "application/json", encode(big), http.StatusRequestEntityTooLarge},
		{"a non-JSON content type is 415", "tok", "text/plain", good, http.StatusUnsupportedMediaType},
		{"a missing content type is 415", "tok", "", good, http.StatusUnsupportedMediaType},
		{"a missing token is 401", "", "application/json", good, http.StatusUnauthorized},
		{"a wrong token is 401", "nope", "application/json", good, http.StatusUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, url := testServer(t, "bearer_token: tok\nmax_body_bytes: 4096\n")
			if code, _ := post(t, url, c.token, c.body, c.contentType); code != c.want {
				t.Fatalf("status %d, want %d", code, c.want)
			}
			if alerts, andons := countAlerts(t, s); alerts != 0 || andons != 0 {
				t.Fatalf("rejected input stored %d alerts, %d andons", alerts, andons)
			}
		})
	}
}

func TestChunkedBodyOverLimitIs413(t *testing.T) {
	s, url := testServer(t, "max_body_bytes: 2048\n")
	big := payload("g", 20, "firing")
	// An io.Reader of unknown length is sent chunked, without Content-Length.
	req, _ := http.NewRequest(http.MethodPost, url+"/webhook", io.MultiReader(bytes.NewReader(encode(big))))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	drain(resp)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || req.ContentLength != 0 {
		t.Fatalf("status %d (content length %d), want 413", resp.StatusCode, req.ContentLength)
	}
	if alerts, _ := countAlerts(t, s); alerts != 0 {
		t.Fatalf("stored %d alerts", alerts)
	}
}

func TestDuplicatesOpenOneAndon(t *testing.T) {
	for _, concurrent := range []bool{false, true} {
		t.Run(fmt.Sprint("concurrent=", concurrent), func(t *testing.T) {
			s, url := testServer(t, "")
			body := encode(payload(`{}/{}:{service="svc"}`, 3, "firing"))
			var wg sync.WaitGroup
			var mu sync.Mutex
			dups := 0
			for range 10 {
				send := func() {
					code, a := post(t, url, "", body, "application/json")
					if code != http.StatusOK {
						t.Errorf("status %d", code)
					}
					mu.Lock()
					dups += a.Duplicates
					mu.Unlock()
				}
				if concurrent {
					wg.Add(1)
					go func() { defer wg.Done(); send() }()
				} else {
					send()
				}
			}
			wg.Wait()
			alerts, andons := countAlerts(t, s)
			if alerts != 3 || andons != 1 || dups != 27 {
				t.Fatalf("10 identical notifications of 3 alerts: %d alerts stored, %d andons, %d duplicates; want 3, 1, 27", alerts, andons, dups)
			}
			// "resolved" from Alertmanager is recorded but does not resolve the andon.
			if code, _ := post(t, url, "", encode(payload(`{}/{}:{service="svc"}`, 3, "resolved")), "application/json"); code != 200 {
				t.Fatal(code)
			}
			if g, _ := s.Ledger().Gate(context.Background(), "svc", "deployment"); g.Proceed {
				t.Fatal("a resolved alert released the andon; only a human may")
			}
		})
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	s, url := testServer(t, "")
	post(t, url, "", encode(payload("g", 2, "firing")), "application/json")
	for path, want := range map[string]string{
		"/-/healthy": "Healthy",
		"/-/ready":   "Ready",
		"/metrics":   `andon_webhook_alerts_received_total{status="firing"} 2`,
	} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		drain(resp)
		if resp.StatusCode != 200 || !strings.Contains(b.String(), want) {
			t.Fatalf("%s: %d %q, want %q", path, resp.StatusCode, b.String(), want)
		}
	}
	if !strings.Contains(metricsText(t, url), `andon_open{sku="svc",type="operating_limit"} 1`) {
		t.Fatal("andon_open missing")
	}
	s.ledger.Store.Close()
	if code, _ := post(t, url, "", encode(payload("g2", 1, "firing")), "application/json"); code != http.StatusServiceUnavailable {
		t.Fatalf("closed store: status %d, want 503", code)
	}
	if resp, _ := http.Get(url + "/-/ready"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("ready with a closed store: %d", resp.StatusCode)
	}
}

func metricsText(t testing.TB, url string) string {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer drain(resp)
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return b.String()
}

func TestReloadSwapsToken(t *testing.T) {
	s, url := testServer(t, "bearer_token: old\n")
	body := encode(payload("g", 1, "firing"))
	cfg, _ := ParseConfig([]byte("db: " + s.cfg.Load().DB + "\nbearer_token: new\n"))
	s.Reload(cfg)
	if code, _ := post(t, url, "old", body, "application/json"); code != http.StatusUnauthorized {
		t.Fatalf("old token after reload: %d", code)
	}
	if code, _ := post(t, url, "new", body, "application/json"); code != http.StatusOK {
		t.Fatalf("new token after reload: %d", code)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	emptyFile, blankFile := filepath.Join(dir, "empty"), filepath.Join(dir, "blank")
	os.WriteFile(emptyFile, nil, 0o600)
	os.WriteFile(blankFile, []byte(" \n\t\n"), 0o600)
	cases := []struct{ name, yaml, want string }{
		{"unknown keys fail", "dbb: x", "field dbb not found"},
		{"an invalid inline actuator policy fails", "bearer_token: t\nactuator: {defaults: {max_shed_fraction: 2}}", "max_shed_fraction"},
		{"inline and file policy together fail", "bearer_token: t\nactuator: {dry_run: true}\nactuator_file: x.yaml", "not both"},
		{"a tiny body limit fails", "bearer_token: t\nmax_body_bytes: 10", "too small"},
		{"no authentication at all fails", "db: x.db", "needs authentication"},
		{"an empty config fails", "{}", "needs authentication"},
		{"an empty token file fails", "bearer_token_file: " + emptyFile, "is empty"},
		{"a whitespace-only token file fails", "bearer_token_file: " + blankFile, "is empty"},
		{"an unreadable token file fails", "bearer_token_file: /nonexistent/token", "bearer_token_file"},
		{"a token and insecure_no_auth together fail", "bearer_token: t\ninsecure_no_auth: true", "choose one"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ParseConfig([]byte(c.yaml)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		childMain()
		return
	}
	os.Exit(pgtest.Main(m))
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// drain reads the body to its end before closing it, so the connection is
// reused instead of piling up sockets in TIME_WAIT.
func drain(resp *http.Response) {
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// The web config file (exporter-toolkit: TLS, mTLS, basic auth) wraps every endpoint.
func TestWebConfigBasicAuth(t *testing.T) {
	dir := t.TempDir()
	webCfg := filepath.Join(dir, "web.yml")
	// bcrypt of "s3cret", as in Prometheus' web config files.
	os.WriteFile(webCfg, []byte("basic_auth_users:\n  alertmanager: $2a$04$ncCJ5AdWYGvD/q3EmnuTi.DZJMp6Xx9SaPSh4bekRUflAyqC1OyLO\n"), 0o644)
	cfg, _ := ParseConfig([]byte("db: " + newLedger(t) + "\ninsecure_no_auth: true"))
	s := newServer(t, cfg)
	defer s.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.Handler()}
	systemd := false
	go web.Serve(l, srv, &web.FlagConfig{WebSystemdSocket: &systemd, WebConfigFile: &webCfg}, slog.New(slog.DiscardHandler))
	defer srv.Close()
	body := encode(payload("g", 1, "firing"))
	for _, c := range []struct {
		name, user, pass string
		want             int
	}{
		{"no credentials is 401", "", "", 401},
		{"a wrong password is 401", "alertmanager", "nope", 401},
		{"the configured user is accepted", "alertmanager", "s3cret", 200},
	} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+l.Addr().String()+"/webhook", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if c.user != "" {
			req.SetBasicAuth(c.user, c.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		drain(resp)
		if resp.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}
}

// With signing_key_file the receiver signs its receipts; restarted without
// the key on a signed ledger, it refuses to start instead of failing every write.
func TestSignedLedgerNeedsItsKeyToStart(t *testing.T) {
	db := newLedger(t)
	key := filepath.Join(t.TempDir(), "receipts.key")
	if _, err := andon.GenerateKey(key); err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig([]byte("db: " + db + "\ninsecure_no_auth: true\nsigning_key_file: " + key))
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, cfg)
	srv := httptest.NewServer(s.Handler())
	if code, a := post(t, srv.URL, "", encode(payload("g", 1, "firing")), "application/json"); code != http.StatusOK || len(a.Andons) != 1 {
		t.Fatalf("status %d, ack %+v", code, a)
	}
	head, err := s.Ledger().Store.Head(context.Background())
	if err != nil || head.KeyID == "" || head.Signature == "" {
		t.Fatalf("head receipt %+v, %v: want it signed", head, err)
	}
	srv.Close()
	s.Close()
	cfg, _ = ParseConfig([]byte("db: " + db + "\ninsecure_no_auth: true"))
	store, err := stores.Open(context.Background(), db, false)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := New(cfg, store, nil); !errors.Is(err, andon.ErrKeyRequired) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("restart without the key: %v; want ErrKeyRequired", err)
	}
}

// Only loopback addresses count as loopback for insecure_no_auth.
func TestInsecureNoAuthListensOnLoopbackOnly(t *testing.T) {
	for addrs, want := range map[string]bool{
		"127.0.0.1:9095": true, "[::1]:9095": true, "localhost:9095": true,
		":9095": false, "0.0.0.0:9095": false, "10.0.0.1:9095": false, "127.0.0.1:1,:2": false,
	} {
		list := strings.Split(addrs, ",")
		if got := listensOnLoopback(&web.FlagConfig{WebListenAddresses: &list}); got != want {
			t.Errorf("%s: loopback %v, want %v", addrs, got, want)
		}
	}
}

// 'andon webhook' does not start with an empty token file, nor without
// authentication on a non-loopback address; --init creates a missing ledger only.
func TestRunRefusesAnOpenDoor(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "token")
	os.WriteFile(empty, []byte("\n"), 0o600)
	db := filepath.Join(dir, "l.db")
	for _, c := range []struct{ name, config, addr, want string }{
		{"an empty token file", "db: " + db + "\nbearer_token_file: " + empty, "127.0.0.1:0", "is empty"},
		{"no authentication on every interface", "db: " + db + "\ninsecure_no_auth: true", ":0", "needs --web.listen-address on loopback"},
		{"a missing ledger without --init", "db: " + db + "\ninsecure_no_auth: true", "127.0.0.1:0", "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := filepath.Join(dir, "webhook.yml")
			os.WriteFile(cfg, []byte(c.config), 0o644)
			addrs, systemd, webCfg := []string{c.addr}, false, ""
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := Run(ctx, RunOptions{ConfigFile: cfg, Web: &web.FlagConfig{WebListenAddresses: &addrs, WebSystemdSocket: &systemd, WebConfigFile: &webCfg}})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Run = %v; want an error saying %q", err, c.want)
			}
			if _, err := os.Stat(db); err == nil {
				t.Fatal("a ledger was created")
			}
		})
	}
}

// A service label the ledger would refuse as a sku still stops the line,
// under its escaped spelling: the notification is recorded, not refused.
func TestInvisibleServiceLabelStillStopsTheLine(t *testing.T) {
	s, url := testServer(t, "")
	m := payload("g", 1, "firing")
	m.Alerts[0].Labels["service"] = "svc\u200bx"
	if code, a := post(t, url, "", encode(m), "application/json"); code != http.StatusOK || len(a.Andons) != 1 {
		t.Fatalf("status %d, ack %+v", code, a)
	}
	g, err := s.Ledger().Gate(context.Background(), `svc\u{200B}x`, "deployment")
	if err != nil || g.Proceed {
		t.Fatalf("gate of the escaped sku: %+v %v; want blocked", g, err)
	}
}
