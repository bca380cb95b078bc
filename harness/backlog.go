package harness

import (
	"sync"
	"time"
)

// backlog is the open model's queue between the scheduler and the workers:
// the slots that are due and not yet sent, oldest first. The scheduler never
// waits on it, so it keeps counting the schedule while every worker is busy;
// a slot that waited longer than its timeout is dropped instead of sent
// (it would have timed out anyway), which also bounds the backlog to
// rate × timeout slots.
type backlog struct {
	r       *runner
	mu      sync.Mutex
	cond    *sync.Cond
	jobs    []job
	waiting int // workers blocked in take and not yet promised a slot
	closed  bool
}

func newBacklog(r *runner) *backlog {
	q := &backlog{r: r}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// put queues a due slot; capped says every worker was busy at max_in_flight.
// It reports whether an idle worker was promised the slot (otherwise the
// caller may start a worker).
func (q *backlog) put(j job, capped bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	j.capped = capped && q.waiting == 0
	q.jobs = append(q.jobs, j)
	if q.waiting > 0 {
		q.waiting--
		q.cond.Signal()
		return true
	}
	return false
}

// take hands out the oldest slot still worth sending, waiting for one; it
// returns false once the backlog is closed and empty.
func (q *backlog) take() (job, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		for len(q.jobs) > 0 {
			j := q.jobs[0]
			q.jobs = q.jobs[1:]
			if waited := time.Since(j.intended); waited > q.r.p.Timeout {
				reason := DropSchedulerBehind
				if j.capped {
					reason = DropInFlightCap
				}
				q.r.st.drop(j.entry.key, j.offset, waited, reason)
				continue
			}
			return j, true
		}
		if q.closed {
			return job{}, false
		}
		q.waiting++
		q.cond.Wait()
	}
}

// close ends the backlog at the end of the run: slots still waiting behind
// the in-flight cap are dropped for reason, each at the wait it had by then;
// slots already promised to a worker still go out. When the run was
// interrupted (reason DropInterrupted) nothing queued is sent.
func (q *backlog) close(reason string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	kept := q.jobs[:0]
	for _, j := range q.jobs {
		if j.capped || reason == DropInterrupted {
			q.r.st.drop(j.entry.key, j.offset, now.Sub(j.intended), reason)
		} else {
			kept = append(kept, j)
		}
	}
	q.jobs, q.closed, q.waiting = kept, true, 0
	q.cond.Broadcast()
}
