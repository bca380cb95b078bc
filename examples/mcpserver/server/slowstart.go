package server

import (
	"context"
	"sync/atomic"
	"time"
)

// SlowStart injects a start-up latency spike: every MCP message waits Latency more
// during the first For after the server's first message (not after process start,
// so the spike lands on the first load whenever a slow machine gets there). It
// reproduces a service that is slow while caches, JIT or connection pools warm up,
// which a loop test's warm-up must ride out.
type SlowStart struct {
	For, Latency time.Duration
}

type slowStart struct {
	cfg   SlowStart
	first atomic.Int64 // Unix ns of the first message; 0 before it
}

// wait delays one message while the spike lasts; it returns ctx's error if the
// client gives up first.
func (s *slowStart) wait(ctx context.Context) error {
	if s.cfg.For <= 0 || s.cfg.Latency <= 0 {
		return nil
	}
	now := time.Now().UnixNano()
	s.first.CompareAndSwap(0, now)
	if now-s.first.Load() >= int64(s.cfg.For) {
		return nil
	}
	return sleepCtx(ctx, s.cfg.Latency)
}
