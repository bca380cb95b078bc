package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/andon-sre/andon/andon"
)

type alertID struct{ key, status string }

// Ingest records a notification's alerts, exactly once on (key, status)
// across every replica, opens the andons its new firing alerts ask for and
// queues it for the actuator, in one transaction. The alerts are inserted
// with ON CONFLICT DO NOTHING in key order: a replica recording the same
// notification at the same moment waits for the first one's commit and then
// finds every alert a duplicate, so it opens nothing. Round trips are what
// a loaded machine makes expensive (each one waits for the server process
// to be scheduled), hence a one-statement path for the common case.
func (s *Store) Ingest(ctx context.Context, n andon.Notification) (andon.IngestResult, error) {
	first := map[alertID]int{} // the same alert twice in one notification: the second is a duplicate
	var order []int
	n.Alerts = slices.Clone(n.Alerts) // the normalized triggers replace the caller's
	for i, al := range n.Alerts {
		if al.Andon != nil && al.Status == "firing" {
			t, err := al.Andon.Normalize()
			if err != nil {
				return andon.IngestResult{}, fmt.Errorf("alert %d: %w", i, err)
			}
			n.Alerts[i].Andon = &t
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
	q := queued(n)
	if res, err := s.ingestOne(ctx, n, first, cols, q); !errors.Is(err, errMustOpen) {
		return res, storeErr(err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return andon.IngestResult{}, storeErr(err)
	}
	defer conn.Release()
	res, err := s.ingest(ctx, conn, n, first, cols, q)
	if err != nil {
		// Leave no transaction open on a connection going back to the pool.
		_, _ = conn.Exec(context.WithoutCancel(ctx), `ROLLBACK`)
		return andon.IngestResult{}, storeErr(err)
	}
	return res, nil
}

// errMustOpen: the one-statement path found a new alert asking for an andon that is not open.
var errMustOpen = errors.New("an andon must be opened")

// ingestOne is the common case in one statement, hence one round trip and
// one implicit transaction: record the alerts, each tied to the open andon of
// its origin, and queue the notification. When a new alert asks for an andon
// that is not open, andon_must_open() raises and the statement (all of it)
// is rolled back: the caller then runs the transaction that opens andons.
// The statement reads the alerts recorded before it began, for the andon
// ids of duplicates; one recorded by a concurrent transaction meanwhile is
// read after it.
func (s *Store) ingestOne(ctx context.Context, n andon.Notification, first map[alertID]int, cols alertColumns, q queuedAlerts) (andon.IngestResult, error) {
	rows, err := s.pool.Query(ctx, `WITH u AS (
			SELECT * FROM unnest($3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[], $9::text[], $10::text[]) AS u(k, st, fp, sm, em, l, a, o)
		), ins AS (
			INSERT INTO alerts (key, status, receiver, fingerprint, starts_ms, ends_ms, labels, annotations, received_ms, notification_reason, andon_id)
			SELECT k, st, $1, fp, sm, em, l, a, $2, $13,
				CASE WHEN o = '' THEN '' ELSE coalesce((SELECT id FROM andons WHERE origin = o AND status = 'open' AND origin <> ''), '') END
			FROM u
			ON CONFLICT (key, status) DO NOTHING RETURNING key, status, andon_id
		), queued AS (
			INSERT INTO outbox (keys, statuses) VALUES ($11, $12)
		)
		SELECT key, status, andon_id, true FROM ins
		UNION ALL SELECT key, status, andon_id, false FROM alerts WHERE key = ANY($3)
		UNION ALL SELECT '', '', '', andon_must_open() FROM ins JOIN u ON ins.key = u.k AND ins.status = u.st WHERE u.o <> '' AND ins.andon_id = ''`,
		n.Receiver, n.ReceivedAt.UnixMilli(), cols.keys, cols.statuses, cols.fingerprints, cols.starts, cols.ends, cols.labels, cols.annotations, cols.origins, q.keys, q.statuses, n.Reason)
	if err != nil {
		return andon.IngestResult{}, err
	}
	fresh, tied := map[alertID]bool{}, map[alertID]string{}
	var id alertID
	var andonID string
	var inserted bool
	_, err = pgx.ForEachRow(rows, []any{&id.key, &id.status, &andonID, &inserted}, func() error {
		tied[id] = andonID
		if inserted {
			fresh[id] = true
		}
		return nil
	})
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "AN001" {
		return andon.IngestResult{}, errMustOpen
	}
	if err != nil {
		return andon.IngestResult{}, err
	}
	missing := false
	for i, k := range cols.keys {
		_, ok := tied[alertID{k, cols.statuses[i]}]
		missing = missing || !ok
	}
	if missing { // recorded by a concurrent transaction after this statement began
		rows, err := s.pool.Query(ctx, `SELECT key, status, andon_id FROM alerts WHERE key = ANY($1)`, cols.keys)
		if err != nil {
			return andon.IngestResult{}, err
		}
		if _, err := pgx.ForEachRow(rows, []any{&id.key, &id.status, &andonID}, func() error { tied[id] = andonID; return nil }); err != nil {
			return andon.IngestResult{}, err
		}
	}
	res := andon.IngestResult{Duplicate: make([]bool, len(n.Alerts)), AndonIDs: make([]string, len(n.Alerts))}
	for i, al := range n.Alerts {
		id := alertID{al.Key, al.Status}
		res.AndonIDs[i], res.Duplicate[i] = tied[id], first[id] != i || !fresh[id]
	}
	return res, nil
}

// ingest is the transaction for a notification whose new alerts ask for
// andons that are not open. Two round trips besides opening them: BEGIN,
// the insert and the read of the alerts' andon ids in one pipeline; the
// outbox entry and COMMIT in another.
func (s *Store) ingest(ctx context.Context, conn *pgxpool.Conn, n andon.Notification, first map[alertID]int, cols alertColumns, q queuedAlerts) (andon.IngestResult, error) {
	res := andon.IngestResult{Duplicate: make([]bool, len(n.Alerts)), AndonIDs: make([]string, len(n.Alerts))}
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	fresh := map[alertID]bool{}
	b.Queue(`INSERT INTO alerts (key, status, receiver, fingerprint, starts_ms, ends_ms, labels, annotations, received_ms, notification_reason, andon_id)
		SELECT k, st, $1, fp, sm, em, l, a, $2, $11,
			CASE WHEN o = '' THEN '' ELSE coalesce((SELECT id FROM andons WHERE origin = o AND status = 'open' AND origin <> ''), '') END
		FROM unnest($3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[], $9::text[], $10::text[]) AS u(k, st, fp, sm, em, l, a, o)
		ON CONFLICT (key, status) DO NOTHING RETURNING key, status`,
		n.Receiver, n.ReceivedAt.UnixMilli(), cols.keys, cols.statuses, cols.fingerprints, cols.starts, cols.ends, cols.labels, cols.annotations, cols.origins, n.Reason).
		Query(func(rows pgx.Rows) error {
			var id alertID
			_, err := pgx.ForEachRow(rows, []any{&id.key, &id.status}, func() error { fresh[id] = true; return nil })
			return err
		})
	tied := map[alertID]string{}
	b.Queue(`SELECT key, status, andon_id FROM alerts WHERE key = ANY($1)`, cols.keys).Query(func(rows pgx.Rows) error {
		var id alertID
		var andonID string
		_, err := pgx.ForEachRow(rows, []any{&id.key, &id.status, &andonID}, func() error { tied[id] = andonID; return nil })
		return err
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return res, err
	}
	var triggers []andon.Trigger
	var askers []int
	for i, al := range n.Alerts {
		id := alertID{al.Key, al.Status}
		res.AndonIDs[i] = tied[id]
		if first[id] != i || !fresh[id] {
			res.Duplicate[i] = true
			continue
		}
		if al.Andon != nil && al.Status == "firing" && tied[id] == "" {
			triggers = append(triggers, *al.Andon)
			askers = append(askers, i)
		}
	}
	if len(triggers) > 0 { // no andon open for the origin (at the insert): open it now
		ats := make([]time.Time, len(triggers))
		for i := range ats {
			ats[i] = n.ReceivedAt
		}
		opened, err := s.openAndons(ctx, conn, triggers, ats)
		if err != nil {
			return res, err
		}
		var keys, ids []string
		for j, i := range askers {
			keys, ids = append(keys, n.Alerts[i].Key), append(ids, opened[j].Andon.ID)
			if opened[j].Created {
				res.Opened = append(res.Opened, opened[j].Andon)
				res.Receipts = append(res.Receipts, *opened[j].Receipt)
			}
		}
		if _, err := conn.Exec(ctx, `UPDATE alerts SET andon_id = u.id FROM unnest($1::text[], $2::text[]) AS u(k, id)
			WHERE alerts.key = u.k AND alerts.status = 'firing'`, keys, ids); err != nil {
			return res, err
		}
		for j, i := range askers {
			res.AndonIDs[i] = opened[j].Andon.ID
		}
		for i, al := range n.Alerts { // a duplicate within the notification shares the first one's andon
			if j := first[alertID{al.Key, al.Status}]; j != i {
				res.AndonIDs[i] = res.AndonIDs[j]
			}
		}
	}
	b = &pgx.Batch{}
	b.Queue(`INSERT INTO outbox (keys, statuses) VALUES ($1, $2)`, q.keys, q.statuses)
	b.Queue(`COMMIT`)
	return res, conn.SendBatch(ctx, b).Close()
}

// alertColumns are a notification's alerts as column arrays for unnest.
type alertColumns struct {
	keys, statuses, fingerprints, labels, annotations []string
	starts, ends                                      []int64
	origins                                           []string // of the andon a firing alert asks for, else ""
}

func (c *alertColumns) add(al andon.AlertEvent) {
	c.keys = append(c.keys, al.Key)
	c.statuses = append(c.statuses, al.Status)
	c.fingerprints = append(c.fingerprints, al.Fingerprint)
	c.starts = append(c.starts, al.StartsAt.UnixMilli())
	c.ends = append(c.ends, al.EndsAt.UnixMilli())
	c.labels = append(c.labels, andon.JSONText(al.Labels))
	c.annotations = append(c.annotations, andon.JSONText(al.Annotations))
	origin := ""
	if al.Andon != nil && al.Status == "firing" {
		origin = al.Andon.Origin
	}
	c.origins = append(c.origins, origin)
}

// queuedAlerts name a notification's alerts, in order, for the outbox.
type queuedAlerts struct{ keys, statuses []string }

func queued(n andon.Notification) queuedAlerts {
	var q queuedAlerts
	for _, al := range n.Alerts {
		q.keys, q.statuses = append(q.keys, al.Key), append(q.statuses, al.Status)
	}
	return q
}
