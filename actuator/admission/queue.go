package admission

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxPassOver is how many slots in a row may go to higher tiers while a
// lower tier waits before that lower tier is served once (Config.MaxPassOver).
const DefaultMaxPassOver = 8

// slots is the heijunka stage: at most limit requests are served at once and up
// to capacity more wait, served strictly by tier (1, then 2, then 3; first come
// first served within a tier) with one anti-starvation rule: a tier that waited
// while maxPassOver slots in a row went to higher tiers gets the next slot. When
// the queue is full, a newcomer evicts the newest waiter of the lowest tier below
// its own, so refusals fall on tier 3 first, then tier 2, and on tier 1 only when
// the queue holds nothing but tier 1.
//
// The empty-queue path is one atomic load and one compare-and-swap; the mutex is
// taken only by requests that must wait and by releases while someone waits.
type slots struct {
	limit       int64
	capacity    int
	timeout     time.Duration
	maxPassOver int

	inUse atomic.Int64
	// waiting mirrors the number of queued requests for the lock-free paths;
	// under mu it equals the sum of the lists' lengths.
	waiting atomic.Int64

	mu         sync.Mutex
	lists      [numTiers + 1]waitList
	passedOver [numTiers + 1]int

	onDepth func(delta float64) // andon_admission_queue_depth
}

// waiter is one queued request. done is buffered so whoever decides its fate
// (grant or eviction) never blocks; exactly one decision is ever sent.
type waiter struct {
	tier       Tier
	done       chan Result
	prev, next *waiter
	queued     bool
}

// waitList is an intrusive FIFO, so a waiter that times out leaves in O(1).
type waitList struct {
	head, tail *waiter
	n          int
}

func (l *waitList) pushBack(w *waiter) {
	w.prev, w.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = w
	} else {
		l.head = w
	}
	l.tail = w
	l.n++
}

func (l *waitList) remove(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		l.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		l.tail = w.prev
	}
	w.prev, w.next = nil, nil
	l.n--
}

// tryTake takes a free slot, never overshooting the limit (a transient
// overshoot could make a waiter queue behind a slot nobody will release).
func (s *slots) tryTake() bool {
	for {
		n := s.inUse.Load()
		if n >= s.limit {
			return false
		}
		if s.inUse.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// acquireFast takes a slot when nobody waits: the allocation-free admit path.
func (s *slots) acquireFast() bool {
	return s.waiting.Load() == 0 && s.tryTake()
}

// acquire waits for a slot in tier order, bounded by capacity and timeout.
func (s *slots) acquire(ctx context.Context, t Tier) Result {
	s.mu.Lock()
	// Announce before trying: a release that misses this increment has already
	// freed its slot, so the tryTake below or its own dispatch sees it.
	s.waiting.Add(1)
	if s.queuedLocked() == 0 && s.tryTake() {
		s.waiting.Add(-1)
		s.mu.Unlock()
		return Admitted
	}
	if s.queuedLocked() >= s.capacity {
		victim := s.victimLocked(t)
		if victim == nil {
			s.waiting.Add(-1)
			s.mu.Unlock()
			return QueueFull
		}
		s.dequeueLocked(victim)
		victim.done <- QueueFull
	}
	w := &waiter{tier: t, done: make(chan Result, 1), queued: true}
	s.lists[t].pushBack(w)
	s.onDepth(1)
	s.dispatchLocked() // a slot may have freed since the fast path looked
	s.mu.Unlock()

	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	select {
	case res := <-w.done:
		return res
	case <-timer.C:
	case <-ctx.Done():
	}
	s.mu.Lock()
	if w.queued {
		s.dequeueLocked(w)
		s.mu.Unlock()
		return QueueTimeout
	}
	s.mu.Unlock()
	// Granted or evicted at the same moment it gave up: the decision stands
	// (a granted slot must be used and released, not leaked).
	return <-w.done
}

// release returns a slot, handing it straight to the next waiter if there is one.
func (s *slots) release() {
	if s.waiting.Load() == 0 {
		s.inUse.Add(-1)
		// A request may have queued between the load and the decrement; it saw
		// the slot taken, so dispatch it here.
		if s.waiting.Load() == 0 {
			return
		}
		s.mu.Lock()
		s.dispatchLocked()
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	if w := s.nextLocked(); w != nil {
		s.dequeueLocked(w)
		w.done <- Admitted // the slot passes on without being freed
	} else {
		s.inUse.Add(-1)
	}
	s.mu.Unlock()
}

// dispatchLocked grants free slots to waiters in tier order.
func (s *slots) dispatchLocked() {
	for s.queuedLocked() > 0 && s.tryTake() {
		w := s.nextLocked()
		s.dequeueLocked(w)
		w.done <- Admitted
	}
}

func (s *slots) queuedLocked() int {
	return s.lists[TierCritical].n + s.lists[TierNormal].n + s.lists[TierBatch].n
}

func (s *slots) dequeueLocked(w *waiter) {
	s.lists[w.tier].remove(w)
	w.queued = false
	s.waiting.Add(-1)
	s.onDepth(-1)
}

// nextLocked picks the waiter to serve: the head of the highest waiting tier,
// unless a lower tier has been passed over maxPassOver times in a row.
func (s *slots) nextLocked() *waiter {
	pick := Tier(0)
	for t := TierNormal; t <= TierBatch; t++ {
		if s.lists[t].n > 0 && s.passedOver[t] >= s.maxPassOver {
			pick = t
			break
		}
	}
	if pick == 0 {
		for t := TierCritical; t <= TierBatch; t++ {
			if s.lists[t].n > 0 {
				pick = t
				break
			}
		}
	}
	if pick == 0 {
		return nil
	}
	for t := TierCritical; t <= TierBatch; t++ {
		switch {
		case t == pick || s.lists[t].n == 0:
			s.passedOver[t] = 0
		case t > pick:
			s.passedOver[t]++
		}
	}
	return s.lists[pick].head
}

// victimLocked is the newest waiter of the lowest tier below t, or nil.
func (s *slots) victimLocked(t Tier) *waiter {
	for v := TierBatch; v > t; v-- {
		if s.lists[v].n > 0 {
			return s.lists[v].tail
		}
	}
	return nil
}
