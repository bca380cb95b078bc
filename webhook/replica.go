package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/andon-sre/andon/actuator"
	"github.com/andon-sre/andon/andon"
)

// Replicas on one PostgreSQL ledger. Every replica records notifications
// and queues them in the outbox in the same transaction; exactly one, the
// holder of the "actuator" lease, runs the actuator on the queue. Why that
// is safe:
//
//   - The lease expires by the database's clock; a replica takes it over only
//     after it lapsed, and its epoch then grows.
//   - The actuator commits every decision (its state: active actions,
//     pending reverts, cooldowns) before it acts, in a transaction that holds
//     a share lock on the lease row and requires the holder's unexpired term.
//     A replica cut off from the database (partition, restart) cannot commit,
//     so it does not act; one whose term ended is refused.
//   - A replica taking the lease over must update that row, so it waits for
//     any such transaction to end, then reads the committed state: it sees
//     every decision its predecessor may act on, renews or reverts those
//     actions, and does not apply them twice.
//   - Queue entries are deleted only after they were handled, under the same
//     fence: a replica dying in between leaves them to its successor, whose
//     restored state turns a second handling into "already active".
//
// Alertmanager's repeat_interval re-sends renew actions through the queue
// like any notification, and each service also expires a setting by its TTL.

const (
	actuatorLease = "actuator"
	outboxBatch   = 256
	outboxPoll    = 50 * time.Millisecond
)

// leadership keeps or seeks the actuator lease and drains the outbox while it holds it.
type leadership struct {
	s      *Server
	store  andon.Replicated
	holder string
	ttl    time.Duration
	// lease is the current term, nil while another replica acts. The engine
	// is resumed before a term is published here and paused after it is
	// withdrawn, so a drain that sees the same term before and after
	// Handle knows the engine was acting.
	lease atomic.Pointer[andon.Lease]
}

func newLeadership(s *Server, store andon.Replicated, ttl time.Duration) *leadership {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &leadership{s: s, store: store, ttl: ttl, holder: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))}
}

// keep renews the lease every third of its ttl, or tries to take it.
func (l *leadership) keep() {
	tick := time.NewTicker(l.ttl / 3)
	defer tick.Stop()
	for {
		l.renew()
		select {
		case <-l.s.stop:
			if cur := l.withdraw(); cur != nil {
				ctx, cancel := context.WithTimeout(context.Background(), l.ttl)
				defer cancel()
				if err := l.store.ReleaseLease(ctx, *cur); err != nil {
					l.s.log.Warn("actuator lease not released: another replica takes over when it lapses", "err", err)
				}
			}
			return
		case <-tick.C:
		}
	}
}

func (l *leadership) renew() {
	ctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
	defer cancel()
	lease, err := l.store.AcquireLease(ctx, actuatorLease, l.holder, l.ttl)
	cur := l.lease.Load()
	switch {
	case err == nil && cur != nil && cur.Epoch == lease.Epoch:
		return // renewed
	case err == nil:
		if cur != nil {
			l.withdraw() // the term lapsed before this renewal: restart from the committed state
		}
		doc, err := l.store.State(ctx, actuatorState)
		if err != nil {
			l.s.log.Warn("actuator lease taken but its state unreadable: not acting yet", "err", err)
			return
		}
		if err := l.s.engine.Resume(doc); err != nil {
			l.s.log.Warn("actuator state not restored: acting without it", "err", err)
		}
		l.lease.Store(&lease)
		l.s.log.Info("actuator lease taken: this replica acts", "holder", l.holder, "epoch", lease.Epoch)
	case cur != nil:
		l.withdraw()
		l.s.log.Warn("actuator lease lost: this replica stops acting", "holder", l.holder, "err", err)
	case !errors.Is(err, andon.ErrLeaseHeld):
		l.s.log.Warn("actuator lease not renewable", "err", err)
	}
}

// withdraw ends this replica's term locally: no new decision, reverts cancelled.
func (l *leadership) withdraw() *andon.Lease {
	cur := l.lease.Swap(nil)
	if cur != nil {
		l.s.engine.Pause()
	}
	return cur
}

// drain hands queued notifications to the actuator, in order, while this
// replica holds the lease.
func (l *leadership) drain() {
	for {
		full := false
		if lease := l.lease.Load(); lease != nil {
			full = l.drainOnce(lease)
		}
		if full {
			continue
		}
		select {
		case <-l.s.stop:
			return
		case <-time.After(outboxPoll):
		}
	}
}

// drainOnce handles one batch; it says whether the batch was full (more wait).
func (l *leadership) drainOnce(lease *andon.Lease) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	entries, err := l.store.Outbox(ctx, outboxBatch)
	if err != nil {
		l.s.log.Warn("outbox unreadable", "err", err)
		return false
	}
	if len(entries) == 0 {
		return false
	}
	ids := make([]int64, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
		alerts := make([]actuator.Alert, len(e.Alerts))
		for j, a := range e.Alerts {
			alerts[j] = actuator.Alert{Key: a.Key, Name: a.Labels["alertname"], Status: a.Status, Fingerprint: a.Fingerprint,
				StartsAt: a.StartsAt, Labels: a.Labels, Annotations: a.Annotations, AndonID: a.AndonID}
		}
		l.s.engine.Handle(ctx, alerts)
	}
	if l.lease.Load() != lease {
		return false // the term ended during Handle: the successor handles them (again)
	}
	if err := l.store.DoneOutbox(ctx, *lease, ids); err != nil {
		l.s.log.Warn("handled outbox entries not removed: the next lease holder handles them again", "err", err)
		return false
	}
	return len(entries) == outboxBatch
}

// fencedRecorder saves the actuator's state only under the current lease term.
type fencedRecorder struct {
	recorder
	l *leadership
}

func (r fencedRecorder) SaveState(ctx context.Context, doc []byte) error {
	lease := r.l.lease.Load()
	if lease == nil {
		return fmt.Errorf("%w: %w", andon.ErrUnavailable, andon.ErrLeaseLost)
	}
	// Bounded: a database that stopped answering (a partition) must not hold
	// the actuator; by then the term has lapsed and the write would be refused.
	ctx, cancel := context.WithTimeout(ctx, r.l.ttl)
	defer cancel()
	return r.l.store.PutStateFenced(ctx, *lease, actuatorState, doc)
}
