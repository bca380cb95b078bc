package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// legacySSEWire speaks the 2024-11-05 HTTP+SSE transport: a GET opens an
// event stream whose first "endpoint" event names the URL to POST messages
// to; responses come back on the stream as "message" events.
type legacySSEWire struct {
	http     *http.Client
	header   http.Header
	endpoint string
	cancel   context.CancelFunc
	r        *router
	done     chan struct{}
}

func dialLegacySSE(ctx context.Context, hc *http.Client, target string, header http.Header) (*legacySSEWire, error) {
	streamCtx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(streamCtx, http.MethodGet, target, nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("SSE URL %q: %w", target, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	type result struct {
		resp *http.Response
		err  error
	}
	got := make(chan result, 1)
	go func() { resp, err := hc.Do(req); got <- result{resp, err} }()
	var res result
	select {
	case res = <-got:
	case <-ctx.Done():
		cancel()
		return nil, classified(ctx.Err(), "GET %s", target)
	}
	if res.err != nil {
		cancel()
		return nil, classified(res.err, "GET %s", target)
	}
	if res.resp.StatusCode != http.StatusOK {
		discard(res.resp)
		cancel()
		return nil, &CallError{Class: fmt.Sprintf("http_%d", res.resp.StatusCode), Status: res.resp.StatusCode,
			Err: fmt.Errorf("GET %s: HTTP %d, want 200 with an event stream", target, res.resp.StatusCode)}
	}
	sse := NewSSEReader(res.resp.Body, 0)
	w := &legacySSEWire{http: hc, header: header, cancel: cancel, r: newRouter(), done: make(chan struct{})}
	ev, err := nextWithin(ctx, sse, cancel)
	if err != nil || ev.Type != "endpoint" {
		cancel()
		res.resp.Body.Close()
		if err == nil {
			err = fmt.Errorf("first event is %q, want \"endpoint\"", ev.Type)
		}
		return nil, &CallError{Class: classOfRead(err), Err: fmt.Errorf("legacy SSE %s: %w", target, err)}
	}
	base, _ := url.Parse(target)
	ep, err := base.Parse(string(bytes.TrimSpace(ev.Data)))
	if err != nil {
		cancel()
		res.resp.Body.Close()
		return nil, &CallError{Class: ClassProtocol, Err: fmt.Errorf("legacy SSE %s: endpoint %q: %w", target, ev.Data, err)}
	}
	w.endpoint = ep.String()
	go func() {
		defer close(w.done)
		defer res.resp.Body.Close()
		for {
			ev, err := sse.Next()
			if err != nil {
				w.r.fail(fmt.Errorf("event stream of %s closed: %w", target, err))
				return
			}
			if ev.Type == "" || ev.Type == "message" {
				w.r.deliver(ev.Data)
			}
		}
	}()
	return w, nil
}

// nextWithin reads one event, giving up when ctx ends.
func nextWithin(ctx context.Context, sse *SSEReader, cancel context.CancelFunc) (Event, error) {
	type result struct {
		ev  Event
		err error
	}
	got := make(chan result, 1)
	go func() { ev, err := sse.Next(); got <- result{ev, err} }()
	select {
	case r := <-got:
		return r.ev, r.err
	case <-ctx.Done():
		cancel() // unblocks the reader
		<-got
		return Event{}, ctx.Err()
	}
}

func (w *legacySSEWire) negotiated(string) {}

func (w *legacySSEWire) post(ctx context.Context, body []byte, tier string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range w.header {
		req.Header[k] = v
	}
	req.Header["Content-Type"] = []string{"application/json"}
	if tier != "" {
		req.Header["X-Priority-Tier"] = []string{tier}
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return classified(err, "POST %s", w.endpoint)
	}
	defer discard(resp)
	if resp.StatusCode/100 != 2 {
		class := fmt.Sprintf("http_%d", resp.StatusCode)
		if resp.StatusCode == http.StatusNotFound {
			class = ClassSessionLost
		}
		return &CallError{Class: class, Status: resp.StatusCode, Err: fmt.Errorf("POST %s: HTTP %d", w.endpoint, resp.StatusCode)}
	}
	return nil
}

func (w *legacySSEWire) call(ctx context.Context, p *Prepared, id uint64) (*message, error) {
	return w.r.call(ctx, id, p.method, func() error { return w.post(ctx, p.body(id), p.tierHeader) })
}

func (w *legacySSEWire) notify(ctx context.Context, body []byte) error { return w.post(ctx, body, "") }

func (w *legacySSEWire) close(ctx context.Context) error {
	w.cancel()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return errors.New("legacy SSE stream did not close")
	}
}
