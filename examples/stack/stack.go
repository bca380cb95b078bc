// Command stack runs andon's closed loop on 127.0.0.1 with real components: the reference MCP
// server (capacity-limited), Prometheus and Alertmanager (pinned binaries), `andon webhook` with
// its SQLite ledger, and the load harness driving baseline → overload → recovery. It prints a
// timeline of the loop and writes an HTML report. `make demo` runs it; `make e2e` tests it.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/andon-sre/andon/andon"
	"github.com/andon-sre/andon/bundle"
	"github.com/andon-sre/andon/internal/pinned"
	"github.com/andon-sre/andon/limits"
	"github.com/andon-sre/andon/rulegen"
)

// Config sizes the stack. Defaults (DefaultConfig) let 2 cores push the server past capacity.
type Config struct {
	Repo      string // repository root (for go build and the spec)
	Dir       string // work directory: binaries, configs, TSDB, ledger, logs
	Spec      string // demo spec
	Capacity  float64
	QueueCap  int
	ActionTTL time.Duration // admission TTL; renewed by Alertmanager re-sends every Repeat
	Repeat    time.Duration
	Token     string
	LoopOff   bool // kill switch on: alerts and andons as usual, no action reaches the service
	// SlowStart injects a start-up spike: for this long after its first message the MCP server
	// delays every message by SlowStartLatency (0: none).
	SlowStart, SlowStartLatency time.Duration
}

// DefaultConfig is what the demo and the e2e test run.
func DefaultConfig(repo, dir string) Config {
	return Config{Repo: repo, Dir: dir, Spec: filepath.Join(repo, "examples", "stack", "limits.yaml"),
		Capacity: 100, QueueCap: 50, ActionTTL: 15 * time.Second, Repeat: 5 * time.Second, Token: "andon-demo-token"}
}

// Stack is the running system. Stop ends everything it started.
type Stack struct {
	cfg      Config
	children []*child
	webhook  atomic.Pointer[child] // nil while stopped on purpose (StopWebhook); the watcher reads it
	Server   string                // http://host:port of the MCP server
	Prom     string
	AM       string
	Webhook  string
	Harness  string // host:port Prometheus scrapes the harness on
	harnessL net.Listener
	// harnessMetrics serves the current load run's metrics on harnessL.
	harnessMetrics swapHandler
	Andon          string // the andon binary built from this tree
	DB             string // the webhook's SQLite ledger
	Spec           *limits.Spec
	red            redLatency
}

// redLatency is what the loop is about: the red alert of the demo spec's latency_p95 signal.
type redLatency struct {
	sig       *limits.Signal
	alert     string  // its name
	series    string  // the recorded p95 it compares, over the red level's short window
	window    string  // that window, as series names print it
	threshold float64 // seconds
}

// Start builds, generates and starts every component, and waits until each is ready.
func Start(ctx context.Context, cfg Config) (_ *Stack, err error) {
	s := &Stack{cfg: cfg, DB: filepath.Join(cfg.Dir, "andon.db")}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	promBin, err := pinned.Path("prometheus")
	if err != nil {
		return nil, err
	}
	amBin, err := pinned.Path("alertmanager")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	// Built from this tree, so the stack runs the code under test, and `go run ./examples/stack` needs nothing else.
	build := exec.CommandContext(ctx, "go", "build", "-o", cfg.Dir+string(filepath.Separator), "./examples/mcpserver", "./cmd/andon")
	build.Dir, build.Stderr = cfg.Repo, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("go build ./examples/mcpserver ./cmd/andon: %w", err)
	}
	s.Andon = filepath.Join(cfg.Dir, "andon")
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	s.Prom, s.AM, s.Webhook = "http://"+ports[0], "http://"+ports[1], "http://"+ports[2]
	if s.harnessL, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	s.Harness = s.harnessL.Addr().String()
	go func() {
		_ = (&http.Server{Handler: &s.harnessMetrics, ReadHeaderTimeout: 5 * time.Second}).Serve(s.harnessL)
	}()

	// The MCP server prints its address first, so it needs no port guessed in advance.
	srv, addr, err := s.startPrinting("listening on ", "mcpserver", filepath.Join(cfg.Dir, "mcpserver"),
		"--web.listen-address=127.0.0.1:0", "--admin.token="+cfg.Token, "--log.level=warn", // not a line per request
		fmt.Sprintf("--capacity.rate=%g", cfg.Capacity), fmt.Sprintf("--capacity.queue-capacity=%d", cfg.QueueCap),
		"--inject.slow-start="+cfg.SlowStart.String(), "--inject.slow-start-latency="+cfg.SlowStartLatency.String())
	if err != nil {
		return nil, err
	}
	s.Server = "http://" + addr

	if err := s.generate(); err != nil {
		return nil, err
	}
	wh, err := s.start("webhook", s.Andon, s.webhookArgs()...)
	if err != nil {
		return nil, err
	}
	s.webhook.Store(wh)
	am, err := s.start("alertmanager", amBin,
		"--config.file="+filepath.Join(cfg.Dir, "alertmanager.yml"), "--storage.path="+filepath.Join(cfg.Dir, "am"),
		"--web.listen-address="+ports[1], "--cluster.listen-address=")
	if err != nil {
		return nil, err
	}
	prom, err := s.start("prometheus", promBin,
		"--config.file="+filepath.Join(cfg.Dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(cfg.Dir, "tsdb"),
		"--web.listen-address="+ports[0])
	if err != nil {
		return nil, err
	}
	for c, u := range map[*child]string{srv: s.Server, am: s.AM, prom: s.Prom, wh: s.Webhook} {
		if err := c.waitReady(ctx, u+"/-/ready", 60*time.Second); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// generate writes the bundle from the demo spec, the Prometheus and Alertmanager configs around
// it, and the webhook's config.
func (s *Stack) generate() error {
	spec, _, err := limits.Load(s.cfg.Spec)
	if err != nil {
		return fmt.Errorf("loading %s: %w", s.cfg.Spec, err)
	}
	s.Spec = spec
	sig := spec.Signal("latency_p95")
	if sig == nil || sig.Thresholds.Red == nil {
		return fmt.Errorf("%s: the demo needs a latency_p95 signal with a red threshold", s.cfg.Spec)
	}
	short := spec.Levels.Red.Windows.Short.D()
	s.red = redLatency{sig: sig, alert: spec.AlertName(sig, limits.Red), series: spec.QuantileSeries(sig, short),
		window: limits.WindowName(short), threshold: sig.Thresholds.Red.Value.Value}
	tokenFile := filepath.Join(s.cfg.Dir, "webhook-token")
	if err := os.WriteFile(tokenFile, []byte(s.cfg.Token), 0o600); err != nil {
		return err
	}
	am := rulegen.DefaultAlertmanagerOptions()
	am.WebhookURL, am.CredentialsFile = s.Webhook+"/webhook", tokenFile
	out := filepath.Join(s.cfg.Dir, "bundle")
	if _, err := bundle.Write(spec, out, bundle.Options{Format: bundle.FormatRules, Alertmanager: am}); err != nil {
		return err
	}
	scrapeHost := strings.TrimPrefix(s.Server, "http://")
	prom := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
alerting:
  alertmanagers: [{static_configs: [{targets: [%q]}]}]
scrape_configs:
  - job_name: mcpserver
    static_configs: [{targets: [%q], labels: {service: %s}}]
  - job_name: harness
    static_configs: [{targets: [%q], labels: {service: %s}}]
  - job_name: andon-webhook
    static_configs: [{targets: [%q]}]
`, filepath.Join(out, bundle.RulesPath(spec)), strings.TrimPrefix(s.AM, "http://"), scrapeHost, spec.Service,
		s.Harness, spec.Service, strings.TrimPrefix(s.Webhook, "http://"))
	if err := os.WriteFile(filepath.Join(s.cfg.Dir, "prometheus.yml"), []byte(prom), 0o644); err != nil {
		return err
	}
	snippet, err := os.ReadFile(filepath.Join(out, bundle.AlertmanagerPath(spec)))
	if err != nil {
		return err
	}
	merged, err := mergeAlertmanager(snippet, s.cfg.Repeat)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.cfg.Dir, "alertmanager.yml"), merged, 0o644); err != nil {
		return err
	}
	wh := fmt.Sprintf(`db: %s
bearer_token_file: %s
actuator:
  kill_switch: %t
  alertmanager_repeat_interval: %s
  defaults: {ttl: %s, cooldown: 1s, hold_down: 5s}
  services:
    %s:
      token: %s
      instances: [{name: %s, url: %s/admin/admission}]
`, s.DB, tokenFile, s.cfg.LoopOff, s.cfg.Repeat, s.cfg.ActionTTL, spec.Service, s.cfg.Token, scrapeHost, s.Server)
	return os.WriteFile(filepath.Join(s.cfg.Dir, "webhook.yml"), []byte(wh), 0o644)
}

// mergeAlertmanager puts the generated routes, receivers and inhibitions under a minimal root
// with demo timings: group_wait 1s so the first notification leaves at once, repeat short so
// re-sends renew the actions' TTL.
func mergeAlertmanager(snippet []byte, repeat time.Duration) ([]byte, error) {
	var gen struct {
		Route struct {
			Routes []map[string]any `yaml:"routes"`
		} `yaml:"route"`
		Receivers    []map[string]any `yaml:"receivers"`
		InhibitRules []map[string]any `yaml:"inhibit_rules"`
	}
	if err := yaml.Unmarshal(snippet, &gen); err != nil {
		return nil, fmt.Errorf("generated Alertmanager snippet: %w", err)
	}
	for _, r := range gen.Route.Routes {
		r["group_wait"], r["group_interval"], r["repeat_interval"] = "1s", "1s", repeat.String()
	}
	root := map[string]any{
		"route":         map[string]any{"receiver": "blackhole", "routes": gen.Route.Routes},
		"receivers":     append([]map[string]any{{"name": "blackhole"}}, gen.Receivers...),
		"inhibit_rules": gen.InhibitRules,
	}
	return yaml.Marshal(root)
}

func (s *Stack) webhookArgs() []string {
	return []string{"webhook", "--init", "--config=" + filepath.Join(s.cfg.Dir, "webhook.yml"),
		"--web.listen-address=" + strings.TrimPrefix(s.Webhook, "http://")}
}

// StopWebhook kills `andon webhook` as a crash would (SIGKILL, no clean shutdown of the ledger).
func (s *Stack) StopWebhook() error {
	wh := s.webhook.Swap(nil)
	if wh == nil {
		return errors.New("the webhook is not running")
	}
	return wh.stop(syscall.SIGKILL)
}

// RestartWebhook starts `andon webhook` again with the same config, port and SQLite file.
func (s *Stack) RestartWebhook(ctx context.Context) error {
	wh, err := s.start("webhook", s.Andon, s.webhookArgs()...)
	if err != nil {
		return err
	}
	s.webhook.Store(wh)
	return wh.waitReady(ctx, s.Webhook+"/-/ready", 10*time.Second)
}

// WebhookUp says whether the receiver is meant to be running.
func (s *Stack) WebhookUp() bool { return s.webhook.Load() != nil }

// Ledger is a client of the webhook's ledger API, for polling; the CLI is RunAndon.
func (s *Stack) Ledger() *andon.Client {
	return &andon.Client{URL: s.Webhook, BearerToken: s.cfg.Token, HTTP: &http.Client{Timeout: 5 * time.Second}}
}

// LedgerURL are the flags that point the andon CLI at the running webhook's ledger.
func (s *Stack) LedgerURL() []string { return []string{"--url=" + s.Webhook, "--token=" + s.cfg.Token} }

// CLIResult is what one run of the andon CLI printed and its exit code.
type CLIResult struct {
	Stdout, Stderr string
	Code           int
}

// RunAndon runs the andon CLI as a person would; err is set only when it could not run or was killed.
func (s *Stack) RunAndon(ctx context.Context, args ...string) (CLIResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out, errOut strings.Builder
	c := exec.CommandContext(ctx, s.Andon, args...)
	c.Stdout, c.Stderr = &out, &errOut
	err := c.Run()
	res := CLIResult{Stdout: out.String(), Stderr: errOut.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		res.Code, err = ee.ExitCode(), nil
	}
	return res, err
}

// Stop ends every process group started, newest first, and the harness listener. Safe to call twice.
func (s *Stack) Stop() {
	for i := len(s.children) - 1; i >= 0; i-- {
		_ = s.children[i].stop(syscall.SIGTERM)
	}
	s.children = nil
	s.webhook.Store(nil)
	if s.harnessL != nil {
		_ = s.harnessL.Close()
		s.harnessL = nil
	}
}

// child is one started process, in its own process group so stop ends it and anything it forks.
type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when it has exited
	err  error         // its exit, once done
}

// start runs bin with its stdout and stderr in <dir>/<name>.log; tap, when set, also sees stdout.
// On Linux children die with the orchestrator even when it is killed without a chance to Stop.
func (s *Stack) start(name, bin string, args ...string) (*child, error) {
	return s.startTap(name, bin, nil, args...)
}

func (s *Stack) startTap(name, bin string, tap *firstLine, args ...string) (*child, error) {
	c := &child{name: name, cmd: exec.Command(bin, args...), log: filepath.Join(s.cfg.Dir, name+".log"), done: make(chan struct{})}
	c.cmd.SysProcAttr = procAttr()
	logf, err := os.OpenFile(c.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644) // a restart appends
	if err != nil {
		return nil, err
	}
	c.cmd.Stderr, c.cmd.Stdout = logf, logf
	if tap != nil {
		tap.w = logf
		c.cmd.Stdout = tap
	}
	if err := c.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	s.children = append(s.children, c)
	go func() {
		c.err = c.cmd.Wait()
		logf.Close()
		close(c.done)
	}()
	return c, nil
}

// stop signals the process group and waits; after 5s it kills the group.
func (c *child) stop(sig syscall.Signal) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, sig)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
		return fmt.Errorf("%s did not stop within 5s of %s; killed", c.name, sig)
	}
	return nil
}

// exited describes an early exit with the end of the child's log, so a failed start says why.
func (c *child) exited() error {
	tail, _ := os.ReadFile(c.log)
	if len(tail) > 2000 {
		tail = tail[len(tail)-2000:]
	}
	return fmt.Errorf("%s exited early (%v); end of %s:\n%s", c.name, c.err, c.log, strings.TrimSpace(string(tail)))
}

// firstLine passes output on to w and sends the first complete line on line.
type firstLine struct {
	w    io.Writer
	buf  []byte
	sent bool
	line chan string
}

func (f *firstLine) Write(p []byte) (int, error) {
	if !f.sent {
		f.buf = append(f.buf, p...)
		if l, _, ok := bytes.Cut(f.buf, []byte("\n")); ok {
			f.line <- string(l)
			f.sent, f.buf = true, nil
		}
	}
	return f.w.Write(p)
}

// startPrinting starts a child and returns what follows prefix on its first stdout line.
func (s *Stack) startPrinting(prefix, name, bin string, args ...string) (*child, string, error) {
	tap := &firstLine{line: make(chan string, 1)}
	c, err := s.startTap(name, bin, tap, args...)
	if err != nil {
		return nil, "", err
	}
	select {
	case l := <-tap.line:
		if a, ok := strings.CutPrefix(l, prefix); ok {
			return c, a, nil
		}
		return nil, "", fmt.Errorf("%s printed %q, want %q<address>", name, l, prefix)
	case <-c.done:
		return nil, "", c.exited()
	case <-time.After(30 * time.Second):
		return nil, "", fmt.Errorf("%s printed no address within 30s; see %s", name, c.log)
	}
}

// waitReady polls url until it answers 200; it gives up when the child exits, ctx ends or within passes.
func (c *child) waitReady(ctx context.Context, url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.done:
			return c.exited()
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s not ready within %s (last error: %v); see %s", c.name, url, within, err, c.log)
		}
	}
}

// freePorts reserves n loopback ports and releases them for the children to bind.
func freePorts(n int) ([]string, error) {
	var out []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}
