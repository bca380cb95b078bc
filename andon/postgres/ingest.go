package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/andon-sre/andon/andon"
)

type alertID struct{ key, status string }

// Ingest records a notification's alerts, exactly once on (key, status)
// across every replica, opens the andons its new firing alerts ask for and
// queues it for the actuator, in one transaction. The alerts are inserted
// with ON CONFLICT DO NOTHING in key order: a replica recording the same
// notification at the same moment waits for the first one's commit and then
// finds every alert a duplicate, so it opens nothing.
func (s *Store) Ingest(ctx context.Context, n andon.Notification) (andon.IngestResult, error) {
	res := andon.IngestResult{Duplicate: make([]bool, len(n.Alerts)), AndonIDs: make([]string, len(n.Alerts))}
	first := map[alertID]int{} // the same alert twice in one notification: the second is a duplicate
	var order []int
	for i, al := range n.Alerts {
		if al.Andon != nil && al.Status == "firing" {
			if err := al.Andon.Validate(); err != nil {
				return andon.IngestResult{}, fmt.Errorf("alert %d: %w", i, err)
			}
		}
		if _, ok := first[alertID{al.Key, al.Status}]; !ok {
			first[alertID{al.Key, al.Status}] = i
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(n.Alerts[a].Key, n.Alerts[b].Key), cmp.Compare(n.Alerts[a].Status, n.Alerts[b].Status))
	})
	cols := alertColumns{}
	for _, i := range order {
		cols.add(n.Alerts[i])
	}
	recv := n.ReceivedAt.UnixMilli()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		clear(res.Duplicate)
		clear(res.AndonIDs)
		res.Opened, res.Receipts = nil, nil
		rows, err := tx.Query(ctx, `INSERT INTO alerts (key, status, receiver, fingerprint, starts_ms, ends_ms, labels, annotations, received_ms, andon_id)
			SELECT k, st, $1, fp, sm, em, l, a, $2, '' FROM unnest($3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[], $9::text[]) AS u(k, st, fp, sm, em, l, a)
			ON CONFLICT (key, status) DO NOTHING RETURNING key, status`,
			n.Receiver, recv, cols.keys, cols.statuses, cols.fingerprints, cols.starts, cols.ends, cols.labels, cols.annotations)
		if err != nil {
			return err
		}
		fresh := map[alertID]bool{}
		var id alertID
		if _, err := pgx.ForEachRow(rows, []any{&id.key, &id.status}, func() error { fresh[id] = true; return nil }); err != nil {
			return err
		}
		var seen map[alertID]string
		if len(fresh) < len(order) {
			if seen, err = recorded(ctx, tx, cols.keys); err != nil {
				return err
			}
		}
		var triggers []andon.Trigger
		var askers []int
		for i, al := range n.Alerts {
			id := alertID{al.Key, al.Status}
			if first[id] != i || !fresh[id] {
				res.Duplicate[i], res.AndonIDs[i] = true, seen[id]
				continue
			}
			if al.Andon != nil && al.Status == "firing" {
				triggers = append(triggers, *al.Andon)
				askers = append(askers, i)
			}
		}
		if len(triggers) > 0 {
			opened, err := openAndons(ctx, tx, triggers, n.ReceivedAt)
			if err != nil {
				return err
			}
			var keys, ids []string
			for j, i := range askers {
				res.AndonIDs[i] = opened[j].Andon.ID
				keys, ids = append(keys, n.Alerts[i].Key), append(ids, opened[j].Andon.ID)
				if opened[j].Created {
					res.Opened = append(res.Opened, opened[j].Andon)
					res.Receipts = append(res.Receipts, *opened[j].Receipt)
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE alerts SET andon_id = u.id FROM unnest($1::text[], $2::text[]) AS u(k, id)
				WHERE alerts.key = u.k AND alerts.status = 'firing'`, keys, ids); err != nil {
				return err
			}
		}
		for i, al := range n.Alerts { // a duplicate within the notification shares the first one's andon
			if j := first[alertID{al.Key, al.Status}]; j != i && res.AndonIDs[i] == "" {
				res.AndonIDs[i] = res.AndonIDs[j]
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO outbox (alerts) VALUES ($1)`, queued(n, res.AndonIDs))
		return err
	})
	if err != nil {
		return andon.IngestResult{}, err
	}
	return res, nil
}

// alertColumns are a notification's alerts as column arrays for unnest.
type alertColumns struct {
	keys, statuses, fingerprints, labels, annotations []string
	starts, ends                                      []int64
}

func (c *alertColumns) add(al andon.AlertEvent) {
	c.keys = append(c.keys, al.Key)
	c.statuses = append(c.statuses, al.Status)
	c.fingerprints = append(c.fingerprints, al.Fingerprint)
	c.starts = append(c.starts, al.StartsAt.UnixMilli())
	c.ends = append(c.ends, al.EndsAt.UnixMilli())
	c.labels = append(c.labels, andon.JSONText(al.Labels))
	c.annotations = append(c.annotations, andon.JSONText(al.Annotations))
}

// recorded returns the andon id of every recorded alert with one of keys.
func recorded(ctx context.Context, tx pgx.Tx, keys []string) (map[alertID]string, error) {
	rows, err := tx.Query(ctx, `SELECT key, status, andon_id FROM alerts WHERE key = ANY($1)`, keys)
	if err != nil {
		return nil, err
	}
	seen := map[alertID]string{}
	var id alertID
	var andonID string
	_, err = pgx.ForEachRow(rows, []any{&id.key, &id.status, &andonID}, func() error { seen[id] = andonID; return nil })
	return seen, err
}

// queued is the outbox document of a recorded notification.
func queued(n andon.Notification, andonIDs []string) string {
	q := make([]andon.QueuedAlert, len(n.Alerts))
	for i, al := range n.Alerts {
		q[i] = andon.QueuedAlert{Key: al.Key, Status: al.Status, Fingerprint: al.Fingerprint, StartsAt: al.StartsAt,
			Labels: al.Labels, Annotations: al.Annotations, AndonID: andonIDs[i]}
	}
	b, _ := json.Marshal(q) // strings, times and string maps: cannot fail
	return string(b)
}
