package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
)

// router matches responses that arrive on a shared stream (legacy SSE,
// stdio) to the calls waiting for them.
type router struct {
	mu      sync.Mutex
	pending map[uint64]chan *message
	err     error // set once the stream is gone
}

func newRouter() *router { return &router{pending: map[uint64]chan *message{}} }

// call registers id, sends the request with send and waits for the answer
// the stream delivers for it.
func (r *router) call(ctx context.Context, id uint64, method string, send func() error) (*message, error) {
	ch, err := r.register(id)
	if err != nil {
		return nil, &CallError{Class: ClassSessionLost, Err: err}
	}
	if err := send(); err != nil {
		r.forget(id)
		return nil, err
	}
	return r.wait(ctx, ch, id, method)
}

func (r *router) register(id uint64) (chan *message, error) {
	ch := make(chan *message, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return nil, r.err
	}
	r.pending[id] = ch
	return ch, nil
}

func (r *router) forget(id uint64) {
	r.mu.Lock()
	delete(r.pending, id)
	r.mu.Unlock()
}

// deliver hands one incoming message to its caller; anything else
// (notifications, server requests, stray ids) is dropped.
func (r *router) deliver(data []byte) {
	var m message
	if json.Unmarshal(data, &m) != nil || m.Method != "" {
		return
	}
	var raw string
	if json.Unmarshal(m.ID, &raw) != nil {
		raw = string(m.ID)
	}
	id, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return
	}
	r.mu.Lock()
	ch := r.pending[id]
	delete(r.pending, id)
	r.mu.Unlock()
	if ch != nil {
		ch <- &m
	}
}

// fail ends every waiting call: the stream that would answer them is gone.
func (r *router) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
	}
	for id, ch := range r.pending {
		close(ch)
		delete(r.pending, id)
	}
}

func (r *router) wait(ctx context.Context, ch chan *message, id uint64, method string) (*message, error) {
	select {
	case m, ok := <-ch:
		if !ok {
			r.mu.Lock()
			err := r.err
			r.mu.Unlock()
			return nil, &CallError{Class: ClassSessionLost, Err: fmt.Errorf("waiting for %s (id %d): %w", method, id, err)}
		}
		return m, nil
	case <-ctx.Done():
		r.forget(id)
		return nil, &CallError{Class: ClassTimeout, Err: fmt.Errorf("waiting for %s (id %d): %w", method, id, ctx.Err())}
	}
}
