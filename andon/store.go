package andon

import (
	"context"
	"time"
)

// Store persists andons, receipts, received alerts and action decisions.
// SQLite (OpenSQLite) is the embedded default; andon/postgres implements
// it on PostgreSQL for replicas (andon/stores opens either). Every write that changes an andon also
// writes its receipt in the same transaction. A store opens only a ledger
// that exists (created once by an init) and knows its Identity; the reads
// that answer questions return the andons together with the receipts that
// prove them, read in one snapshot, so the Ledger checks one against the
// other (state.go) whatever the backend.
type Store interface {
	Identity() Identity
	// SetSigner makes the store sign the receipts it writes (before the first write).
	SetSigner(s *Signer)
	// SetOntologyBase sets the IRI namespace of the receipts' ontology refs (before the first write).
	SetOntologyBase(base string)
	Trigger(ctx context.Context, t Trigger, at time.Time) (TriggerResult, error)
	Resolve(ctx context.Context, id string, res Resolution, at time.Time) (Andon, Receipt, error)
	// Get returns one andon and its receipts (with ErrNotFound, those of an andon without its row).
	Get(ctx context.Context, id string) (Andon, []Receipt, error)
	// List returns the andons f selects and their receipts.
	List(ctx context.Context, f Filter) ([]Andon, []Receipt, error)
	// Open returns what the gate reads about sku (see OpenState).
	Open(ctx context.Context, sku string) (OpenState, error)
	// Chain returns the whole receipt chain, in order, and every andon.
	Chain(ctx context.Context) ([]Receipt, []Andon, error)
	// Receipts returns the whole chain in order.
	Receipts(ctx context.Context) ([]Receipt, error)
	// Head returns the last receipt of the chain (ErrNotFound when there is none).
	Head(ctx context.Context) (Receipt, error)
	Ingest(ctx context.Context, n Notification) (IngestResult, error)
	RecordActions(ctx context.Context, recs []ActionRecord) error
	Actions(ctx context.Context, f ActionFilter) ([]ActionRecord, error)
	Stats(ctx context.Context, now time.Time) (Stats, error)
	// PutState and State keep a named document (the actuator's state).
	PutState(ctx context.Context, name string, doc []byte) error
	State(ctx context.Context, name string) ([]byte, error)
	// PruneAlerts deletes alert records received before before that no open
	// andon references (retention); it returns how many. Receipts are never pruned.
	PruneAlerts(ctx context.Context, before time.Time) (int64, error)
	Ping(ctx context.Context) error
	Close() error
}

// OpenState is what the gate reads about one sku, in one snapshot: its open
// andons with their receipts, and how many andons the sku's receipts prove
// open (andon_triggered minus andon_resolved receipts naming the sku).
type OpenState struct {
	Andons     []Andon
	Receipts   []Receipt
	ProvenOpen int
}

// TriggerResult is the andon a trigger opened, or the open one with the same origin.
type TriggerResult struct {
	Andon   Andon
	Created bool
	Receipt *Receipt // nil when nothing was created
}

// Filter selects andons for List; zero fields match everything.
type Filter struct {
	SKU    string
	Status Status
	Type   FailureType
	Limit  int // default 100
}

// Notification is one Alertmanager notification as the webhook recorded it.
type Notification struct {
	Receiver   string
	GroupKey   string
	Reason     string // Alertmanager's notification_reason (0.32+; empty from older releases)
	ReceivedAt time.Time
	Alerts     []AlertEvent
}

// AlertEvent is one alert of a notification. Key (sha256(groupKey) +
// fingerprint + startsAt) together with Status makes recording idempotent.
type AlertEvent struct {
	Key         string
	Status      string // firing | resolved
	Fingerprint string
	StartsAt    time.Time
	EndsAt      time.Time
	Labels      map[string]string
	Annotations map[string]string
	// Andon, when set on a firing alert, opens an andon unless one with the
	// same Origin is open.
	Andon *Trigger
}

// IngestResult tells, per alert of the notification, whether it had been
// recorded before and which andon (if any) it is tied to.
type IngestResult struct {
	Duplicate []bool
	AndonIDs  []string
	Opened    []Andon
	Receipts  []Receipt
}

// ActionRecord is one decision of the actuator: acted, skipped or failed, and why.
type ActionRecord struct {
	ID       int64     `json:"id"`
	Time     time.Time `json:"time"`
	AlertKey string    `json:"alert_key,omitempty"`
	Alert    string    `json:"alert,omitempty"`
	AndonID  string    `json:"andon_id,omitempty"`
	Kind     string    `json:"kind"`
	Service  string    `json:"service"`
	Target   string    `json:"target,omitempty"`
	Result   string    `json:"result"`
	Reason   string    `json:"reason"`
	Detail   string    `json:"detail,omitempty"`
}

// ActionFilter selects action records; zero fields match everything.
type ActionFilter struct {
	Service string
	Result  string
	Limit   int // default 100
}

// Stats feed the ledger's gauges and counters that must survive restarts.
type Stats struct {
	Open    []OpenCount
	Blocked map[string]float64 // seconds each sku has been blocked, ever
}

// OpenCount is the number of open andons of one sku and type.
type OpenCount struct {
	SKU   string
	Type  FailureType
	Count int
}
