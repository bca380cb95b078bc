package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/andon-sre/andon/andon"
)

// AcquireLease takes or renews the named lease. Expiry is judged by the
// database's clock only, so replicas' clocks need not agree. The epoch grows
// when the lease changes hands or lapsed before its holder renewed it.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (andon.Lease, error) {
	l := andon.Lease{Name: name, Holder: holder}
	err := s.pool.QueryRow(ctx, `INSERT INTO leases (name, holder, epoch, expires_at) VALUES ($1, $2, 1, now() + $3 * interval '1 millisecond')
		ON CONFLICT (name) DO UPDATE SET
			epoch = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > now() THEN leases.epoch ELSE leases.epoch + 1 END,
			holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= now()
		RETURNING epoch`, name, holder, ttl.Milliseconds()).Scan(&l.Epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, andon.ErrLeaseHeld
	}
	return l, storeErr(err)
}

// ReleaseLease lets the lease lapse now, if l is still its term.
func (s *Store) ReleaseLease(ctx context.Context, l andon.Lease) error {
	_, err := s.pool.Exec(ctx, `UPDATE leases SET expires_at = now() WHERE name = $1 AND holder = $2 AND epoch = $3`, l.Name, l.Holder, l.Epoch)
	return storeErr(err)
}

// fenced runs fn in a transaction that holds a share lock on the lease row
// of term l, and fails with ErrLeaseLost when l is no longer the current,
// unexpired term. A replica taking the lease over updates that row, so it
// waits for this transaction to end and then reads what it committed.
func (s *Store) fenced(ctx context.Context, l andon.Lease, fn func(pgx.Tx) error) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var ok bool
		err := tx.QueryRow(ctx, `SELECT true FROM leases WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > clock_timestamp() FOR SHARE`,
			l.Name, l.Holder, l.Epoch).Scan(&ok)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %s (term %d of %s)", andon.ErrUnavailable, andon.ErrLeaseLost, l.Epoch, l.Holder)
		}
		if err != nil {
			return err
		}
		return fn(tx)
	})
}

// PutStateFenced replaces a state document while l is held.
func (s *Store) PutStateFenced(ctx context.Context, l andon.Lease, name string, doc []byte) error {
	return s.fenced(ctx, l, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, qPutState, name, string(doc), time.Now().UnixMilli())
		return err
	})
}

// Outbox returns up to max queued notifications, oldest first, with their
// alerts as recorded (and the andons they are tied to, committed by now).
func (s *Store) Outbox(ctx context.Context, max int) ([]andon.OutboxEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT o.id, a.key, a.status, a.fingerprint, a.starts_ms, a.labels, a.annotations, a.andon_id
		FROM (SELECT id, keys, statuses FROM outbox ORDER BY id LIMIT $1) AS o
		CROSS JOIN LATERAL unnest(o.keys, o.statuses) WITH ORDINALITY AS q(key, status, n)
		LEFT JOIN alerts a ON a.key = q.key AND a.status = q.status
		ORDER BY o.id, q.n`, max)
	if err != nil {
		return nil, storeErr(err)
	}
	var out []andon.OutboxEntry
	var id int64
	var starts *int64 // the alert columns are NULL for an alert pruned meanwhile
	var key, status, fp, labels, annotations, andonID *string
	_, err = pgx.ForEachRow(rows, []any{&id, &key, &status, &fp, &starts, &labels, &annotations, &andonID}, func() error {
		if len(out) == 0 || out[len(out)-1].ID != id {
			out = append(out, andon.OutboxEntry{ID: id})
		}
		if key == nil {
			return nil
		}
		qa := andon.QueuedAlert{Key: *key, Status: deref(status), Fingerprint: deref(fp), StartsAt: time.UnixMilli(*starts).UTC(), AndonID: deref(andonID)}
		if err := json.Unmarshal([]byte(deref(labels)), &qa.Labels); err != nil {
			return fmt.Errorf("alert %s: labels are not valid JSON: %w", qa.Key, err)
		}
		_ = json.Unmarshal([]byte(deref(annotations)), &qa.Annotations)
		e := &out[len(out)-1]
		e.Alerts = append(e.Alerts, qa)
		return nil
	})
	return out, storeErr(err)
}

// DoneOutbox removes handled entries while l is held.
func (s *Store) DoneOutbox(ctx context.Context, l andon.Lease, ids []int64) error {
	return s.fenced(ctx, l, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, ids)
		return err
	})
}
