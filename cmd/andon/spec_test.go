package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// andonBin builds the CLI: exit codes are main's, so the binary is what to test.
func andonBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "andon")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building cmd/andon: %v\n%s", err, out)
	}
	return bin
}

const validSpec = `service: svc
selector: '{job="svc"}'
signals:
  - name: errs
    kind: ratio
    description: failed requests
    errors: e_total
    total: r_total
    thresholds: {red: 1%}
`

// receiverSection completes validSpec for --strict: where the webhook runs and whom each level pages.
const receiverSection = `alertmanager:
  webhook_url: http://andon-webhook:9095/webhook
  credentials_file: /etc/alertmanager/secrets/andon-token
  notify: {yellow: [chat], red: [pager], emergency: [pager, stakeholders]}
`

// rateVsRatio is the seed's own mistake: errors per second compared with a 0.05% threshold.
const rateVsRatio = "  - {name: err_rate, kind: rate, unit: ratio, metric: erlmcp_errors_total, description: d, thresholds: {red: 0.05%}}\n"

var posRE = regexp.MustCompile(`spec\.yaml:\d+:\d+: error: `)

func TestCheckExitCodes(t *testing.T) {
	bin := andonBin(t)
	cases := []struct {
		name   string
		spec   *string // written to spec.yaml and passed as the argument; nil: args only
		args   []string
		code   int
		stderr string // a part of stderr; "POS" means an error with file:line:col
		stdout string
	}{
		{"a valid spec passes", ptr(validSpec), nil, 0, "", "ok: service svc, 1 signals"},
		{"the erlmcp example passes", nil, []string{"check", "../../examples/erlmcp/limits.yaml"}, 0, "", "ok: service erlmcp"},
		{"malformed YAML fails with a position", ptr("service: [svc\n"), nil, 1, "POS", ""},
		{"an unknown key fails with a position", ptr(validSpec + "servce: x\n"), nil, 1, "POS", ""},
		{"a latency without a unit fails", ptr(validSpec + "  - {name: p, kind: latency, histogram: h, quantile: 0.95, description: d, thresholds: {red: 150}}\n"), nil, 1, "POS", ""},
		{"a negative threshold fails", ptr(strings.Replace(validSpec, "1%", "-1%", 1)), nil, 1, "POS", ""},
		{"a NaN threshold fails", ptr(strings.Replace(validSpec, "1%", ".nan", 1)), nil, 1, "POS", ""},
		{"non-monotonic levels fail", ptr(strings.Replace(validSpec, "{red: 1%}", "{yellow: 2%, red: 1%}", 1)), nil, 1, "POS", ""},
		{"an unparsable selector fails", ptr(strings.Replace(validSpec, `'{job="svc"}'`, `'{job=}'`, 1)), nil, 1, "POS", ""},
		{"an unreachable burn-rate alert fails", ptr(validSpec + "slo: {objective: 90%, signal: errs}\n"), nil, 1, "POS", ""},
		{"an empty spec fails", ptr(""), nil, 1, "spec.yaml:1:1: error: the spec is empty", ""},
		{"a null signal fails instead of panicking", ptr(validSpec + "  -\n"), nil, 1, "POS", ""},
		{"warnings alone pass", ptr(strings.Replace(validSpec, "    description: failed requests\n", "", 1)), nil, 0, "warning: signal errs has no description", "ok"},
		{"warnings fail with --strict", ptr(strings.Replace(validSpec, "    description: failed requests\n", "", 1)), []string{"--strict"}, 1, "1 warning(s) with --strict", ""},
		{"--strict passes a spec without warnings", ptr(validSpec + receiverSection), []string{"--strict"}, 0, "", "ok"},
		{"a placeholder webhook URL is a warning naming the flag", ptr(validSpec), nil, 0, "placeholder webhook_url \"http://127.0.0.1:9095/webhook\": set --webhook.url or alertmanager.webhook_url", "ok"},
		{"placeholders fail with --strict", ptr(validSpec), []string{"--strict"}, 1, "set --webhook.credentials-file or alertmanager.credentials_file", ""},
		{"flags replace the placeholders for --strict", ptr(validSpec + "alertmanager: {notify: {yellow: [chat], red: [pager], emergency: [pager]}}\n"),
			[]string{"--strict", "--webhook.url=http://hook:9095/webhook", "--webhook.credentials-file=/run/secrets/t"}, 0, "", "ok"},
		{"a level that pages nobody fails --strict", ptr(validSpec + strings.Replace(receiverSection, "yellow: [chat], ", "", 1)), []string{"--strict"}, 1, "levels.yellow pages, but alertmanager.notify.yellow names no receiver", ""},
		{"a relative credentials file fails", ptr(validSpec + "alertmanager: {credentials_file: token}\n"), nil, 1, "must be an absolute path", ""},
		{"--strict fails on an error counter read as a rate against a ratio, with a position and a fix", ptr(validSpec + rateVsRatio), []string{"--strict"}, 1,
			"spec.yaml:10:5: warning: signal err_rate: kind rate with unit ratio on the error counter erlmcp_errors_total compares errors per second with a ratio threshold", ""},
		{"the rate-vs-ratio fix names the ratio to write", ptr(validSpec + rateVsRatio), []string{"--strict"}, 1, "use `kind: ratio` with `errors: erlmcp_errors_total`", ""},
		{"the erlmcp example passes --strict", nil, []string{"check", "--strict", "../../examples/erlmcp/limits.yaml"}, 0, "", "ok: service erlmcp"},
		{"a missing file fails", nil, []string{"check", "/nonexistent/limits.yaml"}, 1, "reading spec", ""},
		{"check without a spec is a usage error", nil, []string{"check"}, 2, "required argument 'spec' not provided", ""},
		{"an unknown flag is a usage error", nil, []string{"check", "--stirct", "x.yaml"}, 2, "unknown long flag '--stirct'", ""},
		{"an unknown command is a usage error", nil, []string{"chek"}, 2, "expected command", ""},
		{"generate without an output is a usage error", nil, []string{"generate", "-f", "x.yaml"}, 2, "required flag(s) '--output' not provided", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.spec != nil {
				path := filepath.Join(t.TempDir(), "spec.yaml")
				if err := os.WriteFile(path, []byte(*tc.spec), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append([]string{"check", path}, args...)
			}
			cmd := exec.Command(bin, args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(stderr.String(), "panic:") || strings.Contains(stderr.String(), "goroutine ") {
				t.Fatalf("andon panicked:\n%s", stderr.String())
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout.String(), stderr.String())
			}
			switch {
			case tc.stderr == "POS":
				if !posRE.MatchString(stderr.String()) {
					t.Errorf("stderr has no file:line:col error:\n%s", stderr.String())
				}
			case !strings.Contains(stderr.String(), tc.stderr):
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, stdout.String())
			}
		})
	}
}

// TestGenerateWritesTheCommittedBundle: `andon generate` on an example writes exactly the
// committed bundle (what make check-generated checks, here as a Go test).
func TestGenerateWritesTheCommittedBundle(t *testing.T) {
	bin := andonBin(t)
	out := t.TempDir()
	if b, err := exec.Command(bin, "generate", "-f", "../../examples/erlmcp/limits.yaml", "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	for _, f := range []string{"rules/erlmcp.rules.yaml", "alertmanager/erlmcp.yaml", "tests/erlmcp.test.yaml"} {
		got, err1 := os.ReadFile(filepath.Join(out, f))
		want, err2 := os.ReadFile(filepath.Join("..", "..", "examples", "erlmcp", "generated", f))
		if err1 != nil || err2 != nil {
			t.Fatalf("%v %v", err1, err2)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the committed bundle: run `make generate`", f)
		}
	}
}

func ptr(s string) *string { return &s }
