package andon

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver
)

// migrations are applied in order; PRAGMA user_version counts the applied ones.
var migrations = []string{
	`CREATE TABLE andons (
		id TEXT PRIMARY KEY,
		type TEXT NOT NULL,
		sku TEXT NOT NULL,
		stage TEXT NOT NULL,
		details TEXT NOT NULL,
		status TEXT NOT NULL,
		origin TEXT NOT NULL,
		opened_ms INTEGER NOT NULL,
		resolved_ms INTEGER,
		root_cause TEXT, fix_applied TEXT, prevention_added TEXT, resolver TEXT
	);
	CREATE INDEX andons_sku_status ON andons(sku, status);
	CREATE INDEX andons_status ON andons(status);
	CREATE UNIQUE INDEX andons_open_origin ON andons(origin) WHERE status = 'open' AND origin != '';
	CREATE TABLE receipts (
		seq INTEGER PRIMARY KEY,
		andon_id TEXT NOT NULL,
		body TEXT NOT NULL
	);
	CREATE INDEX receipts_andon ON receipts(andon_id);
	CREATE TABLE skus (
		sku TEXT PRIMARY KEY,
		open_count INTEGER NOT NULL,
		blocked_since_ms INTEGER NOT NULL,
		blocked_ms_total INTEGER NOT NULL
	);
	CREATE TABLE alerts (
		key TEXT NOT NULL,
		status TEXT NOT NULL,
		receiver TEXT NOT NULL,
		fingerprint TEXT NOT NULL,
		starts_ms INTEGER NOT NULL,
		ends_ms INTEGER NOT NULL,
		labels TEXT NOT NULL,
		annotations TEXT NOT NULL,
		received_ms INTEGER NOT NULL,
		andon_id TEXT NOT NULL,
		PRIMARY KEY (key, status)
	) WITHOUT ROWID;
	CREATE TABLE actions (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		ts_ms INTEGER NOT NULL,
		alert_key TEXT NOT NULL, alert TEXT NOT NULL, andon_id TEXT NOT NULL,
		kind TEXT NOT NULL, service TEXT NOT NULL, target TEXT NOT NULL,
		result TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL
	);
	CREATE INDEX actions_service ON actions(service, id);`,
}

// The writer's statements, prepared once at open.
const (
	qSavepoint    = `SAVEPOINT op`
	qRollbackTo   = `ROLLBACK TO op`
	qRelease      = `RELEASE op`
	qOpenByOrigin = andonSelect + ` WHERE origin = ? AND status = 'open' AND origin != ''` // matches the partial index
	qAndonByID    = andonSelect + ` WHERE id = ?`
	qInsertAndon  = `INSERT INTO andons (id, type, sku, stage, details, status, origin, opened_ms) VALUES (?,?,?,?,?,?,?,?)`
	qSkuOpened    = `INSERT INTO skus (sku, open_count, blocked_since_ms, blocked_ms_total) VALUES (?, 1, ?, 0)
		ON CONFLICT(sku) DO UPDATE SET blocked_since_ms = CASE WHEN open_count = 0 THEN excluded.blocked_since_ms ELSE blocked_since_ms END,
		open_count = open_count + 1`
	qLastReceipt   = `SELECT seq, body FROM receipts ORDER BY seq DESC LIMIT 1`
	qInsertReceipt = `INSERT INTO receipts (seq, andon_id, body) VALUES (?,?,?)`
	qResolve       = `UPDATE andons SET status = 'resolved', resolved_ms = ?, root_cause = ?, fix_applied = ?, prevention_added = ?, resolver = ? WHERE id = ? AND status = 'open'`
	qSkuResolved   = `UPDATE skus SET open_count = open_count - 1,
			blocked_ms_total = blocked_ms_total + CASE WHEN open_count = 1 THEN max(0, ? - blocked_since_ms) ELSE 0 END WHERE sku = ?`
	qAlertSeen    = `SELECT andon_id FROM alerts WHERE key = ? AND status = ?`
	qInsertAlert  = `INSERT INTO alerts (key, status, receiver, fingerprint, starts_ms, ends_ms, labels, annotations, received_ms, andon_id) VALUES (?,?,?,?,?,?,?,?,?,?)`
	qInsertAction = `INSERT INTO actions (ts_ms, alert_key, alert, andon_id, kind, service, target, result, reason, detail) VALUES (?,?,?,?,?,?,?,?,?,?)`
)

var writeQueries = []string{qSavepoint, qRollbackTo, qRelease, qOpenByOrigin, qAndonByID, qInsertAndon, qSkuOpened, qLastReceipt, qInsertReceipt, qResolve, qSkuResolved, qAlertSeen, qInsertAlert, qInsertAction}

// SQLite is the embedded Store. Writes go through one connection owned by a
// single goroutine that commits whatever is queued as one transaction (group
// commit); each write runs in its own savepoint so one failing write does not
// undo the others. WAL with synchronous=NORMAL: a committed transaction
// survives a crash of the process (not necessarily a power loss).
type SQLite struct {
	write *sql.DB
	read  *sql.DB
	ops   chan writeOp
	stmts map[string]*sql.Stmt // prepared once on the single writer connection
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

type writeOp struct {
	fn   func(*wtx) error
	done chan error
}

const maxBatch = 512

// OpenSQLite opens (creating and migrating if needed) the database file at path.
func OpenSQLite(path string) (*SQLite, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: no database path: pass --db PATH", ErrInvalid)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if err := migrate(w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w (is it an andon database and writable?)", path, err)
	}
	q.Add("_pragma", "query_only(1)")
	q.Del("_txlock")
	r, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	s := &SQLite{write: w, read: r, ops: make(chan writeOp, maxBatch), stop: make(chan struct{}), done: make(chan struct{}), stmts: map[string]*sql.Stmt{}}
	// Parsing SQL dominates small writes with this driver: prepare them once.
	for _, q := range writeQueries {
		st, err := w.Prepare(q)
		if err != nil {
			w.Close()
			r.Close()
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		s.stmts[q] = st
	}
	go s.writer()
	return s, nil
}

func migrate(db *sql.DB) error {
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return err
	}
	for i := v; i < len(migrations); i++ {
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, i+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this binary knows (%d): upgrade andon", v, len(migrations))
	}
	return nil
}

// Close stops the writer after the queued writes and closes the database.
func (s *SQLite) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return errors.Join(s.write.Close(), s.read.Close())
}

// Ping fails when the database cannot be read or the writer has stopped.
func (s *SQLite) Ping(ctx context.Context) error {
	select {
	case <-s.done:
		return fmt.Errorf("%w: closed", ErrUnavailable)
	default:
	}
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

func (s *SQLite) writer() {
	defer close(s.done)
	batch := make([]writeOp, 0, maxBatch)
	for {
		select {
		case <-s.stop:
			batch = batch[:0]
			for {
				select {
				case op := <-s.ops:
					batch = append(batch, op)
				default:
					s.commit(batch)
					return
				}
			}
		case op := <-s.ops:
			batch = append(batch[:0], op)
		fill:
			for len(batch) < maxBatch {
				select {
				case op := <-s.ops:
					batch = append(batch, op)
				default:
					break fill
				}
			}
			s.commit(batch)
		}
	}
}

// commit runs a batch in one transaction, each op in its own savepoint.
func (s *SQLite) commit(batch []writeOp) {
	if len(batch) == 0 {
		return
	}
	errs := make([]error, len(batch))
	sqlTx, err := s.write.Begin()
	tx := &wtx{tx: sqlTx, stmts: s.stmts}
	if err == nil {
		for i, op := range batch {
			if _, err = tx.Exec(qSavepoint); err != nil {
				break
			}
			if errs[i] = op.fn(tx); errs[i] != nil {
				if _, err = tx.Exec(qRollbackTo); err != nil {
					break
				}
			}
			if _, err = tx.Exec(qRelease); err != nil {
				break
			}
		}
		if err == nil {
			err = sqlTx.Commit()
		} else {
			sqlTx.Rollback()
		}
	}
	for i, op := range batch {
		e := errs[i]
		if err != nil {
			e = fmt.Errorf("%w: %w", ErrUnavailable, err)
		} else if e != nil && !isBusinessErr(e) {
			e = fmt.Errorf("%w: %w", ErrUnavailable, e)
		}
		op.done <- e
	}
}

func isBusinessErr(err error) bool {
	return errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrAlreadyResolved)
}

// wtx runs the writer's statements inside a transaction, prepared ones when it can.
type wtx struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func (w *wtx) Exec(q string, args ...any) (sql.Result, error) {
	if st := w.stmts[q]; st != nil {
		return w.tx.Stmt(st).Exec(args...)
	}
	return w.tx.Exec(q, args...)
}

func (w *wtx) QueryRow(q string, args ...any) *sql.Row {
	if st := w.stmts[q]; st != nil {
		return w.tx.Stmt(st).QueryRow(args...)
	}
	return w.tx.QueryRow(q, args...)
}

// do queues fn for the writer and waits for its commit.
func (s *SQLite) do(ctx context.Context, fn func(*wtx) error) error {
	op := writeOp{fn: fn, done: make(chan error, 1)}
	select {
	case <-s.done:
		return fmt.Errorf("%w: store closed", ErrUnavailable)
	default:
	}
	select {
	case s.ops <- op:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	case <-s.done:
		return fmt.Errorf("%w: store closed", ErrUnavailable)
	}
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	case <-s.done:
		// The writer answers every op it took before it stops; an op queued
		// after its last drain is never taken.
		select {
		case err := <-op.done:
			return err
		default:
			return fmt.Errorf("%w: store closed", ErrUnavailable)
		}
	}
}

// Trigger opens an andon, or returns the open one with the same origin.
func (s *SQLite) Trigger(ctx context.Context, t Trigger, at time.Time) (TriggerResult, error) {
	if err := t.Validate(); err != nil {
		return TriggerResult{}, err
	}
	var res TriggerResult
	err := s.do(ctx, func(tx *wtx) error {
		var err error
		res, err = triggerTx(tx, t, at)
		return err
	})
	return res, err
}

func triggerTx(tx *wtx, t Trigger, at time.Time) (TriggerResult, error) {
	if t.Origin != "" {
		a, err := scanAndon(tx.QueryRow(qOpenByOrigin, t.Origin))
		if err == nil {
			return TriggerResult{Andon: a}, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return TriggerResult{}, err
		}
	}
	at = at.UTC().Truncate(time.Millisecond)
	a := Andon{ID: newID("AND-", at), Type: t.Type, SKU: t.SKU, Stage: t.Stage, Details: t.Details, Status: StatusOpen, Origin: t.Origin, OpenedAt: at}
	if _, err := tx.Exec(qInsertAndon,
		a.ID, a.Type, a.SKU, a.Stage, jsonText(a.Details), a.Status, a.Origin, at.UnixMilli()); err != nil {
		return TriggerResult{}, err
	}
	if _, err := tx.Exec(qSkuOpened, a.SKU, at.UnixMilli()); err != nil {
		return TriggerResult{}, err
	}
	r, err := appendReceipt(tx, ReceiptTriggered, a, at, a.Details)
	if err != nil {
		return TriggerResult{}, err
	}
	return TriggerResult{Andon: a, Created: true, Receipt: &r}, nil
}

func appendReceipt(tx *wtx, rt ReceiptType, a Andon, at time.Time, details map[string]string) (Receipt, error) {
	seq, prev := int64(0), GenesisHash
	var body string
	switch err := tx.QueryRow(qLastReceipt).Scan(&seq, &body); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return Receipt{}, err
	default:
		var last Receipt
		if err := json.Unmarshal([]byte(body), &last); err != nil {
			return Receipt{}, fmt.Errorf("receipt %d is not valid JSON: %w (run 'andon receipts verify')", seq, err)
		}
		prev = last.Hash
	}
	r := newReceipt(seq, prev, rt, a, at, details)
	b, _ := json.Marshal(r)
	_, err := tx.Exec(qInsertReceipt, r.Seq, r.AndonID, string(b))
	return r, err
}

// Resolve closes an open andon; of two racing resolvers exactly one wins,
// the other gets ErrAlreadyResolved.
func (s *SQLite) Resolve(ctx context.Context, id string, res Resolution, at time.Time) (Andon, Receipt, error) {
	if err := res.Validate(); err != nil {
		return Andon{}, Receipt{}, err
	}
	var a Andon
	var r Receipt
	err := s.do(ctx, func(tx *wtx) error {
		var err error
		a, err = scanAndon(tx.QueryRow(qAndonByID, id))
		if err != nil {
			return err
		}
		if a.Status != StatusOpen {
			return fmt.Errorf("%w: %s was resolved at %s by %q", ErrAlreadyResolved, id, a.ResolvedAt.Format(time.RFC3339), a.Resolution.Resolver)
		}
		at = at.UTC().Truncate(time.Millisecond)
		ms := at.UnixMilli()
		if _, err := tx.Exec(qResolve,
			ms, res.RootCause, res.FixApplied, res.PreventionAdded, res.Resolver, id); err != nil {
			return err
		}
		if _, err := tx.Exec(qSkuResolved, ms, a.SKU); err != nil {
			return err
		}
		a.Status, a.ResolvedAt, a.Resolution = StatusResolved, &at, &res
		r, err = appendReceipt(tx, ReceiptResolved, a, at, map[string]string{
			"root_cause": res.RootCause, "fix_applied": res.FixApplied, "prevention_added": res.PreventionAdded,
			"resolver": res.Resolver, "time_to_resolve_ms": fmt.Sprint(a.TimeToResolve(at).Milliseconds()),
		})
		return err
	})
	return a, r, err
}

const andonSelect = `SELECT id, type, sku, stage, details, status, origin, opened_ms, resolved_ms, root_cause, fix_applied, prevention_added, resolver FROM andons`

type rowScanner interface{ Scan(...any) error }

func scanAndon(row rowScanner) (Andon, error) {
	var a Andon
	var details string
	var opened int64
	var resolved sql.NullInt64
	var rc, fix, prev, who sql.NullString
	if err := row.Scan(&a.ID, &a.Type, &a.SKU, &a.Stage, &details, &a.Status, &a.Origin, &opened, &resolved, &rc, &fix, &prev, &who); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return a, ErrNotFound
		}
		return a, err
	}
	_ = json.Unmarshal([]byte(details), &a.Details)
	a.OpenedAt = time.UnixMilli(opened).UTC()
	if resolved.Valid {
		t := time.UnixMilli(resolved.Int64).UTC()
		a.ResolvedAt = &t
		a.Resolution = &Resolution{RootCause: rc.String, FixApplied: fix.String, PreventionAdded: prev.String, Resolver: who.String}
	}
	return a, nil
}

// Get returns one andon.
func (s *SQLite) Get(ctx context.Context, id string) (Andon, error) {
	a, err := scanAndon(s.read.QueryRowContext(ctx, qAndonByID, id))
	if errors.Is(err, ErrNotFound) {
		return a, fmt.Errorf("%w: no andon with id %q (list them with 'andon list')", ErrNotFound, id)
	}
	return a, readErr(err)
}

// List returns andons matching f, newest first.
func (s *SQLite) List(ctx context.Context, f Filter) ([]Andon, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"sku", f.SKU}, {"status", string(f.Status)}, {"type", string(f.Type)}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	q := andonSelect
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY opened_ms DESC, id DESC LIMIT ?"
	args = append(args, limit(f.Limit))
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, readErr(err)
	}
	defer rows.Close()
	var out []Andon
	for rows.Next() {
		a, err := scanAndon(rows)
		if err != nil {
			return nil, readErr(err)
		}
		out = append(out, a)
	}
	return out, readErr(rows.Err())
}

func limit(n int) int {
	if n <= 0 {
		return 100
	}
	return n
}

// Receipts returns the chain (or one andon's part of it) in order.
func (s *SQLite) Receipts(ctx context.Context, andonID string) ([]Receipt, error) {
	q, args := `SELECT seq, body FROM receipts ORDER BY seq`, []any{}
	if andonID != "" {
		q, args = `SELECT seq, body FROM receipts WHERE andon_id = ? ORDER BY seq`, []any{andonID}
	}
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, readErr(err)
	}
	defer rows.Close()
	var out []Receipt
	for rows.Next() {
		var seq int64
		var body string
		if err := rows.Scan(&seq, &body); err != nil {
			return nil, readErr(err)
		}
		var r Receipt
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			r = Receipt{Hash: "unparseable"} // Verify reports it as changed
		}
		r.Seq = seq
		out = append(out, r)
	}
	return out, readErr(rows.Err())
}

// Ingest records a notification's alerts, idempotently on (key, status),
// and opens the andons its new firing alerts ask for, in one transaction.
func (s *SQLite) Ingest(ctx context.Context, n Notification) (IngestResult, error) {
	var res IngestResult
	err := s.do(ctx, func(tx *wtx) error {
		res = IngestResult{Duplicate: make([]bool, len(n.Alerts)), AndonIDs: make([]string, len(n.Alerts))}
		recv := n.ReceivedAt.UnixMilli()
		origins := map[string]string{}
		for i, al := range n.Alerts {
			var andonID string
			err := tx.QueryRow(qAlertSeen, al.Key, al.Status).Scan(&andonID)
			if err == nil {
				res.Duplicate[i], res.AndonIDs[i] = true, andonID
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if al.Andon != nil && al.Status == "firing" {
				if id, ok := origins[al.Andon.Origin]; ok && al.Andon.Origin != "" {
					andonID = id // alerts of one group usually share their origin
				} else {
					if err := al.Andon.Validate(); err != nil {
						return err
					}
					tr, err := triggerTx(tx, *al.Andon, n.ReceivedAt)
					if err != nil {
						return err
					}
					andonID = tr.Andon.ID
					origins[al.Andon.Origin] = andonID
					if tr.Created {
						res.Opened = append(res.Opened, tr.Andon)
						res.Receipts = append(res.Receipts, *tr.Receipt)
					}
				}
			}
			res.AndonIDs[i] = andonID
			if _, err := tx.Exec(qInsertAlert,
				al.Key, al.Status, n.Receiver, al.Fingerprint, al.StartsAt.UnixMilli(), al.EndsAt.UnixMilli(), jsonText(al.Labels), jsonText(al.Annotations), recv, andonID); err != nil {
				return err
			}
		}
		return nil
	})
	return res, err
}

// RecordActions appends action decisions.
func (s *SQLite) RecordActions(ctx context.Context, recs []ActionRecord) error {
	return s.do(ctx, func(tx *wtx) error {
		for _, r := range recs {
			if _, err := tx.Exec(qInsertAction,
				r.Time.UnixMilli(), r.AlertKey, r.Alert, r.AndonID, r.Kind, r.Service, r.Target, r.Result, r.Reason, r.Detail); err != nil {
				return err
			}
		}
		return nil
	})
}

// Actions returns recorded decisions, newest first.
func (s *SQLite) Actions(ctx context.Context, f ActionFilter) ([]ActionRecord, error) {
	q := `SELECT id, ts_ms, alert_key, alert, andon_id, kind, service, target, result, reason, detail FROM actions WHERE (? = '' OR service = ?) AND (? = '' OR result = ?) ORDER BY id DESC LIMIT ?`
	rows, err := s.read.QueryContext(ctx, q, f.Service, f.Service, f.Result, f.Result, limit(f.Limit))
	if err != nil {
		return nil, readErr(err)
	}
	defer rows.Close()
	var out []ActionRecord
	for rows.Next() {
		var r ActionRecord
		var ms int64
		if err := rows.Scan(&r.ID, &ms, &r.AlertKey, &r.Alert, &r.AndonID, &r.Kind, &r.Service, &r.Target, &r.Result, &r.Reason, &r.Detail); err != nil {
			return nil, readErr(err)
		}
		r.Time = time.UnixMilli(ms).UTC()
		out = append(out, r)
	}
	return out, readErr(rows.Err())
}

// Stats reads open counts and blocked seconds per sku.
func (s *SQLite) Stats(ctx context.Context, now time.Time) (Stats, error) {
	st := Stats{Blocked: map[string]float64{}}
	rows, err := s.read.QueryContext(ctx, `SELECT sku, type, count(*) FROM andons WHERE status = 'open' GROUP BY sku, type`)
	if err != nil {
		return st, readErr(err)
	}
	for rows.Next() {
		var c OpenCount
		if err := rows.Scan(&c.SKU, &c.Type, &c.Count); err != nil {
			rows.Close()
			return st, readErr(err)
		}
		st.Open = append(st.Open, c)
	}
	rows.Close()
	rows, err = s.read.QueryContext(ctx, `SELECT sku, blocked_ms_total + CASE WHEN open_count > 0 THEN max(0, ? - blocked_since_ms) ELSE 0 END FROM skus`, now.UnixMilli())
	if err != nil {
		return st, readErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var sku string
		var ms int64
		if err := rows.Scan(&sku, &ms); err != nil {
			return st, readErr(err)
		}
		st.Blocked[sku] = float64(ms) / 1000
	}
	return st, readErr(rows.Err())
}

func readErr(err error) error {
	if err == nil || isBusinessErr(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
