// Command bench measures `andon load` side by side with vegeta, both as
// whole processes (CPU of each from the OS: the child's rusage), against the
// same trivial loopback JSON-RPC endpoint in a third process: at each rate
// one andon run and one vegeta run of the same length, then the maximum
// rate each sustained. Run by `make bench-harness`; prints a table that says
// what each number is.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/andon-sre/andon/harness"
	"github.com/andon-sre/andon/internal/pinned"
)

func main() {
	serve := flag.Bool("serve", false, "internal: run the trivial endpoint and print its address")
	vegeta := flag.String("vegeta", "", "vegeta binary (default: the pinned one, $ANDON_TOOLS_BIN/vegeta, <repo>/.cache/bin/vegeta or PATH)")
	andon := flag.String("andon", "", "andon binary (default: $ANDON_TOOLS_BIN/andon, <repo>/.cache/bin/andon or PATH; `make build` builds it)")
	rates := flag.String("rates", "500,1000,2000,5000,10000,15000,20000,25000", "request rates to try, per second")
	dur := flag.Duration("duration", 5*time.Second, "length of each attack")
	flag.Parse()
	if *serve {
		serveTrivial()
		return
	}
	if err := run(*andon, *vegeta, *rates, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
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
	p50u              time.Duration // andon: uncorrected p50 (from the actual send), vegeta's kind of latency
	cpu               time.Duration
	requests          float64
	late              float64 // andon only: fraction sent > 5 ms after the intended start
}

// sustained: the rate was delivered and answered; the same rule for both
// tools (andon's lateness, which vegeta cannot see, is shown beside it).
func (r row) sustained() bool {
	return r.achieved >= 0.98*float64(r.rate) && r.success >= 0.99
}

func (r row) cpuPer1000() float64 {
	if r.requests == 0 {
		return 0
	}
	return r.cpu.Seconds() * 1000 / r.requests * 1000 // ms per 1,000 requests
}

func binary(flagValue, name, hint string) (string, error) {
	if flagValue != "" {
		if _, err := os.Stat(flagValue); err != nil {
			return "", fmt.Errorf("%s binary %s: %w (%s)", name, flagValue, err, hint)
		}
		return flagValue, nil
	}
	p, err := pinned.Path(name)
	if err != nil {
		return "", fmt.Errorf("%w (%s)", err, hint)
	}
	return p, nil
}

func run(andon, vegeta, rateList string, dur time.Duration) error {
	vegeta, err := binary(vegeta, "vegeta", "`make bench-harness` builds it")
	if err != nil {
		return err
	}
	if andon, err = binary(andon, "andon", "`make build` builds it"); err != nil {
		return err
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
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("machine: %d CPUs, load average at start %s", numCPU(), load)

	var rows []row
	for _, f := range strings.Split(rateList, ",") {
		rate, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("-rates: %q: %w", f, err)
		}
		h, err := runAndon(andon, url, rate, dur)
		if err != nil {
			return err
		}
		v, err := runVegeta(vegeta, url, rate, dur)
		if err != nil {
			return err
		}
		rows = append(rows, h, v)
		fmt.Fprintf(os.Stderr, "rate %d/s: andon %.0f/s, vegeta %.0f/s\n", rate, h.achieved, v.achieved)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\trate/s\tachieved/s\tsuccess\tlate\tp50\tp50 from send\tp99\tCPU ms/1000 req\tsustained\t")
	best := map[string]row{}
	for _, r := range rows {
		late, p50u := "-", "-"
		if r.tool == "andon" {
			late, p50u = fmt.Sprintf("%.2f%%", 100*r.late), r.p50u.Round(time.Microsecond).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f%%\t%s\t%s\t%s\t%s\t%.1f\t%v\t\n", r.tool, r.rate, r.achieved, 100*r.success, late,
			r.p50.Round(time.Microsecond), p50u, r.p99.Round(time.Microsecond), r.cpuPer1000(), r.sustained())
		if r.sustained() && r.rate > best[r.tool].rate {
			best[r.tool] = r
		}
	}
	_ = tw.Flush()
	for _, tool := range []string{"andon", "vegeta"} {
		b := best[tool]
		fmt.Printf("max sustained: %-7s %6d/s at %.1f ms CPU per 1,000 requests\n", tool, b.rate, b.cpuPer1000())
	}
	for i := 0; i+1 < len(rows); i += 2 {
		if h, v := rows[i], rows[i+1]; v.p50 > 0 && (h.rate == 500 || h.rate == 1000) {
			fmt.Printf("dispatch precision at %d/s: andon corrected p50 / vegeta p50 = %.2f\n", h.rate, float64(h.p50)/float64(v.p50))
		}
	}
	load, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("load average at end %s", load)
	fmt.Println(`achieved/s: successful answers per second of the attack; success: answered OK / scheduled;
late: andon's requests sent > 5 ms after their intended start; p50, p99: andon's are CO-corrected
(completion − intended start), vegeta's from its own send; "p50 from send" is andon's uncorrected
p50 (vegeta's kind); CPU: user+system time of the whole load-generator process (rusage of the child).
Sustained (same rule for both): ≥ 98% of the rate answered and ≥ 99% success.`)
	return nil
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return max(1, bytes.Count(b, []byte("processor\t:")))
}

// runAndon runs `andon load` ad hoc against the endpoint and reads its result.json.
func runAndon(bin, url string, rate int, dur time.Duration) (row, error) {
	dir, err := os.MkdirTemp("", "andon-bench-")
	if err != nil {
		return row{}, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(bin, "load", "--target", url, "--protocol", harness.Era20260728, "--rate", strconv.Itoa(rate),
		"--duration", dur.String(), "--tool", "noop", "--args", "{}", "--quiet", "--log.level", "warn", "--web.listen-address", "", "-o", dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return row{}, fmt.Errorf("andon load at %d/s: %w", rate, err)
	}
	data, err := os.ReadFile(filepath.Join(dir, harness.ResultFile))
	if err != nil {
		return row{}, err
	}
	var res harness.Result
	if err := json.Unmarshal(data, &res); err != nil {
		return row{}, fmt.Errorf("andon result.json: %w", err)
	}
	r := row{tool: "andon", rate: rate, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), requests: float64(res.Sent),
		p50: seconds(res.Overall.Latency.P50), p50u: seconds(res.Overall.Uncorrected.P50), p99: seconds(res.Overall.Latency.P99)}
	ok := float64(res.Completed - res.Errors)
	r.achieved = ok / dur.Seconds()
	if res.Intended > 0 {
		r.success = ok / float64(res.Intended)
		r.late = float64(res.Late) / float64(res.Intended)
	}
	return r, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func runVegeta(bin, url string, rate int, dur time.Duration) (row, error) {
	dir, err := os.MkdirTemp("", "andon-bench-")
	if err != nil {
		return row{}, err
	}
	defer os.RemoveAll(dir)
	body := filepath.Join(dir, "body.json")
	if err := os.WriteFile(body, []byte(`{"jsonrpc":"2.0","method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"andon-harness","version":"0.1.0"},"io.modelcontextprotocol/protocolVersion":"2026-07-28"},"arguments":{},"name":"noop"},"id":1}`), 0o644); err != nil {
		return row{}, err
	}
	targets := fmt.Sprintf("POST %s\nContent-Type: application/json\nAccept: application/json, text/event-stream\nMcp-Protocol-Version: 2026-07-28\nMcp-Method: tools/call\nMcp-Name: noop\nX-Priority-Tier: 2\n@%s\n", url, body)
	tf := filepath.Join(dir, "targets.txt")
	if err := os.WriteFile(tf, []byte(targets), 0o644); err != nil {
		return row{}, err
	}
	results := filepath.Join(dir, "results.bin")
	attack := exec.Command(bin, "attack", "-rate", fmt.Sprintf("%d/s", rate), "-duration", dur.String(),
		"-timeout", "5s", "-targets", tf, "-output", results)
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
		Requests  float64 `json:"requests"`
		Success   float64 `json:"success"`
		Latencies struct {
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
