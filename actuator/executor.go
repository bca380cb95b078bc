package actuator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/prometheus/common/model"

	"github.com/andon-sre/andon/actuator/admission"
)

// Request is one setting to apply to one target (or to revert: On false).
type Request struct {
	Kind         Kind             `json:"kind"`
	On           bool             `json:"on"`
	Service      string           `json:"service"`
	Instance     string           `json:"instance,omitempty"`
	ShedFraction float64          `json:"shed_fraction,omitempty"`
	ShedTiers    []admission.Tier `json:"shed_tiers,omitempty"`
	TTL          time.Duration    `json:"ttl"`
	Reason       string           `json:"reason"`
	AndonID      string           `json:"andon_id,omitempty"`
}

// Executor applies a request to its target. Errors wrapped with Permanent
// are not retried.
type Executor interface {
	Execute(ctx context.Context, r Request, inst Instance) error
}

// Permanent marks an error that a retry cannot fix (e.g. a 400).
type Permanent struct{ Err error }

func (p Permanent) Error() string { return p.Err.Error() }
func (p Permanent) Unwrap() error { return p.Err }

// SetBy is who the admission API records as the setter.
const SetBy = "andon-webhook"

// update is the admission API body for r (docs/contracts.md).
func update(r Request) admission.Update {
	u := admission.Update{Reason: r.Reason, AndonID: r.AndonID, SetBy: SetBy}
	if r.On {
		u.TTL = model.Duration(r.TTL).String()
	}
	switch r.Kind {
	case Shed:
		f := 0.0
		if r.On {
			f = r.ShedFraction
			u.ShedTiers = r.ShedTiers
		}
		u.ShedFraction = &f
	case RejectNew:
		u.RejectNew = &r.On
	case Drain:
		u.Drain = &r.On
	}
	return u
}

// AdmissionExecutor PUTs to each instance's admission API.
type AdmissionExecutor struct {
	Token  string
	Client *http.Client
}

// Execute implements Executor.
func (e AdmissionExecutor) Execute(ctx context.Context, r Request, inst Instance) error {
	b, _ := json.Marshal(update(r))
	return doHTTP(ctx, e.Client, http.MethodPut, inst.URL, map[string]string{"Authorization": "Bearer " + e.Token}, b)
}

// HTTPExecutor sends the Request as JSON.
type HTTPExecutor struct {
	Target HTTPTarget
	Client *http.Client
}

// Execute implements Executor.
func (e HTTPExecutor) Execute(ctx context.Context, r Request, _ Instance) error {
	b, _ := json.Marshal(r)
	m := e.Target.Method
	if m == "" {
		m = http.MethodPost
	}
	return doHTTP(ctx, e.Client, m, e.Target.URL, e.Target.Headers, b)
}

func doHTTP(ctx context.Context, c *http.Client, method, url string, headers map[string]string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return Permanent{fmt.Errorf("target URL %q: %w", url, err)}
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("%s %s: HTTP %d: %s", method, url, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return Permanent{fmt.Errorf("%s %s: HTTP %d: %s", method, url, resp.StatusCode, bytes.TrimSpace(msg))}
}

// ExecExecutor runs a command with the Request as JSON on stdin and as
// ANDON_KIND, ANDON_ON, ANDON_SERVICE, ANDON_INSTANCE, ANDON_SHED_FRACTION,
// ANDON_TTL, ANDON_REASON, ANDON_ANDON_ID in the environment.
type ExecExecutor struct{ Command []string }

// Execute implements Executor.
func (e ExecExecutor) Execute(ctx context.Context, r Request, inst Instance) error {
	cmd := exec.CommandContext(ctx, e.Command[0], e.Command[1:]...)
	b, _ := json.Marshal(r)
	cmd.Stdin = bytes.NewReader(b)
	cmd.Env = append(os.Environ(),
		"ANDON_KIND="+string(r.Kind), fmt.Sprint("ANDON_ON=", r.On), "ANDON_SERVICE="+r.Service, "ANDON_INSTANCE="+inst.Name,
		fmt.Sprint("ANDON_SHED_FRACTION=", r.ShedFraction), "ANDON_TTL="+r.TTL.String(), "ANDON_REASON="+r.Reason, "ANDON_ANDON_ID="+r.AndonID)
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.Error
		if errors.As(err, &ee) {
			return Permanent{fmt.Errorf("exec %s: %w", e.Command[0], err)}
		}
		return fmt.Errorf("exec %s: %w: %s", e.Command[0], err, bytes.TrimSpace(out))
	}
	return nil
}

// executorFor builds the executor a service's policy describes.
func executorFor(s *Service, c *http.Client) Executor {
	switch {
	case s.Exec != nil:
		return ExecExecutor{Command: s.Exec.Command}
	case s.HTTP != nil:
		return HTTPExecutor{Target: *s.HTTP, Client: c}
	}
	return AdmissionExecutor{Token: s.Token, Client: c}
}

// withRetry retries non-permanent errors with exponential backoff.
func withRetry(ctx context.Context, r Retry, fn func(context.Context) error) (attempts int, err error) {
	backoff := time.Duration(r.InitialBackoff)
	for attempts = 1; ; attempts++ {
		actx, cancel := context.WithTimeout(ctx, time.Duration(r.Timeout))
		err = fn(actx)
		cancel()
		var perm Permanent
		if err == nil || errors.As(err, &perm) || attempts >= r.Attempts {
			return attempts, err
		}
		select {
		case <-ctx.Done():
			return attempts, errors.Join(err, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Duration(r.MaxBackoff))
	}
}
