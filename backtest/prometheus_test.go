package backtest

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/andon-sre/andon/backtest/history"
	"github.com/andon-sre/andon/internal/pinned"
)

// historyStart is where every test's history begins: fixed, so runs are comparable.
var historyStart = time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)

// backfill writes h as OpenMetrics and turns it into TSDB blocks in dataDir with the pinned
// promtool, the way an operator backfills history.
func backfill(t testing.TB, h history.Options, dataDir string) {
	t.Helper()
	promtool := pinned.Require(t, "promtool")
	om := filepath.Join(t.TempDir(), "history.om")
	f, err := os.Create(om)
	if err != nil {
		t.Fatal(err)
	}
	if err := history.WriteOpenMetrics(f, h); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "openmetrics", om, dataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool tsdb create-blocks-from openmetrics: %v\n%s", err, out)
	}
}

// startPrometheus serves dataDir (backfilled history, nothing scraped) on 127.0.0.1 and returns
// its base URL once ready; the process is killed when the test ends.
func startPrometheus(t testing.TB, dataDir string) string {
	t.Helper()
	bin := pinned.Require(t, "prometheus")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 15s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+dataDir, "--web.listen-address="+addr,
		"--storage.tsdb.retention.time=100y", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	base := "http://" + addr
	deadline := time.Now().Add(2 * time.Minute) // a loaded machine loads blocks slowly
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case <-done:
			t.Fatalf("prometheus exited before it was ready:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus on %s not ready after 2m:\n%s", addr, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// prometheusWithHistory backfills h into a fresh Prometheus and returns its URL.
func prometheusWithHistory(t testing.TB, h history.Options) string {
	t.Helper()
	dataDir := filepath.Join(t.TempDir(), "data")
	backfill(t, h, dataDir)
	return startPrometheus(t, dataDir)
}

// ok(t)(f()) is f's value, or the test's end with f's error.
func ok[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
