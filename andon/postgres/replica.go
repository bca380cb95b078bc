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

// Outbox returns up to max queued notifications, oldest first.
func (s *Store) Outbox(ctx context.Context, max int) ([]andon.OutboxEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, alerts FROM outbox ORDER BY id LIMIT $1`, max)
	if err != nil {
		return nil, storeErr(err)
	}
	var out []andon.OutboxEntry
	var e andon.OutboxEntry
	var doc string
	_, err = pgx.ForEachRow(rows, []any{&e.ID, &doc}, func() error {
		e.Alerts = nil
		if err := json.Unmarshal([]byte(doc), &e.Alerts); err != nil {
			return fmt.Errorf("outbox entry %d is not valid JSON: %w", e.ID, err)
		}
		out = append(out, e)
		return nil
	})
	if err != nil || len(out) == 0 {
		return out, storeErr(err)
	}
	// The andons the alerts are tied to, committed by now.
	var keys []string
	for _, e := range out {
		for _, a := range e.Alerts {
			keys = append(keys, a.Key)
		}
	}
	rows, err = s.pool.Query(ctx, `SELECT key, status, andon_id FROM alerts WHERE key = ANY($1)`, keys)
	if err != nil {
		return nil, storeErr(err)
	}
	tied := map[alertID]string{}
	var id alertID
	var andonID string
	if _, err := pgx.ForEachRow(rows, []any{&id.key, &id.status, &andonID}, func() error { tied[id] = andonID; return nil }); err != nil {
		return nil, storeErr(err)
	}
	for _, e := range out {
		for i, a := range e.Alerts {
			e.Alerts[i].AndonID = tied[alertID{a.Key, a.Status}]
		}
	}
	return out, nil
}

// DoneOutbox removes handled entries while l is held.
func (s *Store) DoneOutbox(ctx context.Context, l andon.Lease, ids []int64) error {
	return s.fenced(ctx, l, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, ids)
		return err
	})
}
