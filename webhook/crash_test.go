package webhook

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/andon-sre/andon/andon"
)

// The crash test runs the receiver as a child process (this test binary
// re-executed with childEnv set) so that it can be killed with SIGKILL.
const childEnv = "ANDON_WEBHOOK_TEST_CHILD"

func childMain() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	addrs := []string{os.Getenv("ANDON_WEBHOOK_TEST_ADDR")}
	webConfig := ""
	systemd := false
	err := Run(ctx, RunOptions{ConfigFile: os.Getenv("ANDON_WEBHOOK_TEST_CONFIG"), Init: true, Web: &web.FlagConfig{WebListenAddresses: &addrs, WebSystemdSocket: &systemd, WebConfigFile: &webConfig}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startChild(t *testing.T, config, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "ANDON_WEBHOOK_TEST_CONFIG="+config, "ANDON_WEBHOOK_TEST_ADDR="+addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/-/ready"); err == nil {
			drain(resp)
			if resp.StatusCode == 200 {
				return cmd
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	t.Fatal("receiver child not ready within 20s")
	return nil
}

func TestKill9KeepsEveryAcknowledgedNotification(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess crash test skipped in -short mode")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "andon.db")
	cfgPath := filepath.Join(dir, "webhook.yml")
	if err := os.WriteFile(cfgPath, []byte("db: "+db+"\nreceipts_dir: "+dir+"\ninsecure_no_auth: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	child := startChild(t, cfgPath, addr)

	var mu sync.Mutex
	var acked []*Message
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}} // reuse connections: no TIME_WAIT pile-up
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				m := payload(fmt.Sprintf("crash-%d-%d", w, i), 3, "firing")
				for j := range m.Alerts { // each notification opens its own andon
					m.Alerts[j].Labels["service"] = fmt.Sprintf("svc-%d-%d", w, i)
				}
				resp, err := client.Post("http://"+addr+"/webhook", "application/json", bytesReader(encode(m)))
				if err != nil {
					continue // the receiver is gone: not acknowledged
				}
				drain(resp)
				if resp.StatusCode == 200 {
					mu.Lock()
					acked = append(acked, m)
					mu.Unlock()
				}
			}
		}()
	}
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	close(stop)
	wg.Wait()

	child = startChild(t, cfgPath, addr)
	defer func() {
		child.Process.Signal(syscall.SIGTERM)
		child.Wait()
	}()
	sdb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	missing := 0
	for _, m := range acked {
		for _, a := range m.Alerts {
			var n int
			if err := sdb.QueryRow(`SELECT count(*) FROM alerts WHERE key = ? AND status = 'firing'`, m.Key(a)).Scan(&n); err != nil {
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
	probs, err := (&andon.Client{URL: "http://" + addr}).Verify(context.Background())
	if err != nil || len(probs) > 0 {
		t.Fatalf("receipt chain after kill -9: %v %v", probs, err)
	}
	t.Logf("%d notifications acknowledged before kill -9, all present after restart; chain verifies", len(acked))

	// SIGHUP reloads the config: a bearer token configured now is required at once.
	if err := os.WriteFile(cfgPath, []byte("db: "+db+"\nreceipts_dir: "+dir+"\nbearer_token: reloaded\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	child.Process.Signal(syscall.SIGHUP)
	waitFor(t, "401 after SIGHUP", 10*time.Second, func() bool {
		resp, err := client.Post("http://"+addr+"/webhook", "application/json", bytesReader(encode(payload("after-hup", 1, "firing"))))
		if err != nil {
			return false
		}
		drain(resp)
		return resp.StatusCode == http.StatusUnauthorized
	})
}
