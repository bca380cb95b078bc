package harness

import (
	"context"
	"fmt"
	"time"
)

// retryable: the server is there but busy or slow (a timeout, a reset, an
// HTTP 408/429/502/503/504). A refused connection is not: nothing listens,
// and waiting the start-up budget out would only hide that.
func retryable(err error) bool {
	switch Classify(err) {
	case ClassTimeout, ClassReset, "http_408", "http_429", "http_502", "http_503", "http_504":
		return true
	}
	return false
}

// retry calls try until it succeeds, fails for a reason that is not
// retryable, or the next attempt would start after deadline; the wait
// between attempts doubles from 100 ms up to 2 s.
func retry(ctx context.Context, deadline time.Time, try func() error) error {
	wait := 100 * time.Millisecond
	for {
		err := try()
		if err == nil || !retryable(err) || ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			return err
		}
		if !sleepUntil(ctx, time.Now().Add(wait), false) {
			return err
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// probe opens the run's first connection, which fixes the protocol era.
// Against a busy server it retries within the start-up budget; each attempt
// is recorded in the set-up rows ("era probe"). When it gives up, the error
// says what the last attempt saw, how often and how long it tried.
func (r *runner) probe(ctx context.Context) (*Conn, error) {
	start := time.Now()
	deadline := start.Add(r.opts.StartupTimeout)
	attempts := 0
	var c *Conn
	err := retry(ctx, deadline, func() error {
		attempts++
		t0 := time.Now()
		cctx, cancel := context.WithTimeout(ctx, min(r.p.Timeout, max(time.Until(deadline), time.Millisecond)))
		var err error
		c, err = r.dialer.Dial(cctx)
		cancel()
		era := r.opts.Target.Era
		if c != nil {
			era = c.Era()
		}
		r.finish(opKey{Method: r.setupMethod(era), Name: "(era probe)", Tier: 1}, 0, t0, t0, err, true)
		return err
	})
	if err == nil {
		return c, nil
	}
	if attempts > 1 {
		return nil, fmt.Errorf("%w (gave up after %d attempts in %s, the start-up budget; a busy server may need a longer --startup-timeout)",
			err, attempts, time.Since(start).Round(time.Millisecond))
	}
	return nil, err
}
