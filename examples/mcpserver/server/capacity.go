package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Capacity is the overload model: the server processes RatePerSecond messages per
// second; messages beyond that wait in a queue of QueueCapacity, and a full queue
// refuses. ErrorRatio of tools/call fail; MemoryGrowthBytesPerSecond is allocated
// and retained (up to MemoryLimitBytes, 0 meaning 1 GiB). Everything can change at run time.
type Capacity struct {
	RatePerSecond              float64 `json:"rate_per_second"`
	QueueCapacity              int     `json:"queue_capacity"`
	ErrorRatio                 float64 `json:"error_ratio"`
	MemoryGrowthBytesPerSecond int64   `json:"memory_growth_bytes_per_second"`
	MemoryLimitBytes           int64   `json:"memory_limit_bytes"`
}

// DefaultCapacity is the model the server starts with.
var DefaultCapacity = Capacity{RatePerSecond: 500, QueueCapacity: 5000, MemoryLimitBytes: 1 << 30}

// Validate names the first field out of range.
func (c Capacity) Validate() error {
	switch {
	case math.IsNaN(c.RatePerSecond) || c.RatePerSecond < 0:
		return fmt.Errorf("rate_per_second: %v must be ≥ 0 (0 means unlimited)", c.RatePerSecond)
	case c.QueueCapacity < 0:
		return fmt.Errorf("queue_capacity: %d must be ≥ 0", c.QueueCapacity)
	case math.IsNaN(c.ErrorRatio) || c.ErrorRatio < 0 || c.ErrorRatio > 1:
		return fmt.Errorf("error_ratio: %v is outside 0..1", c.ErrorRatio)
	case c.MemoryGrowthBytesPerSecond < 0:
		return fmt.Errorf("memory_growth_bytes_per_second: %d must be ≥ 0", c.MemoryGrowthBytesPerSecond)
	case c.MemoryLimitBytes < 0:
		return fmt.Errorf("memory_limit_bytes: %d must be ≥ 0", c.MemoryLimitBytes)
	}
	return nil
}

// CapacityUpdate is the body of PUT /admin/capacity: fields present are set.
// ReleaseMemory frees what the memory-growth injection retained.
type CapacityUpdate struct {
	RatePerSecond              *float64 `json:"rate_per_second,omitempty"`
	QueueCapacity              *int     `json:"queue_capacity,omitempty"`
	ErrorRatio                 *float64 `json:"error_ratio,omitempty"`
	MemoryGrowthBytesPerSecond *int64   `json:"memory_growth_bytes_per_second,omitempty"`
	MemoryLimitBytes           *int64   `json:"memory_limit_bytes,omitempty"`
	ReleaseMemory              bool     `json:"release_memory,omitempty"`
}

// CapacityState is what GET and PUT /admin/capacity answer.
type CapacityState struct {
	Capacity
	QueueDepth    int   `json:"queue_depth"`
	RetainedBytes int64 `json:"retained_bytes"`
}

var errQueueFull = errors.New("capacity model: queue is full")

// capacityModel schedules messages on a virtual timeline: each admitted message
// takes the next 1/rate slot; its wait is the distance to that slot.
type capacityModel struct {
	mu       sync.Mutex
	cfg      Capacity
	next     time.Time // next free processing slot
	waiting  int
	retained [][]byte
	retBytes int64

	queueDepth prometheus.Gauge
}

func newCapacityModel(c Capacity, queueDepth prometheus.Gauge) *capacityModel {
	return &capacityModel{cfg: c, queueDepth: queueDepth}
}

// admit returns when the message may be processed, or errQueueFull at once.
func (m *capacityModel) admit(ctx context.Context) error {
	m.mu.Lock()
	if m.cfg.RatePerSecond <= 0 {
		m.mu.Unlock()
		return nil
	}
	now := time.Now()
	if m.next.Before(now) {
		m.next = now
	}
	wait := m.next.Sub(now)
	if wait > 0 && m.waiting >= m.cfg.QueueCapacity {
		m.mu.Unlock()
		return errQueueFull
	}
	m.next = m.next.Add(time.Duration(float64(time.Second) / m.cfg.RatePerSecond))
	if wait <= 0 {
		m.mu.Unlock()
		return nil
	}
	m.waiting++
	m.queueDepth.Set(float64(m.waiting))
	m.mu.Unlock()

	t := time.NewTimer(wait)
	defer t.Stop()
	var err error
	select {
	case <-t.C:
	case <-ctx.Done():
		err = ctx.Err()
	}
	m.mu.Lock()
	m.waiting--
	m.queueDepth.Set(float64(m.waiting))
	if err != nil && m.cfg.RatePerSecond > 0 {
		// A message given up before its slot frees one slot's worth of the timeline;
		// otherwise abandoned waits would keep throttling the messages after them.
		back := m.next.Add(-time.Duration(float64(time.Second) / m.cfg.RatePerSecond))
		m.next = later(back, time.Now())
	}
	m.mu.Unlock()
	return err
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (m *capacityModel) errorRatio() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg.ErrorRatio
}

func (m *capacityModel) state() CapacityState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stateLocked()
}

func (m *capacityModel) stateLocked() CapacityState {
	return CapacityState{Capacity: m.cfg, QueueDepth: m.waiting, RetainedBytes: m.retBytes}
}

func (m *capacityModel) apply(u CapacityUpdate) (CapacityState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.cfg
	setIf(&c.RatePerSecond, u.RatePerSecond)
	setIf(&c.QueueCapacity, u.QueueCapacity)
	setIf(&c.ErrorRatio, u.ErrorRatio)
	setIf(&c.MemoryGrowthBytesPerSecond, u.MemoryGrowthBytesPerSecond)
	setIf(&c.MemoryLimitBytes, u.MemoryLimitBytes)
	if err := c.Validate(); err != nil {
		return CapacityState{}, err
	}
	if c.RatePerSecond != m.cfg.RatePerSecond {
		m.next = time.Time{} // the old backlog was scheduled at the old rate
	}
	m.cfg = c
	if u.ReleaseMemory {
		m.retained, m.retBytes = nil, 0
	}
	return m.stateLocked(), nil
}

func setIf[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// growMemory allocates and retains MemoryGrowthBytesPerSecond, ten times a
// second, until ctx ends. The pages are written so they count as resident.
func (m *capacityModel) growMemory(ctx context.Context) {
	const tick = 100 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.mu.Lock()
		n := m.cfg.MemoryGrowthBytesPerSecond / int64(time.Second/tick)
		limit := m.cfg.MemoryLimitBytes
		if limit == 0 {
			limit = DefaultCapacity.MemoryLimitBytes
		}
		if room := limit - m.retBytes; n > room {
			n = room
		}
		if n > 0 {
			b := make([]byte, n)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			m.retained = append(m.retained, b)
			m.retBytes += n
		}
		m.mu.Unlock()
	}
}
