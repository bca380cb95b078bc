// Command stack runs andon's closed loop on 127.0.0.1 with real components: the reference MCP
// server (capacity-limited), Prometheus and Alertmanager (pinned binaries), the andon webhook with
// its SQLite ledger, and the load harness driving baseline → overload → recovery. It prints a
// timeline of the loop and writes an HTML report. `make demo` runs it; `make e2e` tests it.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/andon-sre/andon/andon"
	"github.com/andon-sre/andon/bundle"
	"github.com/andon-sre/andon/internal/pinned"
	"github.com/andon-sre/andon/limits"
	"github.com/andon-sre/andon/rulegen"
	"github.com/andon-sre/andon/webhook"
)

// Config sizes the stack. Defaults (DefaultConfig) let 2 cores push the server past capacity.
type Config struct {
	Repo      string // repository root (for go build and the spec)
	Dir       string // work directory: configs, TSDB, ledger, logs
	Spec      string // demo spec
	Capacity  float64
	QueueCap  int
	ActionTTL time.Duration // admission TTL; renewed by Alertmanager re-sends every RepeatEvery
	Repeat    time.Duration
	Token     string
	LoopOff   bool // kill switch on: alerts and andons as usual, no action reaches the service
}

// DefaultConfig is what the demo and the e2e test run.
func DefaultConfig(repo, dir string) Config {
	return Config{Repo: repo, Dir: dir, Spec: filepath.Join(repo, "examples", "stack", "limits.yaml"),
		Capacity: 100, QueueCap: 50, ActionTTL: 15 * time.Second, Repeat: 5 * time.Second, Token: "andon-demo-token"}
}

// Stack is the running system. Stop ends everything it started.
type Stack struct {
	cfg      Config
	procs    []*exec.Cmd
	Server   string // http://host:port of the MCP server
	Prom     string
	AM       string
	Webhook  string
	Harness  string // host:port Prometheus scrapes the harness on
	harnessL net.Listener
	wh       *webhookProc
	Spec     *limits.Spec
	red      redLatency
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
	s := &Stack{cfg: cfg}
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
	serverBin := filepath.Join(cfg.Dir, "mcpserver")
	build := exec.CommandContext(ctx, "go", "build", "-o", serverBin, "./examples/mcpserver")
	build.Dir, build.Stderr = cfg.Repo, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("go build ./examples/mcpserver: %w", err)
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	s.Prom, s.AM, s.Webhook = "http://"+ports[0], "http://"+ports[1], "http://"+ports[2]
	if s.harnessL, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	s.Harness = s.harnessL.Addr().String()

	// The MCP server prints its address first, so it needs no port guessed in advance.
	srv := s.command("mcpserver", serverBin, "--web.listen-address=127.0.0.1:0", "--admin.token="+cfg.Token,
		fmt.Sprintf("--capacity.rate=%g", cfg.Capacity), fmt.Sprintf("--capacity.queue-capacity=%d", cfg.QueueCap))
	addr, err := s.startPrinting(srv, "listening on ")
	if err != nil {
		return nil, err
	}
	s.Server = "http://" + addr

	if err := s.generate(); err != nil {
		return nil, err
	}
	if s.wh, err = startWebhook(s.webhookConfig(), ports[2]); err != nil {
		return nil, err
	}
	am := s.command("alertmanager", amBin,
		"--config.file="+filepath.Join(cfg.Dir, "alertmanager.yml"), "--storage.path="+filepath.Join(cfg.Dir, "am"),
		"--web.listen-address="+ports[1], "--cluster.listen-address=")
	prom := s.command("prometheus", promBin,
		"--config.file="+filepath.Join(cfg.Dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(cfg.Dir, "tsdb"),
		"--web.listen-address="+ports[0])
	for _, c := range []*exec.Cmd{am, prom} {
		if err := s.startCmd(c); err != nil {
			return nil, err
		}
	}
	for _, u := range []string{s.Server + "/-/ready", s.AM + "/-/ready", s.Prom + "/-/ready", s.Webhook + "/-/ready"} {
		if err := waitReady(ctx, u, 60*time.Second); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// generate writes the bundle from the demo spec and the Prometheus and Alertmanager configs around it.
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
	return os.WriteFile(filepath.Join(s.cfg.Dir, "alertmanager.yml"), merged, 0o644)
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

func (s *Stack) webhookConfig() *webhook.Config {
	pol := fmt.Sprintf(`db: %s
bearer_token: %s
actuator:
  kill_switch: %t
  alertmanager_repeat_interval: %s
  defaults: {ttl: %s, cooldown: 1s, hold_down: 5s}
  services:
    %s:
      token: %s
      instances: [{name: %s, url: %s/admin/admission}]
`, filepath.Join(s.cfg.Dir, "andon.db"), s.cfg.Token, s.cfg.LoopOff, s.cfg.Repeat, s.cfg.ActionTTL, s.Spec.Service, s.cfg.Token,
		strings.TrimPrefix(s.Server, "http://"), s.Server)
	c, err := webhook.ParseConfig([]byte(pol))
	if err != nil {
		panic(fmt.Sprintf("demo webhook config is invalid: %v\n%s", err, pol)) // a bug in this file, not input
	}
	return c
}

// StopWebhook stops the receiver (as a crash or a deploy would); RestartWebhook brings it back on the same port and ledger.
func (s *Stack) StopWebhook() error { err := s.wh.stop(); s.wh = nil; return err }

// RestartWebhook starts the receiver again with the same config and SQLite file.
func (s *Stack) RestartWebhook(ctx context.Context) (err error) {
	if s.wh, err = startWebhook(s.webhookConfig(), strings.TrimPrefix(s.Webhook, "http://")); err != nil {
		return err
	}
	return waitReady(ctx, s.Webhook+"/-/ready", 10*time.Second)
}

// Ledger is a client of the webhook's ledger API.
func (s *Stack) Ledger() *andon.Client {
	return &andon.Client{URL: s.Webhook, BearerToken: s.cfg.Token, HTTP: &http.Client{Timeout: 5 * time.Second}}
}

// Stop ends every process group started, the webhook and the harness listener. Safe to call twice.
func (s *Stack) Stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		c := s.procs[i]
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if logf, ok := c.Stderr.(*os.File); ok {
			_ = logf.Close()
		}
	}
	s.procs = nil
	if s.wh != nil {
		_ = s.wh.stop()
		s.wh = nil
	}
	if s.harnessL != nil {
		_ = s.harnessL.Close()
		s.harnessL = nil
	}
}

// command prepares a child in its own process group, so Stop can end it and anything it forks.
func (s *Stack) command(name, bin string, args ...string) *exec.Cmd {
	c := exec.Command(bin, args...)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(filepath.Join(s.cfg.Dir, name+".log"))
	if err == nil {
		c.Stderr = logf
	}
	return c
}

func (s *Stack) startCmd(c *exec.Cmd) error {
	if err := c.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", c.Path, err)
	}
	s.procs = append(s.procs, c)
	return nil
}

// startPrinting starts c and returns what follows prefix on its first stdout line.
func (s *Stack) startPrinting(c *exec.Cmd, prefix string) (string, error) {
	out, err := c.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := s.startCmd(c); err != nil {
		return "", err
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case line <- sc.Text():
			default:
			}
		}
	}()
	select {
	case l := <-line:
		if a, ok := strings.CutPrefix(l, prefix); ok {
			return a, nil
		}
		return "", fmt.Errorf("%s printed %q, want %q<address>", c.Path, l, prefix)
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("%s printed no address within 30s; see its log in the work directory", c.Path)
	}
}

// webhookProc is the receiver, run in-process rather than as an `andon webhook` child: the
// fail-safe test stops it and restarts it on the same port and ledger, and its config is built here.
type webhookProc struct {
	srv  *webhook.Server
	http *http.Server
	done chan error
}

func startWebhook(cfg *webhook.Config, addr string) (*webhookProc, error) {
	ws, err := webhook.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	var l net.Listener
	for range 50 { // the port was just released by the previous receiver
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		ws.Close()
		return nil, fmt.Errorf("webhook listen %s: %w", addr, err)
	}
	w := &webhookProc{srv: ws, http: &http.Server{Handler: ws.Handler(), ReadHeaderTimeout: 10 * time.Second}, done: make(chan error, 1)}
	go func() { w.done <- w.http.Serve(l) }()
	return w, nil
}

func (w *webhookProc) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := w.http.Shutdown(ctx)
	if e := <-w.done; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return errors.Join(err, w.srv.Close())
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

func waitReady(ctx context.Context, url string, within time.Duration) error {
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
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s not ready within %s (last error: %v); see the logs in the work directory", url, within, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
