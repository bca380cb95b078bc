package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/andon-sre/andon/andon"
	"github.com/andon-sre/andon/internal/pgtest"
)

// replicaConfig is a receiver on the shared ledger at db whose actuator
// sheds on svc through the admission API at svcURL.
func replicaConfig(db, svcURL, extra string) string {
	return fmt.Sprintf(`db: %s
insecure_no_auth: true
lease_ttl: 1s
actuator:
  defaults: {hold_down: 100ms, cooldown: 1h}
  services:
    svc:
      token: svc-token
      instances: [{name: i0, url: '%s/admin/admission'}]
%s`, db, svcURL, extra)
}

func startReplica(t testing.TB, config string) (*Server, string) {
	t.Helper()
	cfg, err := ParseConfig([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, cfg)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { srv.Close(); s.Close() })
	return s, srv.URL
}

// The same notification sent 10 times to each of two replicas at once
// (clustered Alertmanagers may each deliver it): one record per alert, one
// andon, and exactly one shed applied on the service.
func TestTwoReplicasOneAndonOneAction(t *testing.T) {
	db := pgtest.DB(t)
	ctl, svcURL := startAdmission(t)
	cfg := replicaConfig(db, svcURL, "")
	s1, url1 := startReplica(t, cfg)
	_, url2 := startReplica(t, cfg)
	m := payload(`{}:{service="svc"}`, 3, "firing")
	for i := range m.Alerts {
		m.Alerts[i].Labels["action"] = "page,shed,andon"
	}
	body := encode(m)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			url := url1
			if i%2 == 1 {
				url = url2
			}
			if code, _ := post(t, url, "", body, "application/json"); code != http.StatusOK {
				t.Errorf("replica %d: status %d", i%2+1, code)
			}
		})
	}
	wg.Wait()
	waitFor(t, "shed applied", 10*time.Second, func() bool { return ctl.State().Shed != nil })
	ctx := context.Background()
	waitFor(t, "every queued notification handled", 10*time.Second, func() bool {
		acts, _ := s1.Ledger().Actions(ctx, andon.ActionFilter{Limit: 1000})
		return len(acts) == 60 // a shed decision per alert: the first applies, the 59 others are skipped as already active
	})
	applied, _ := s1.Ledger().Actions(ctx, andon.ActionFilter{Result: "applied"})
	andons, _ := s1.Ledger().List(ctx, andon.Filter{})
	if len(applied) != 1 || len(andons) != 1 || ctl.State().Shed.AndonID != andons[0].ID {
		t.Fatalf("%d applied actions, %d andons; want 1 and 1: %+v", len(applied), len(andons), applied)
	}
}

// Restarting PostgreSQL under a steady stream to two replicas: while it is
// down they answer 503 (Alertmanager retries) and are not ready; once it is
// back they record again by themselves, no acknowledged notification is
// missing, and the gate is answered from the same ledger.
func TestPostgresRestartGives503ThenRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a PostgreSQL cluster")
	}
	pg := pgtest.Start(t)
	db := pg.NewDB(t)
	_, url1 := startReplica(t, "db: "+db+"\ninsecure_no_auth: true\nlease_ttl: 1s\n")
	_, url2 := startReplica(t, "db: "+db+"\ninsecure_no_auth: true\nlease_ttl: 1s\n")
	if code, _ := post(t, url1, "", encode(payload("before", 2, "firing")), "application/json"); code != http.StatusOK {
		t.Fatalf("before the restart: %d", code)
	}
	var mu sync.Mutex
	var acked []*Message
	codes, ackedBy := map[int]int{}, map[string]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				m := payload(fmt.Sprintf("restart-%d-%d", w, i), 2, "firing")
				url := url1
				if (w+i)%2 == 1 {
					url = url2
				}
				resp, err := client.Post(url+"/webhook", "application/json", bytesReader(encode(m)))
				if err != nil {
					t.Error(err)
					return
				}
				drain(resp)
				mu.Lock()
				codes[resp.StatusCode]++
				if resp.StatusCode == http.StatusOK {
					acked = append(acked, m)
					ackedBy[url]++
				}
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	if err := pg.Stop("fast"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "503 from the replicas while the database is down", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return codes[http.StatusServiceUnavailable] > 0
	})
	if resp, err := http.Get(url2 + "/-/ready"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("ready with the database down: %v %v", resp, err)
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	before1, before2 := ackedBy[url1], ackedBy[url2]
	mu.Unlock()
	waitFor(t, "both replicas to record again after the restart", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return ackedBy[url1] >= before1+10 && ackedBy[url2] >= before2+10
	})
	close(stop)
	wg.Wait()
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	missing := 0
	for _, m := range acked {
		for _, al := range m.Alerts {
			var n int
			if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM alerts WHERE key = $1 AND status = 'firing'`, m.Key(al)).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				missing++
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d alerts of acknowledged notifications missing after the restart", missing)
	}
	g, err := (&andon.Client{URL: url2}).Gate(context.Background(), "svc", "deployment")
	if err != nil || g.Proceed || len(g.Blocking) != 1 {
		t.Fatalf("gate after recovery: %+v %v", g, err)
	}
	t.Logf("answers during the restart: %v; %d acknowledged, all stored", codes, len(acked))
}

// kill -9 of the replica holding the actuator lease, under a steady stream
// of notifications to both replicas: every acknowledged notification is in
// the ledger, the survivor answers the gate from it and its receipt chain
// verifies, and the survivor takes the lease over and performs the revert
// the dead replica had scheduled (hold-down pending at the kill).
func TestKill9OfTheActingReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess crash test skipped in -short mode")
	}
	db := pgtest.DB(t)
	ctl, svcURL := startAdmission(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "webhook.yml")
	// The hold-down outlives the kill: the revert is still pending then.
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(replicaConfig(db, svcURL, ""), "hold_down: 100ms", "hold_down: 1500ms", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	addrA, addrB := freeAddr(t), freeAddr(t)
	a := startChild(t, cfgPath, addrA)
	defer func() { a.Process.Kill(); a.Wait() }()
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	query := func(q string) (v string) {
		_ = conn.QueryRow(context.Background(), q).Scan(&v)
		return v
	}
	waitFor(t, "replica A to hold the lease", 10*time.Second, func() bool { return query(`SELECT holder FROM leases`) != "" })
	b := startChild(t, cfgPath, addrB)
	defer func() { b.Process.Signal(syscall.SIGTERM); b.Wait() }()

	shed := payload(`{}:{service="svc"}`, 1, "firing")
	shed.Alerts[0].Labels["action"] = "page,shed,andon"
	if code, _ := post(t, "http://"+addrB, "", encode(shed), "application/json"); code != http.StatusOK {
		t.Fatalf("shed notification: %d", code)
	}
	waitFor(t, "shed applied by the lease holder", 10*time.Second, func() bool { return ctl.State().Shed != nil })

	var mu sync.Mutex
	var acked []*Message
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				m := payload(fmt.Sprintf("stream-%d-%d", w, i), 3, "firing")
				for j := range m.Alerts {
					m.Alerts[j].Labels["service"] = fmt.Sprintf("svc-%d-%d", w, i)
				}
				addr := addrA
				if (w+i)%2 == 1 {
					addr = addrB
				}
				resp, err := client.Post("http://"+addr+"/webhook", "application/json", bytesReader(encode(m)))
				if err != nil {
					continue // the replica is gone: not acknowledged
				}
				drain(resp)
				if resp.StatusCode == 200 {
					mu.Lock()
					acked = append(acked, m)
					mu.Unlock()
				}
			}
		})
	}
	waitFor(t, "100 acknowledged notifications", 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 100
	})
	resolved := payload(`{}:{service="svc"}`, 1, "resolved")
	resolved.Alerts[0].Labels["action"] = "page,shed,andon"
	if code, _ := post(t, "http://"+addrA, "", encode(resolved), "application/json"); code != http.StatusOK {
		t.Fatalf("resolved notification: %d", code)
	}
	waitFor(t, "the revert pending in the committed actuator state", 10*time.Second, func() bool {
		return strings.Contains(query(`SELECT doc FROM state WHERE name = 'actuator'`), `"revert"`)
	})
	if err := a.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.Wait()
	killedAt := time.Now()
	time.Sleep(200 * time.Millisecond) // the stream goes on against the survivor
	close(stop)
	wg.Wait()

	waitFor(t, "the survivor to revert shed", 15*time.Second, func() bool { return ctl.State().Shed == nil })
	t.Logf("shed reverted by the survivor %s after the kill (lease_ttl 1s, hold-down 1.5s)", time.Since(killedAt).Round(10*time.Millisecond))
	missing := 0
	for _, m := range acked {
		for _, al := range m.Alerts {
			var n int
			if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM alerts WHERE key = $1 AND status = 'firing'`, m.Key(al)).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				missing++
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d alerts of %d acknowledged notifications are missing after kill -9", missing, len(acked))
	}
	survivor := &andon.Client{URL: "http://" + addrB}
	if probs, err := survivor.Verify(context.Background()); err != nil || len(probs) > 0 {
		t.Fatalf("receipt chain after kill -9: %v %v", probs, err)
	}
	if g, err := survivor.Gate(context.Background(), "svc", "deployment"); err != nil || g.Proceed {
		t.Fatalf("the survivor's gate: %+v %v", g, err)
	}
	t.Logf("%d notifications acknowledged by two replicas, all present after kill -9 of the lease holder; chain verifies", len(acked))
}
