package andon

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"modernc.org/sqlite" // pure-Go SQLite driver
)

// Sync with fdatasync, as SQLite built for Linux does (the transpiled driver
// keeps the source default, fsync): the same durability, without pushing
// the files' timestamps through the file system's journal at every
// checkpoint. Where the platform has no fdatasync, SQLite keeps fsync.
func init() { _, _ = sqlite.Fdatasync(true) }

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
	// Documents other parts keep here, such as the actuator's active actions.
	`CREATE TABLE state (
		name TEXT PRIMARY KEY,
		doc TEXT NOT NULL,
		updated_ms INTEGER NOT NULL
	);`,
	// The ledger's identity (one row, written by init), and the index the
	// gate reads its proof through: receipts by the sku and type in their body.
	`CREATE TABLE ledger (
		one INTEGER PRIMARY KEY CHECK (one = 1),
		id TEXT NOT NULL,
		created_ms INTEGER NOT NULL
	);
	CREATE INDEX receipts_sku_type ON receipts(json_extract(body, '$.sku'), json_extract(body, '$.receipt_type'));`,
	// Why Alertmanager sent the notification that first recorded the alert.
	`ALTER TABLE alerts ADD COLUMN notification_reason TEXT NOT NULL DEFAULT '';`,
	// Who and what stopped the line (Metadata as JSON, '' for none); details hold any JSON since.
	`ALTER TABLE andons ADD COLUMN metadata TEXT NOT NULL DEFAULT '';`,
}

// applicationID marks an andon ledger in the SQLite header ("ANDN"), so
// another application's database is told apart before anything is written.
const applicationID = 0x414E444E

// identitySchema is the first schema version with a ledger identity; older
// files were made before it and are not opened (they have no identity to prove).
const identitySchema = 3

// SQLite is the embedded Store. Writes go through one connection owned by a
// single goroutine that commits whatever is queued as one transaction (group
// commit); each write runs in its own savepoint so one failing write does not
// undo the others. WAL with synchronous=NORMAL: a committed transaction
// survives a crash of the process (not necessarily a power loss).
type SQLite struct {
	id           Identity
	signer       *Signer // set before the first write (SetSigner)
	ontologyBase string  // of the receipts' ontology refs (SetOntologyBase)
	write        *sql.DB // two connections: the writer's and the checkpointer's
	read         *sql.DB
	ops          chan writeOp
	bulk         chan writeOp  // chunks of huge notifications, taken when ops is empty
	checkpoint   chan struct{} // the writer committed: WAL to copy back
	stop         chan struct{}
	done         chan struct{} // the writer has stopped
	checkpointed chan struct{} // the checkpointer has stopped
	ckptMu       sync.Mutex    // one checkpoint at a time: the checkpointer's or the writer's
	walFrames    atomic.Int64  // WAL frames at the last checkpoint
	walBacklog   atomic.Int64  // of which not copied into the database file
	rewindFrames int64         // walRewindFrames; tests lower it
	walPath      string
	once         sync.Once
}

// OpenSQLite opens the andon ledger at path. It creates nothing: a missing
// file, an empty one, another application's database or a newer schema is
// refused with ErrNotLedger before anything is written (InitSQLite creates).
func OpenSQLite(path string) (*SQLite, error) { return openSQLite(path, walRewindFrames) }

func openSQLite(path string, rewindFrames int64) (*SQLite, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: no database path: pass --db PATH", ErrInvalid)
	}
	id, err := probeLedger(path)
	if err != nil {
		return nil, err
	}
	pragmas := []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)"}
	wq := url.Values{"_txlock": {"immediate"}, "_pragma": append(slices.Clip(pragmas),
		"wal_autocheckpoint(0)", // the checkpointer goroutine does it, off the writer's path
		fmt.Sprintf("journal_size_limit(%d)", walLimitBytes(rewindFrames)), // a rewound WAL is cut back to this
		"temp_store(MEMORY)", // savepoints journal the pages they change: in memory, not a temp file
	)}
	w, err := sql.Open("sqlite", "file:"+path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(2)
	w.SetConnMaxIdleTime(0)
	if err := migrate(w, id.Schema); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w (is it writable?)", path, err)
	}
	id.Schema = len(migrations)
	rq := url.Values{"_pragma": append(pragmas, "query_only(1)")}
	r, err := sql.Open("sqlite", "file:"+path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	s := &SQLite{id: id, write: w, read: r, ops: make(chan writeOp, maxBatch), bulk: make(chan writeOp, 1), checkpoint: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}), checkpointed: make(chan struct{}), rewindFrames: rewindFrames, walPath: path + "-wal"}
	if err := s.start(); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

// InitSQLite creates a new ledger at path, which must not exist: the schema
// and a new identity are written to a temporary file that is then linked
// into place, so a crash leaves no half-made ledger and an existing file
// (even an empty one) is never taken over.
func InitSQLite(path string, at time.Time) (Identity, error) {
	if path == "" {
		return Identity{}, fmt.Errorf("%w: no database path: pass --db PATH", ErrInvalid)
	}
	if _, err := os.Lstat(path); err == nil {
		return Identity{}, fmt.Errorf("%s exists: init creates a new ledger and never takes over a file; remove it or choose another path", path)
	}
	tmp := path + ".init-" + strconv.Itoa(os.Getpid())
	os.Remove(tmp)
	defer os.Remove(tmp)
	db, err := sql.Open("sqlite", "file:"+tmp+"?"+url.Values{"_pragma": {"journal_mode(DELETE)", "synchronous(FULL)"}}.Encode())
	if err != nil {
		return Identity{}, fmt.Errorf("init %s: %w", path, err)
	}
	id := Identity{ID: NewLedgerID(at), CreatedAt: at.UTC().Truncate(time.Millisecond), Schema: len(migrations)}
	err = migrate(db, 0)
	if err == nil {
		_, err = db.Exec(`INSERT INTO ledger (one, id, created_ms) VALUES (1, ?, ?)`, id.ID, id.CreatedAt.UnixMilli())
	}
	if err == nil {
		_, err = db.Exec(fmt.Sprintf(`PRAGMA application_id = %d`, applicationID))
	}
	if err = errors.Join(err, db.Close()); err != nil {
		return Identity{}, fmt.Errorf("init %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		return Identity{}, fmt.Errorf("init %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil { // make the new name durable
		d.Sync()
		d.Close()
	}
	return id, nil
}

// Identity returns the ledger's identity, read when it was opened.
func (s *SQLite) Identity() Identity { return s.id }

// probeLedger says what the file at path is, reading it only: an andon
// ledger of a known schema (its identity) or ErrNotLedger saying what it is instead.
func probeLedger(path string) (Identity, error) {
	notLedger := func(format string, args ...any) (Identity, error) {
		return Identity{}, fmt.Errorf("%w: %s: %s; nothing was changed", ErrNotLedger, path, fmt.Sprintf(format, args...))
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return notLedger("no such file: create a ledger with 'andon init --db %s' (or 'andon webhook --init')", path)
	case err != nil:
		return Identity{}, fmt.Errorf("%w: %w", ErrNotLedger, err)
	case fi.IsDir():
		return notLedger("a directory")
	case fi.Size() == 0:
		return notLedger("an empty file (0 bytes), not a ledger: restore it from a backup, or start a new one with 'andon init' at another path")
	}
	head := make([]byte, 16)
	f, err := os.Open(path)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrNotLedger, err)
	}
	n, _ := io.ReadFull(f, head)
	f.Close()
	if string(head[:n]) != "SQLite format 3\x00" {
		return notLedger("not a SQLite database (it starts with %q)", head[:n])
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %s: %w", ErrNotLedger, path, err)
	}
	defer db.Close()
	var app, version int64
	if err := db.QueryRow(`PRAGMA application_id`).Scan(&app); err != nil {
		return notLedger("unreadable SQLite database: %v", err)
	}
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		return notLedger("unreadable SQLite database: %v", err)
	}
	if app != applicationID {
		var tables []string
		rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
		if err == nil {
			for rows.Next() {
				var t string
				if rows.Scan(&t) == nil {
					tables = append(tables, t)
				}
			}
			rows.Close()
		}
		if app == 0 && slices.Contains(tables, "andons") && version < identitySchema {
			return notLedger("an andon ledger of schema version %d, made before ledgers had an identity: it cannot be proven and is not opened; start a new one with 'andon init'", version)
		}
		return notLedger("a SQLite database of another application (application_id %d, tables: %s)", app, strings.Join(tables, ", "))
	}
	if version > int64(len(migrations)) {
		return notLedger("an andon ledger of schema version %d, newer than this andon knows (%d): upgrade andon", version, len(migrations))
	}
	if version < identitySchema {
		return notLedger("an andon ledger of unknown schema version %d", version)
	}
	var id Identity
	var created int64
	if err := db.QueryRow(`SELECT id, created_ms FROM ledger WHERE one = 1`).Scan(&id.ID, &created); err != nil {
		return notLedger("an andon ledger without its identity row (%v)", err)
	}
	id.CreatedAt, id.Schema = time.UnixMilli(created).UTC(), int(version)
	return id, nil
}

// migrate applies the migrations after version from.
func migrate(db *sql.DB, from int) error {
	for i := from; i < len(migrations); i++ {
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
	return nil
}

// Close stops the writer after the queued writes and closes the database.
func (s *SQLite) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	<-s.checkpointed
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

// Trigger opens an andon, or returns the open one with the same origin.
func (s *SQLite) Trigger(ctx context.Context, t Trigger, at time.Time) (TriggerResult, error) {
	t, err := t.Normalize()
	if err != nil {
		return TriggerResult{}, err
	}
	var res TriggerResult
	err = s.do(ctx, func(tx *wconn) error {
		var err error
		res, err = s.triggerTx(tx, t, at)
		return err
	})
	return res, err
}

func (s *SQLite) triggerTx(tx *wconn, t Trigger, at time.Time) (TriggerResult, error) {
	if t.Origin != "" {
		a, err := scanAndon(tx.queryRow(qOpenByOrigin, t.Origin))
		if err == nil {
			return TriggerResult{Andon: a}, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return TriggerResult{}, err
		}
	}
	at = at.UTC().Truncate(time.Millisecond)
	a := Andon{ID: newID("AND-", at), Type: t.Type, SKU: t.SKU, Stage: t.Stage, Details: t.Details, Metadata: t.Metadata, Status: StatusOpen, Origin: t.Origin, OpenedAt: at}
	if err := tx.exec(qInsertAndon,
		a.ID, a.Type, a.SKU, a.Stage, detailsText(a.Details), a.Status, a.Origin, at.UnixMilli(), metadataText(a.Metadata)); err != nil {
		return TriggerResult{}, err
	}
	if err := tx.exec(qSkuOpened, a.SKU, at.UnixMilli()); err != nil {
		return TriggerResult{}, err
	}
	r, err := s.appendReceipt(tx, ReceiptTriggered, a, at, a.Details)
	if err != nil {
		return TriggerResult{}, err
	}
	return TriggerResult{Andon: a, Created: true, Receipt: &r}, nil
}

// SetSigner makes the store sign every receipt it writes from now on; call
// it before the first write.
func (s *SQLite) SetSigner(sg *Signer) { s.signer = sg }

// SetOntologyBase sets the namespace of the ontology refs of the receipts
// written from now on (before the first write; "" is DefaultOntologyBase).
func (s *SQLite) SetOntologyBase(base string) { s.ontologyBase = base }

func (s *SQLite) appendReceipt(tx *wconn, rt ReceiptType, a Andon, at time.Time, details map[string]any) (Receipt, error) {
	seq, prev := int64(0), GenesisHash
	var body string
	switch err := tx.queryRow(qLastReceipt).Scan(&seq, &body); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return Receipt{}, err
	default:
		var last Receipt
		if err := json.Unmarshal([]byte(body), &last); err != nil {
			return Receipt{}, fmt.Errorf("receipt %d is not valid JSON: %w (run 'andon receipts verify')", seq, err)
		}
		prev = last.Hash
		if last.KeyID != "" && s.signer == nil {
			return Receipt{}, fmt.Errorf("%w (receipt %d is signed with key %s)", ErrKeyRequired, seq, last.KeyID)
		}
	}
	r := newReceipt(s.id.ID, s.signer, s.ontologyBase, seq, prev, rt, a, at, details)
	b, _ := json.Marshal(r)
	err := tx.exec(qInsertReceipt, r.Seq, r.AndonID, string(b))
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
	err := s.do(ctx, func(tx *wconn) error {
		var err error
		a, err = scanAndon(tx.queryRow(qAndonByID, id))
		if err != nil {
			return err
		}
		if a.Status != StatusOpen {
			return fmt.Errorf("%w: %s was resolved at %s by %q", ErrAlreadyResolved, id, a.ResolvedAt.Format(time.RFC3339), a.Resolution.Resolver)
		}
		at = at.UTC().Truncate(time.Millisecond)
		ms := at.UnixMilli()
		if err := tx.exec(qResolve,
			ms, res.RootCause, res.FixApplied, res.PreventionAdded, res.Resolver, id); err != nil {
			return err
		}
		if err := tx.exec(qSkuResolved, ms, a.SKU); err != nil {
			return err
		}
		a.Status, a.ResolvedAt, a.Resolution = StatusResolved, &at, &res
		r, err = s.appendReceipt(tx, ReceiptResolved, a, at, map[string]any{
			"root_cause": res.RootCause, "fix_applied": res.FixApplied, "prevention_added": res.PreventionAdded,
			"resolver": res.Resolver, "time_to_resolve_ms": fmt.Sprint(a.TimeToResolve(at).Milliseconds()),
		})
		return err
	})
	return a, r, err
}

const andonSelect = `SELECT id, type, sku, stage, details, status, origin, opened_ms, resolved_ms, root_cause, fix_applied, prevention_added, resolver, metadata FROM andons`

type rowScanner interface{ Scan(...any) error }

func scanAndon(row rowScanner) (Andon, error) {
	var a Andon
	var typ, status, details, metadata string
	var opened int64
	var resolved sql.NullInt64
	var rc, fix, prev, who sql.NullString
	if err := row.Scan(&a.ID, &typ, &a.SKU, &a.Stage, &details, &status, &a.Origin, &opened, &resolved, &rc, &fix, &prev, &who, &metadata); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return a, ErrNotFound
		}
		return a, err
	}
	a.Type, a.Status = FailureType(typ), Status(status)
	_ = json.Unmarshal([]byte(details), &a.Details)
	a.Metadata = DecodeMetadata(metadata)
	a.OpenedAt = time.UnixMilli(opened).UTC()
	if resolved.Valid {
		t := time.UnixMilli(resolved.Int64).UTC()
		a.ResolvedAt = &t
		a.Resolution = &Resolution{RootCause: rc.String, FixApplied: fix.String, PreventionAdded: prev.String, Resolver: who.String}
	}
	return a, nil
}

// Get returns one andon and its receipts, read in one snapshot; when the
// andon has no row, its receipts (if any) come with ErrNotFound.
func (s *SQLite) Get(ctx context.Context, id string) (a Andon, rs []Receipt, err error) {
	err = s.snapshot(ctx, func(tx *sql.Tx) error {
		var err error
		if rs, err = queryReceipts(ctx, tx, `SELECT seq, andon_id, body FROM receipts WHERE andon_id = ? ORDER BY seq`, id); err != nil {
			return err
		}
		a, err = scanAndon(tx.QueryRowContext(ctx, qAndonByID, id))
		return err
	})
	if errors.Is(err, ErrNotFound) {
		// rs is kept: receipts of an andon without a row prove a deletion.
		return a, rs, fmt.Errorf("%w: no andon with id %q (list them with 'andon list')", ErrNotFound, id)
	}
	return a, rs, err
}

// List returns andons matching f, newest first, and their receipts, read in one snapshot.
func (s *SQLite) List(ctx context.Context, f Filter) (out []Andon, rs []Receipt, err error) {
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
	err = s.snapshot(ctx, func(tx *sql.Tx) error {
		var err error
		if out, err = queryAndons(ctx, tx, q, args...); err != nil {
			return err
		}
		ids := make([]any, len(out))
		for i, a := range out {
			ids[i] = a.ID
		}
		for c := range slices.Chunk(ids, 500) {
			more, err := queryReceipts(ctx, tx, `SELECT seq, andon_id, body FROM receipts WHERE andon_id IN (`+placeholders(len(c), "?")+`) ORDER BY seq`, c...)
			if err != nil {
				return err
			}
			rs = append(rs, more...)
		}
		return nil
	})
	return out, rs, err
}

// Open reads, in one snapshot, the open andons of sku with their receipts,
// and counts the sku's andon_triggered and andon_resolved receipts through
// the index on the sku and type in their body (the count reads the index
// only, no receipt body).
func (s *SQLite) Open(ctx context.Context, sku string) (st OpenState, err error) {
	err = s.snapshot(ctx, func(tx *sql.Tx) error {
		var err error
		if st.Andons, err = queryAndons(ctx, tx, andonSelect+` WHERE sku = ? AND status = 'open' ORDER BY opened_ms DESC, id DESC`, sku); err != nil {
			return err
		}
		for _, a := range st.Andons {
			rs, err := queryReceipts(ctx, tx, `SELECT seq, andon_id, body FROM receipts WHERE andon_id = ? ORDER BY seq`, a.ID)
			if err != nil {
				return err
			}
			st.Receipts = append(st.Receipts, rs...)
		}
		var triggered, resolved int
		const q = `SELECT count(*) FROM receipts WHERE json_extract(body, '$.sku') = ? AND json_extract(body, '$.receipt_type') = ?`
		if err := tx.QueryRowContext(ctx, q, sku, ReceiptTriggered).Scan(&triggered); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, q, sku, ReceiptResolved).Scan(&resolved); err != nil {
			return err
		}
		st.ProvenOpen = triggered - resolved
		return nil
	})
	return st, err
}

// Chain returns the whole receipt chain and every andon, read in one snapshot.
func (s *SQLite) Chain(ctx context.Context) (rs []Receipt, andons []Andon, err error) {
	err = s.snapshot(ctx, func(tx *sql.Tx) error {
		var err error
		if rs, err = queryReceipts(ctx, tx, `SELECT seq, andon_id, body FROM receipts ORDER BY seq`); err != nil {
			return err
		}
		andons, err = queryAndons(ctx, tx, andonSelect+` ORDER BY opened_ms, id`)
		return err
	})
	return rs, andons, err
}

// Receipts returns the whole chain in order.
func (s *SQLite) Receipts(ctx context.Context) ([]Receipt, error) {
	rs, err := queryReceipts(ctx, s.read, `SELECT seq, andon_id, body FROM receipts ORDER BY seq`)
	return rs, readErr(err)
}

// Head returns the last receipt of the chain.
func (s *SQLite) Head(ctx context.Context) (Receipt, error) {
	rs, err := queryReceipts(ctx, s.read, `SELECT seq, andon_id, body FROM receipts ORDER BY seq DESC LIMIT 1`)
	if err != nil {
		return Receipt{}, readErr(err)
	}
	if len(rs) == 0 {
		return Receipt{}, ErrNotFound
	}
	return rs[0], nil
}

// snapshot runs fn in one read transaction: what it reads is one moment of the ledger.
func (s *SQLite) snapshot(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return readErr(err)
	}
	defer tx.Rollback()
	return readErr(fn(tx))
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func queryAndons(ctx context.Context, db querier, q string, args ...any) ([]Andon, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Andon
	for rows.Next() {
		a, err := scanAndon(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func limit(n int) int {
	if n <= 0 {
		return 100
	}
	return n
}

// queryReceipts reads receipt rows; the seq column is the receipt's place
// in the chain, so a body with another seq fails its hash.
func queryReceipts(ctx context.Context, db querier, q string, args ...any) ([]Receipt, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Receipt
	for rows.Next() {
		var seq int64
		var andonID, body string
		if err := rows.Scan(&seq, &andonID, &body); err != nil {
			return nil, err
		}
		var r Receipt
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			r = Receipt{Hash: "unparseable"} // Verify reports it as changed
		}
		r.Seq, r.indexedAndonID = seq, andonID
		out = append(out, r)
	}
	return out, rows.Err()
}

// Ingest records a notification's alerts, idempotently on (key, status),
// and opens the andons its new firing alerts ask for. What needs no
// database (validation, JSON encoding) happens here, in the caller's
// goroutine, so the single writer only runs the statements: one lookup and
// one multi-row insert per 32 alerts, plus the andons opened.
//
// Fair ingest: a notification of more than ingestChunk alerts is committed
// in chunks of that many, one bulk write op each, submitted one after the
// other; the writer commits a bulk op alone and only when no other request
// waits, so small notifications are committed between two chunks of a huge
// one instead of waiting for all of it. It returns (and the webhook acknowledges)
// only when every chunk is durable; after a failure part of it may be
// recorded, which the idempotent retry Alertmanager sends then completes.
func (s *SQLite) Ingest(ctx context.Context, n Notification) (IngestResult, error) {
	recv := n.ReceivedAt.UnixMilli()
	rows := make([][]any, len(n.Alerts))
	for i, al := range n.Alerts {
		if al.Andon != nil && al.Status == "firing" {
			t, err := al.Andon.Normalize()
			if err != nil {
				return IngestResult{}, fmt.Errorf("alert %d: %w", i, err)
			}
			n.Alerts[i].Andon = &t
		}
		// The column order of qInsertAlerts; andon_id is set by the writer.
		rows[i] = []any{al.Key, al.Status, n.Receiver, al.Fingerprint, al.StartsAt.UnixMilli(), al.EndsAt.UnixMilli(),
			jsonText(al.Labels), jsonText(al.Annotations), recv, n.Reason, ""}
	}
	res := IngestResult{Duplicate: make([]bool, len(n.Alerts)), AndonIDs: make([]string, len(n.Alerts))}
	origins := map[string]string{} // alerts of one group usually share their origin; committed chunks' andons stay valid
	do := s.do
	if len(n.Alerts) > ingestChunk {
		do = s.doBulk
	}
	for start := 0; start < len(n.Alerts); start += ingestChunk {
		end := min(start+ingestChunk, len(n.Alerts))
		var opened []Andon
		var receipts []Receipt
		err := do(ctx, func(tx *wconn) error {
			opened, receipts = nil, nil
			seen, err := alertsSeen(tx, n.Alerts[start:end])
			if err != nil {
				return err
			}
			fresh := make([][]any, 0, end-start)
			for i := start; i < end; i++ {
				al := n.Alerts[i]
				id := alertID{al.Key, al.Status}
				if andonID, ok := seen[id]; ok {
					res.Duplicate[i], res.AndonIDs[i] = true, andonID
					continue
				}
				var andonID string
				if al.Andon != nil && al.Status == "firing" {
					if id, ok := origins[al.Andon.Origin]; ok && al.Andon.Origin != "" {
						andonID = id
					} else {
						tr, err := s.triggerTx(tx, *al.Andon, n.ReceivedAt)
						if err != nil {
							return err
						}
						andonID = tr.Andon.ID
						origins[al.Andon.Origin] = andonID
						if tr.Created {
							opened = append(opened, tr.Andon)
							receipts = append(receipts, *tr.Receipt)
						}
					}
				}
				res.AndonIDs[i] = andonID
				seen[id] = andonID // the same alert twice in one notification: the second is a duplicate
				rows[i][len(rows[i])-1] = andonID
				fresh = append(fresh, rows[i])
			}
			for c := range slices.Chunk(fresh, alertChunk) {
				if err := tx.exec(qInsertAlerts[len(c)], slices.Concat(c...)...); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return IngestResult{}, err
		}
		res.Opened, res.Receipts = append(res.Opened, opened...), append(res.Receipts, receipts...)
	}
	return res, nil
}

// ingestChunk bounds the alerts one write op records (see Ingest).
const ingestChunk = 128

type alertID struct{ key, status string }

// alertsSeen returns the andon id of every alert of the list already recorded.
func alertsSeen(tx *wconn, alerts []AlertEvent) (map[alertID]string, error) {
	keys := make([]any, 0, len(alerts))
	distinct := make(map[string]bool, len(alerts))
	for _, al := range alerts {
		if !distinct[al.Key] {
			distinct[al.Key] = true
			keys = append(keys, al.Key)
		}
	}
	seen := make(map[alertID]string, len(alerts))
	for c := range slices.Chunk(keys, alertChunk) {
		err := tx.query(qAlertsSeen[len(c)], c, func(row []driver.Value) error {
			k, _ := row[0].(string)
			st, _ := row[1].(string)
			id, _ := row[2].(string)
			seen[alertID{k, st}] = id
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return seen, nil
}

// RecordActions appends action decisions.
func (s *SQLite) RecordActions(ctx context.Context, recs []ActionRecord) error {
	return s.do(ctx, func(tx *wconn) error {
		for _, r := range recs {
			if err := tx.exec(qInsertAction,
				r.Time.UnixMilli(), r.AlertKey, r.Alert, r.AndonID, r.Kind, r.Service, r.Target, r.Result, r.Reason, r.Detail); err != nil {
				return err
			}
		}
		return nil
	})
}

// PutState stores doc under name, replacing what was there.
func (s *SQLite) PutState(ctx context.Context, name string, doc []byte) error {
	return s.do(ctx, func(tx *wconn) error {
		return tx.exec(qPutState, name, string(doc), time.Now().UnixMilli())
	})
}

// State returns the document stored under name, or nil when there is none.
func (s *SQLite) State(ctx context.Context, name string) ([]byte, error) {
	var doc string
	switch err := s.read.QueryRowContext(ctx, `SELECT doc FROM state WHERE name = ?`, name).Scan(&doc); {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, readErr(err)
	}
	return []byte(doc), nil
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

// jsonText is json.Marshal of a string map (sorted keys, no HTML escaping)
// without reflection: labels and annotations of every alert go through it.
func jsonText(m map[string]string) string {
	if m == nil {
		return "null"
	}
	keys := make([]string, 0, len(m))
	n := 2
	for k, v := range m {
		keys = append(keys, k)
		n += len(k) + len(v) + 6
	}
	slices.Sort(keys)
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return string(append(b, '}'))
}

// appendJSONString quotes s as encoding/json does, less its HTML escaping.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			switch r {
			case utf8.RuneError:
				b = append(b, `\ufffd`...)
			default:
				b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
