// Command bench measures the harness's maximum sustainable request rate
// against a trivial loopback JSON-RPC endpoint, side by side with vegeta on
// the same endpoint, with the CPU each load generator spends per 1,000
// requests. Run by `make bench-harness`; prints a table.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/andon-sre/andon/harness"
	"github.com/andon-sre/andon/internal/pinned"
)

func main() {
	serve := flag.Bool("serve", false, "internal: run the trivial endpoint and print its address")
	vegeta := flag.String("vegeta", "", "vegeta binary (default: the pinned one, $ANDON_TOOLS_BIN/vegeta, <repo>/.cache/bin/vegeta or PATH)")
	rates := flag.String("rates", "2000,5000,10000,15000,20000,30000", "request rates to try, per second")
	dur := flag.Duration("duration", 5*time.Second, "length of each attack")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the harness runs here")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if *serve {
		serveTrivial()
		return
	}
	if err := run(*vegeta, *rates, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// serveTrivial answers every JSON-RPC call with a constant result echoing the
// id; notifications get 202. It runs in its own process so its CPU is not
// charged to the load generator.
func serveTrivial() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(l.Addr().String())
	idKey := []byte(`"id":`)
	_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(r.Body)
		b := buf.Bytes()
		i := bytes.LastIndex(b, idKey)
		if i < 0 {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		id := b[i+len(idKey):]
		if j := bytes.IndexAny(id, ",}"); j >= 0 {
			id = id[:j]
		}
		w.Header().Set("Content-Type", "application/json")
		out := make([]byte, 0, 160)
		out = append(out, `{"jsonrpc":"2.0","id":`...)
		out = append(out, bytes.TrimSpace(id)...)
		out = append(out, `,"result":{"supportedVersions":["2026-07-28"],"protocolVersion":"2025-11-25","tools":[]}}`...)
		_, _ = w.Write(out)
	}))
}

type row struct {
	tool              string
	rate              int
	achieved, success float64
	p50, p99          time.Duration
	cpu               time.Duration
	requests          float64
	late              float64 // harness only: fraction sent > 5 ms after the intended start
}

// sustained: the rate was delivered, answered, and (for the harness, which
// knows) sent on schedule.
func (r row) sustained() bool {
	return r.achieved >= 0.98*float64(r.rate) && r.success >= 0.99 && r.late <= 0.01
}

func (r row) cpuPer1000() float64 {
	if r.requests == 0 {
		return 0
	}
	return r.cpu.Seconds() * 1000 / r.requests * 1000 // ms per 1,000 requests
}

func run(vegeta, rateList string, dur time.Duration) error {
	if vegeta == "" {
		var err error
		if vegeta, err = pinned.Path("vegeta"); err != nil {
			return fmt.Errorf("%w (`make bench-harness` builds vegeta)", err)
		}
	} else if _, err := os.Stat(vegeta); err != nil {
		return fmt.Errorf("vegeta binary %s: %w (build it with `make bench-harness`)", vegeta, err)
	}
	exe, _ := os.Executable()
	srv := exec.Command(exe, "-serve")
	out, err := srv.StdoutPipe()
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("trivial endpoint did not start: %w", err)
	}
	url := "http://" + strings.TrimSpace(addr) + "/mcp"

	var rows []row
	for _, f := range strings.Split(rateList, ",") {
		rate, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("-rates: %q: %w", f, err)
		}
		h, err := runHarness(url, rate, dur)
		if err != nil {
			return err
		}
		v, err := runVegeta(vegeta, url, rate, dur)
		if err != nil {
			return err
		}
		rows = append(rows, h, v)
		fmt.Fprintf(os.Stderr, "rate %d/s: harness %.0f/s, vegeta %.0f/s\n", rate, h.achieved, v.achieved)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\trate/s\tachieved/s\tsuccess\tlate\tp50\tp99\tCPU ms/1000 req\tsustained\t")
	best := map[string]row{}
	for _, r := range rows {
		late := "-"
		if r.tool == "harness" {
			late = fmt.Sprintf("%.2f%%", 100*r.late)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f%%\t%s\t%s\t%s\t%.1f\t%v\t\n", r.tool, r.rate, r.achieved, 100*r.success, late,
			r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.cpuPer1000(), r.sustained())
		if r.sustained() && r.rate > best[r.tool].rate {
			best[r.tool] = r
		}
	}
	_ = tw.Flush()
	for _, tool := range []string{"harness", "vegeta"} {
		b := best[tool]
		fmt.Printf("max sustained: %-8s %6d/s at %.1f ms CPU per 1,000 requests\n", tool, b.rate, b.cpuPer1000())
	}
	fmt.Println("harness latencies are CO-corrected (from intended start); vegeta's are from its send time.")
	return nil
}

func cpuSelf() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func runHarness(url string, rate int, dur time.Duration) (row, error) {
	p := &harness.Profile{Name: "bench", Model: harness.ModelOpen, Duration: dur,
		Rate: harness.RateSpec{Shape: harness.ShapeConstant, RPS: float64(rate)}, Sessions: 1,
		Timeout: 2 * time.Second, MaxInFlight: 10000,
		Mix: []harness.MixEntry{{Weight: 1, Method: "tools/list", Tier: 2}}}
	before := cpuSelf()
	res, err := harness.Run(context.Background(), harness.Options{Target: harness.Target{URL: url}, Profile: p})
	if err != nil {
		return row{}, err
	}
	r := row{tool: "harness", rate: rate, cpu: cpuSelf() - before, requests: float64(res.Sent),
		p50: time.Duration(res.Overall.Latency.P50 * 1e9), p99: time.Duration(res.Overall.Latency.P99 * 1e9)}
	ok := float64(res.Completed - res.Errors)
	r.achieved = ok / dur.Seconds()
	if res.Intended > 0 {
		r.success = ok / float64(res.Intended)
		r.late = float64(res.Late) / float64(res.Intended)
	}
	return r, nil
}

func runVegeta(bin, url string, rate int, dur time.Duration) (row, error) {
	dir, err := os.MkdirTemp("", "andon-bench-")
	if err != nil {
		return row{}, err
	}
	defer os.RemoveAll(dir)
	body := filepath.Join(dir, "body.json")
	if err := os.WriteFile(body, []byte(`{"jsonrpc":"2.0","method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"andon-harness","version":"0.1.0"},"io.modelcontextprotocol/protocolVersion":"2026-07-28"}},"id":1}`), 0o644); err != nil {
		return row{}, err
	}
	targets := fmt.Sprintf("POST %s\nContent-Type: application/json\nAccept: application/json, text/event-stream\nMcp-Protocol-Version: 2026-07-28\nMcp-Method: tools/list\nX-Priority-Tier: 2\n@%s\n", url, body)
	tf := filepath.Join(dir, "targets.txt")
	if err := os.WriteFile(tf, []byte(targets), 0o644); err != nil {
		return row{}, err
	}
	results := filepath.Join(dir, "results.bin")
	attack := exec.Command(bin, "attack", "-rate", fmt.Sprintf("%d/s", rate), "-duration", dur.String(),
		"-timeout", "2s", "-targets", tf, "-output", results)
	attack.Stderr = os.Stderr
	if err := attack.Run(); err != nil {
		return row{}, fmt.Errorf("vegeta attack: %w", err)
	}
	cpu := attack.ProcessState.UserTime() + attack.ProcessState.SystemTime()
	rep, err := exec.Command(bin, "report", "-type", "json", results).Output()
	if err != nil {
		return row{}, fmt.Errorf("vegeta report: %w", err)
	}
	var vr struct {
		Requests   float64 `json:"requests"`
		Throughput float64 `json:"throughput"`
		Success    float64 `json:"success"`
		Latencies  struct {
			P50 int64 `json:"50th"`
			P99 int64 `json:"99th"`
		} `json:"latencies"`
	}
	if err := json.Unmarshal(rep, &vr); err != nil {
		return row{}, fmt.Errorf("vegeta report: %w", err)
	}
	ok := vr.Requests * vr.Success
	return row{tool: "vegeta", rate: rate, achieved: ok / dur.Seconds(), success: ok / (float64(rate) * dur.Seconds()),
		p50: time.Duration(vr.Latencies.P50), p99: time.Duration(vr.Latencies.P99), cpu: cpu, requests: vr.Requests}, nil
}
