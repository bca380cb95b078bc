package andon

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// The writer goroutine owns the single write connection for the store's
// lifetime and talks to the driver directly: statements are prepared once
// (lazily, so per-size multi-row statements cost nothing until used) and run
// without database/sql's per-call locking and conversions.

// writeOp is one request to the writer: fn runs inside the batch's
// transaction, in its own savepoint; done receives its outcome after commit.
type writeOp struct {
	fn   func(*wconn) error
	done chan error
	bulk bool // a chunk of a huge notification: committed alone, after the queued small ops
}

// maxBatch bounds the requests committed together (group commit).
const maxBatch = 512

// The writer's fixed statements, prepared when it starts so a broken one
// fails OpenSQLite.
const (
	qSavepoint    = `SAVEPOINT op`
	qRollbackTo   = `ROLLBACK TO op`
	qRelease      = `RELEASE op`
	qOpenByOrigin = andonSelect + ` WHERE origin = ? AND status = 'open' AND origin != ''` // matches the partial index
	qAndonByID    = andonSelect + ` WHERE id = ?`
	qInsertAndon  = `INSERT INTO andons (id, type, sku, stage, details, status, origin, opened_ms, metadata) VALUES (?,?,?,?,?,?,?,?,?)`
	qSkuOpened    = `INSERT INTO skus (sku, open_count, blocked_since_ms, blocked_ms_total) VALUES (?, 1, ?, 0)
		ON CONFLICT(sku) DO UPDATE SET blocked_since_ms = CASE WHEN open_count = 0 THEN excluded.blocked_since_ms ELSE blocked_since_ms END,
		open_count = open_count + 1`
	qLastReceipt   = `SELECT seq, body FROM receipts ORDER BY seq DESC LIMIT 1`
	qInsertReceipt = `INSERT INTO receipts (seq, andon_id, body) VALUES (?,?,?)`
	qResolve       = `UPDATE andons SET status = 'resolved', resolved_ms = ?, root_cause = ?, fix_applied = ?, prevention_added = ?, resolver = ? WHERE id = ? AND status = 'open'`
	qSkuResolved   = `UPDATE skus SET open_count = open_count - 1,
			blocked_ms_total = blocked_ms_total + CASE WHEN open_count = 1 THEN max(0, ? - blocked_since_ms) ELSE 0 END WHERE sku = ?`
	qInsertAction = `INSERT INTO actions (ts_ms, alert_key, alert, andon_id, kind, service, target, result, reason, detail) VALUES (?,?,?,?,?,?,?,?,?,?)`
	qPutState     = `INSERT INTO state (name, doc, updated_ms) VALUES (?,?,?) ON CONFLICT(name) DO UPDATE SET doc = excluded.doc, updated_ms = excluded.updated_ms`
)

var writeQueries = []string{qSavepoint, qRollbackTo, qRelease, qOpenByOrigin, qAndonByID, qInsertAndon, qSkuOpened, qLastReceipt, qInsertReceipt, qResolve, qSkuResolved, qInsertAction, qPutState}

// Multi-row alert statements, indexed by their row count (1..alertChunk):
// one round trip into SQLite per chunk instead of one per alert.
const alertChunk = 32

var qAlertsSeen, qInsertAlerts [alertChunk + 1]string

func init() {
	for n := 1; n <= alertChunk; n++ {
		qAlertsSeen[n] = `SELECT key, status, andon_id FROM alerts WHERE key IN (` + placeholders(n, "?") + `)`
		qInsertAlerts[n] = `INSERT INTO alerts (key, status, receiver, fingerprint, starts_ms, ends_ms, labels, annotations, received_ms, notification_reason, andon_id) VALUES ` +
			placeholders(n, "(?,?,?,?,?,?,?,?,?,?,?)")
	}
}

func placeholders(n int, one string) string {
	return strings.TrimSuffix(strings.Repeat(one+",", n), ",")
}

// start pins one write connection to the writer goroutine and the other to
// the checkpointer, and returns once the writer's statements are prepared.
func (s *SQLite) start() error {
	ctx := context.Background()
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return err
	}
	ckpt, err := s.write.Conn(ctx)
	if err != nil {
		conn.Close()
		return err
	}
	ready := make(chan error, 2)
	go func() {
		defer close(s.done)
		ready <- conn.Raw(func(dc any) error {
			w := &wconn{conn: dc.(driver.Conn), stmts: map[string]driver.Stmt{}}
			defer w.close()
			for _, q := range writeQueries {
				if _, err := w.stmt(q); err != nil {
					return err
				}
			}
			ready <- nil
			s.writeLoop(w)
			return nil
		})
		conn.Close()
	}()
	if err := <-ready; err != nil {
		ckpt.Close()
		return err
	}
	go s.checkpointer(ckpt)
	return nil
}

func (s *SQLite) writeLoop(w *wconn) {
	batch := make([]writeOp, 0, maxBatch)
	rewinding := false // holding ckptMu from a tail checkpoint to the next commit
	for {
		// Small requests first; a bulk chunk only when none waits, and alone,
		// so it never adds its work to a small request's commit.
		var first writeOp
		select {
		case first = <-s.ops:
		default:
			select {
			case <-s.stop:
				batch = batch[:0]
				for {
					select {
					case op := <-s.ops:
						batch = append(batch, op)
					case op := <-s.bulk:
						batch = append(batch, op)
					default:
						s.commit(w, batch)
						if rewinding {
							s.ckptMu.Unlock()
						}
						return
					}
				}
			case first = <-s.ops:
			case first = <-s.bulk:
			}
		}
		batch = append(batch[:0], first)
	fill:
		for !first.bulk && len(batch) < maxBatch {
			select {
			case op := <-s.ops:
				batch = append(batch, op)
			default:
				break fill
			}
		}
		s.commit(w, batch)
		if rewinding {
			s.ckptMu.Unlock()
		}
		select {
		case s.checkpoint <- struct{}{}:
		default:
		}
		rewinding = s.checkpointTail(w)
	}
}

// commit runs a batch in one transaction, each op in its own savepoint (a
// lone op needs none: its failure rolls the transaction back).
func (s *SQLite) commit(w *wconn, batch []writeOp) {
	if len(batch) == 0 {
		return
	}
	errs := make([]error, len(batch))
	tx, err := w.conn.(driver.ConnBeginTx).BeginTx(context.Background(), driver.TxOptions{})
	switch {
	case err != nil:
	case len(batch) == 1:
		if errs[0] = batch[0].fn(w); errs[0] != nil {
			err = tx.Rollback()
		} else {
			err = tx.Commit()
		}
	default:
		for i, op := range batch {
			if err = w.exec(qSavepoint); err != nil {
				break
			}
			if errs[i] = op.fn(w); errs[i] != nil {
				if err = w.exec(qRollbackTo); err != nil {
					break
				}
			}
			if err = w.exec(qRelease); err != nil {
				break
			}
		}
		if err == nil {
			err = tx.Commit()
		} else {
			tx.Rollback()
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

// checkpointer copies the WAL back into the database file on a connection of
// its own, so the writer does not stall on a checkpoint's page writes and
// fsyncs (the writer's connection has wal_autocheckpoint off). PASSIVE mode
// never blocks the writer or readers. It runs after commits, at most every
// checkpointPause (a page changed by many commits meanwhile is copied once),
// and back to back while the WAL is due for a rewind (see checkpointTail).
func (s *SQLite) checkpointer(conn *sql.Conn) {
	defer close(s.checkpointed)
	defer conn.Close()
	for {
		select {
		case <-s.done:
			return
		case <-s.checkpoint:
		}
		s.ckptMu.Lock()
		var busy, frames, copied int64
		err := conn.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
		s.ckptMu.Unlock()
		pause := checkpointPause
		if err == nil {
			s.walFrames.Store(frames)
			s.walBacklog.Store(frames - copied)
			if frames >= s.rewindFrames && frames-copied > walTailFrames {
				pause = 0 // catching up for the rewind; then the pause leaves the tail to the writer
			}
		}
		select {
		case <-s.done:
			return
		case <-time.After(pause):
		}
	}
}

const (
	// Short pauses, small checkpoints: on ext4 the p99 ack at 2,000
	// notifications/s measured 12–15 ms with 5 ms, 16–22 ms with 20 ms and
	// about 20–24 ms with 100 ms (the same load, interleaved runs).
	checkpointPause = 5 * time.Millisecond
	// Under a steady stream of writes the background checkpoint never
	// catches up with the writer, and SQLite only rewinds the WAL to its
	// start when a write begins with every frame copied and no other
	// connection reading or checkpointing. So once the WAL holds
	// rewindFrames, the checkpointer runs back to back until few frames are
	// left behind, and the writer copies those itself between batches while
	// no request waits (a stall of about two fsyncs), keeping the
	// checkpointer out until its next commit has rewound the WAL. When
	// requests never stop coming, it does so anyway at 4× rewindFrames.
	// A small WAL measured better than a large one on ext4 (p99 ack at
	// 2,000 notifications/s: 10–16 ms at 4 MiB, 15–26 ms at 32 MiB).
	walRewindFrames = 1024 // 4 MiB of 4 KiB pages, SQLite's own auto-checkpoint size
	walTailFrames   = 64
)

// checkpointTail copies the WAL's last frames when a rewind is due; when it
// did, it returns holding ckptMu, for the writer to release after its next
// commit.
func (s *SQLite) checkpointTail(w *wconn) bool {
	frames := s.walFrames.Load()
	switch {
	case frames >= 4*s.rewindFrames || s.walPastLimit():
		s.ckptMu.Lock()
	case frames >= s.rewindFrames && s.walBacklog.Load() <= walTailFrames && len(s.ops) == 0 && s.ckptMu.TryLock():
	default:
		return false
	}
	var busy, copied int64
	if err := w.queryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil || frames != copied {
		s.ckptMu.Unlock() // a reader held frames back: the checkpointer carries on
		return false
	}
	s.walFrames.Store(0)
	s.walBacklog.Store(0)
	return true
}

// walLimitBytes is the WAL size at which the writer forces a rewind: 4× rewindFrames of 4 KiB pages.
func walLimitBytes(rewindFrames int64) int64 { return 4 * rewindFrames * 4096 }

// walPastLimit: the WAL file is larger than its limit. journal_size_limit cuts it back at each
// rewind, so this holds only when the WAL has grown past the limit since the last one — also when
// the checkpointer, starved of CPU, has not yet reported the frames (walFrames lags behind).
func (s *SQLite) walPastLimit() bool {
	fi, err := os.Stat(s.walPath)
	return err == nil && fi.Size() > walLimitBytes(s.rewindFrames)
}

func isBusinessErr(err error) bool {
	return errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrAlreadyResolved)
}

// do queues fn for the writer and waits for its commit.
func (s *SQLite) do(ctx context.Context, fn func(*wconn) error) error {
	return s.queue(ctx, writeOp{fn: fn, done: make(chan error, 1)}, s.ops)
}

// doBulk is do for a chunk of a huge notification (see writeLoop).
func (s *SQLite) doBulk(ctx context.Context, fn func(*wconn) error) error {
	return s.queue(ctx, writeOp{fn: fn, done: make(chan error, 1), bulk: true}, s.bulk)
}

func (s *SQLite) queue(ctx context.Context, op writeOp, ch chan writeOp) error {
	select {
	case <-s.done:
		return fmt.Errorf("%w: store closed", ErrUnavailable)
	default:
	}
	select {
	case ch <- op:
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

// wconn is the writer's driver connection with its prepared statements.
// Only the writer goroutine uses it.
type wconn struct {
	conn  driver.Conn
	stmts map[string]driver.Stmt
	args  []driver.NamedValue // reused between calls
}

func (w *wconn) stmt(q string) (driver.Stmt, error) {
	if st := w.stmts[q]; st != nil {
		return st, nil
	}
	st, err := w.conn.(driver.ConnPrepareContext).PrepareContext(context.Background(), q)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", q, err)
	}
	w.stmts[q] = st
	return st, nil
}

func (w *wconn) close() {
	for _, st := range w.stmts {
		st.Close()
	}
}

func (w *wconn) bind(args []any) ([]driver.NamedValue, error) {
	w.args = w.args[:0]
	for i, a := range args {
		v, err := driver.DefaultParameterConverter.ConvertValue(a)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		w.args = append(w.args, driver.NamedValue{Ordinal: i + 1, Value: v})
	}
	return w.args, nil
}

// exec runs a statement that returns no rows.
func (w *wconn) exec(q string, args ...any) error {
	_, err := w.execN(q, args...)
	return err
}

// execN runs a statement and returns how many rows it changed.
func (w *wconn) execN(q string, args ...any) (int64, error) {
	st, err := w.stmt(q)
	if err != nil {
		return 0, err
	}
	nv, err := w.bind(args)
	if err != nil {
		return 0, err
	}
	res, err := st.(driver.StmtExecContext).ExecContext(context.Background(), nv)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// query calls each for every row; the values are only valid during the call.
func (w *wconn) query(q string, args []any, each func(row []driver.Value) error) error {
	st, err := w.stmt(q)
	if err != nil {
		return err
	}
	nv, err := w.bind(args)
	if err != nil {
		return err
	}
	rows, err := st.(driver.StmtQueryContext).QueryContext(context.Background(), nv)
	if err != nil {
		return err
	}
	defer rows.Close()
	row := make([]driver.Value, len(rows.Columns()))
	for {
		switch err := rows.Next(row); {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
		if err := each(row); err != nil {
			return err
		}
	}
}

// queryRow reads the first row; its Scan returns sql.ErrNoRows when there is none.
func (w *wconn) queryRow(q string, args ...any) driverRow {
	var r driverRow
	r.err = w.query(q, args, func(row []driver.Value) error {
		if r.vals == nil {
			r.vals = append([]driver.Value{}, row...)
		}
		return nil
	})
	if r.err == nil && r.vals == nil {
		r.err = sql.ErrNoRows
	}
	return r
}

type driverRow struct {
	vals []driver.Value
	err  error
}

// Scan stores the row's values into the destinations the store uses:
// *string, *int64 and sql.Scanner (sql.NullString, sql.NullInt64).
func (r driverRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	if len(dest) != len(r.vals) {
		return fmt.Errorf("scan: %d destinations for %d columns", len(dest), len(r.vals))
	}
	for i, d := range dest {
		v := r.vals[i]
		var ok bool
		switch d := d.(type) {
		case sql.Scanner:
			if err := d.Scan(v); err != nil {
				return fmt.Errorf("scan column %d: %w", i, err)
			}
			ok = true
		case *string:
			switch v := v.(type) {
			case string:
				*d, ok = v, true
			case []byte:
				*d, ok = string(v), true
			}
		case *int64:
			*d, ok = v.(int64)
		}
		if !ok {
			return fmt.Errorf("scan column %d: cannot store %T in %T", i, v, d)
		}
	}
	return nil
}
