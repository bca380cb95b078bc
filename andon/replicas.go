package andon

import (
	"context"
	"errors"
	"time"
)

// Replicated is a Store that several 'andon webhook' replicas share
// (PostgreSQL). Every replica records notifications; the actuator runs on
// the one replica holding the actuator lease. Ingest also queues each
// recorded notification in an outbox, in the same transaction, which the
// lease holder drains: an acknowledged notification reaches the actuator
// even when the replica that received it dies right after the ack.
type Replicated interface {
	Store
	// AcquireLease takes the named lease for holder, or renews it, for ttl
	// (measured by the database's clock). It returns ErrLeaseHeld when
	// another holder has it. The epoch grows each time the lease changes
	// hands or lapses, so a holder can tell that its term was interrupted.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error)
	// ReleaseLease ends a term early (on shutdown), so another replica takes over at once.
	ReleaseLease(ctx context.Context, l Lease) error
	// Outbox returns up to max queued notifications, oldest first.
	Outbox(ctx context.Context, max int) ([]OutboxEntry, error)
	// DoneOutbox removes handled entries, and PutStateFenced replaces a
	// state document; both commit only while l is still held (else
	// ErrLeaseLost): a replica that lost its lease cannot commit a decision.
	DoneOutbox(ctx context.Context, l Lease, ids []int64) error
	PutStateFenced(ctx context.Context, l Lease, name string, doc []byte) error
}

// Errors of leases.
var (
	ErrLeaseHeld = errors.New("lease held by another replica")
	ErrLeaseLost = errors.New("lease lost: another replica holds it now, or it lapsed")
)

// Lease is one term of a named lease.
type Lease struct {
	Name   string
	Holder string
	Epoch  int64
}

// OutboxEntry is one recorded notification waiting for the actuator.
type OutboxEntry struct {
	ID     int64
	Alerts []QueuedAlert
}

// QueuedAlert is what the actuator needs of one recorded alert.
type QueuedAlert struct {
	Key         string
	Status      string
	Fingerprint string
	StartsAt    time.Time
	Labels      map[string]string
	Annotations map[string]string
	AndonID     string
}
