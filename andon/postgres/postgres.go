// Package postgres is the andon ledger's Store on PostgreSQL, for several
// 'andon webhook' replicas sharing one ledger. Every acknowledged write is a
// committed transaction (synchronous_commit as the server has it: on by
// default). Exactly-once holds by the database, never by process memory:
// alerts by their primary key (key, status), open andons by a unique index
// on their origin, receipts by a row lock on the chain head, resolves by a
// row lock on the andon.
//
// Locks are always taken in one order — alert keys (sorted), andon origins
// (sorted), the chain head, skus (sorted) — so concurrent transactions of
// several replicas wait for each other but never deadlock.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	neturl "net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/andon-sre/andon/andon"
)

// Store is the PostgreSQL ledger.
type Store struct {
	id           andon.Identity
	signer       *andon.Signer
	ontologyBase string // of the receipts' ontology refs (SetOntologyBase)
	pool         *pgxpool.Pool
	ops          chan chainOp
	quit         chan struct{}
	stopped      chan struct{} // commitLoop has stopped
	closeOnce    sync.Once
}

var _ andon.Replicated = (*Store)(nil)

// IsURL tells a PostgreSQL connection URL (postgres:// or postgresql://) from a SQLite path.
func IsURL(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// Open connects to the andon ledger in the database at url, migrating its
// schema forward if needed (replicas starting at once take turns). A
// database without a ledger, with another application's tables or a newer
// schema is refused with ErrNotLedger: Init creates a ledger.
func Open(ctx context.Context, url string) (*Store, error) { return open(ctx, url, false, time.Time{}) }

// Init creates a new ledger, with its identity, in the empty database at url.
// It fails on a database holding a ledger (ErrExists) or anything else.
func Init(ctx context.Context, url string, at time.Time) (andon.Identity, error) {
	s, err := open(ctx, url, true, at)
	if err != nil {
		return andon.Identity{}, err
	}
	defer s.Close()
	return s.id, nil
}

// ErrExists: Init found a ledger in the database already.
var ErrExists = errExists

func open(ctx context.Context, url string, init bool, at time.Time) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%w: database URL: %w", andon.ErrInvalid, err)
	}
	where := cfg.ConnConfig.Host + "/" + cfg.ConnConfig.Database
	if !strings.Contains(url, "pool_max_conns") {
		// A connection per notification in flight: commits waiting for the
		// same WAL flush are what makes PostgreSQL's group commit work.
		cfg.MaxConns = 32
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: connect to %s: %w", andon.ErrUnavailable, where, err)
	}
	id, err := setup(ctx, pool, init, at)
	if err != nil {
		pool.Close()
		if errors.Is(err, andon.ErrNotLedger) || errors.Is(err, errExists) {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		return nil, fmt.Errorf("%w: open %s: %w", andon.ErrUnavailable, where, err)
	}
	s := &Store{id: id, pool: pool, ops: make(chan chainOp), quit: make(chan struct{}), stopped: make(chan struct{})}
	go s.commitLoop()
	return s, nil
}

// Identity returns the ledger's identity, read when it was opened.
func (s *Store) Identity() andon.Identity { return s.id }

// SetSigner makes the store sign the receipts it writes (before the first write).
func (s *Store) SetSigner(sg *andon.Signer) { s.signer = sg }

// SetOntologyBase sets the IRI namespace of the receipts' ontology refs (before the first write).
func (s *Store) SetOntologyBase(base string) { s.ontologyBase = base }

// Close closes every connection, after the batch being committed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.quit)
		<-s.stopped
		s.pool.Close()
	})
	return nil
}

// Ping fails when the database does not answer.
func (s *Store) Ping(ctx context.Context) error {
	return storeErr(s.pool.Ping(ctx))
}

// storeErr passes refusals through, turns bad data PostgreSQL refuses to store
// (SQLSTATE class 22, e.g. a NUL byte in text) into ErrInvalid and every other
// failure into ErrUnavailable.
func storeErr(err error) error {
	if err == nil || andon.IsBusinessErr(err) || errors.Is(err, andon.ErrUnavailable) {
		return err
	}
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && strings.HasPrefix(pe.Code, "22") {
		return fmt.Errorf("%w: the database refuses the data: %s", andon.ErrInvalid, pe.Message)
	}
	return fmt.Errorf("%w: %w", andon.ErrUnavailable, err)
}

// inTx runs fn in a transaction and commits it.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return storeErr(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return storeErr(err)
	}
	return storeErr(tx.Commit(ctx))
}

// querier is a transaction, or a connection inside one begun by a pipeline.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const andonCols = `id, type, sku, stage, details, status, origin, opened_ms, resolved_ms, root_cause, fix_applied, prevention_added, resolver, metadata`

func scanAndon(row pgx.Row) (andon.Andon, error) {
	var a andon.Andon
	var details, metadata string
	var opened int64
	var resolved *int64
	var rc, fix, prev, who *string
	if err := row.Scan(&a.ID, &a.Type, &a.SKU, &a.Stage, &details, &a.Status, &a.Origin, &opened, &resolved, &rc, &fix, &prev, &who, &metadata); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return a, andon.ErrNotFound
		}
		return a, err
	}
	_ = json.Unmarshal([]byte(details), &a.Details)
	a.Metadata = andon.DecodeMetadata(metadata)
	a.OpenedAt = time.UnixMilli(opened).UTC()
	if resolved != nil {
		t := time.UnixMilli(*resolved).UTC()
		a.ResolvedAt = &t
		a.Resolution = &andon.Resolution{RootCause: deref(rc), FixApplied: deref(fix), PreventionAdded: deref(prev), Resolver: deref(who)}
	}
	return a, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Trigger opens an andon, or returns the open one with the same origin.
func (s *Store) Trigger(ctx context.Context, t andon.Trigger, at time.Time) (andon.TriggerResult, error) {
	t, err := t.Normalize()
	if err != nil {
		return andon.TriggerResult{}, err
	}
	d, err := s.commit(ctx, chainOp{trigger: &t, at: at})
	return d.opened, err
}

// chainOp is a trigger or a resolve: a write that appends a receipt. Each
// such transaction holds the chain head until it commits, so one goroutine
// per replica commits whatever is queued in one transaction (group commit).
type chainOp struct {
	trigger   *andon.Trigger // or:
	resolveID string
	res       andon.Resolution
	at        time.Time
	done      chan chainDone
}

type chainDone struct {
	opened andon.TriggerResult
	a      andon.Andon
	r      andon.Receipt
	err    error
}

// maxChainBatch bounds the operations committed together.
const maxChainBatch = 256

func (s *Store) commit(ctx context.Context, op chainOp) (chainDone, error) {
	op.done = make(chan chainDone, 1)
	select {
	case s.ops <- op:
	case <-ctx.Done():
		return chainDone{}, storeErr(ctx.Err())
	case <-s.quit:
		return chainDone{}, fmt.Errorf("%w: store closed", andon.ErrUnavailable)
	}
	select {
	case d := <-op.done:
		return d, d.err
	case <-ctx.Done():
		return chainDone{}, storeErr(ctx.Err())
	}
}

func (s *Store) commitLoop() {
	defer close(s.stopped)
	batch := make([]chainOp, 0, maxChainBatch)
	for {
		select {
		case <-s.quit:
			return
		case op := <-s.ops:
			batch = append(batch[:0], op)
		}
	fill:
		for len(batch) < maxChainBatch {
			select {
			case op := <-s.ops:
				batch = append(batch, op)
			default:
				break fill
			}
		}
		if err := s.commitBatch(batch); err != nil {
			for _, op := range batch { // one bad operation must not fail the others: each alone
				_ = s.commitBatch([]chainOp{op})
			}
		}
	}
}

// commitBatch runs the batch in one transaction — triggers first (their
// origins are locked before the chain head), then resolves — and answers
// each operation; a failed transaction of several is returned unanswered.
func (s *Store) commitBatch(batch []chainOp) error {
	ctx := context.Background()
	var ts []andon.Trigger
	var ats []time.Time
	var trig, resv []int
	for i, op := range batch {
		if op.trigger != nil {
			ts, ats, trig = append(ts, *op.trigger), append(ats, op.at), append(trig, i)
		} else {
			resv = append(resv, i)
		}
	}
	slices.SortStableFunc(resv, func(a, b int) int { return strings.Compare(batch[a].resolveID, batch[b].resolveID) })
	out := make([]chainDone, len(batch))
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if len(ts) > 0 {
			opened, err := s.openAndons(ctx, tx, ts, ats)
			if err != nil {
				return err
			}
			for j, i := range trig {
				out[i].opened = opened[j]
			}
		}
		for _, i := range resv {
			op := batch[i]
			a, r, err := s.resolveTx(ctx, tx, op.resolveID, op.res, op.at)
			if err != nil && !andon.IsBusinessErr(err) {
				return err
			}
			out[i] = chainDone{a: a, r: r, err: err}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		return err
	}
	for i, op := range batch {
		if err != nil {
			out[i] = chainDone{err: err}
		}
		op.done <- out[i]
	}
	return nil
}

// openAndons opens an andon per trigger, or finds the open one of its origin,
// then appends the receipts of those it created. Triggers with the same
// non-empty origin get the same andon. Origins are locked in sorted order,
// before the chain head.
func (s *Store) openAndons(ctx context.Context, tx querier, ts []andon.Trigger, ats []time.Time) ([]andon.TriggerResult, error) {
	out := make([]andon.TriggerResult, len(ts))
	order := make([]int, len(ts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(ts[a].Origin, ts[b].Origin) })
	byOrigin := map[string]int{}
	var created []int
	for _, i := range order {
		t := ts[i]
		if j, ok := byOrigin[t.Origin]; ok && t.Origin != "" {
			out[i] = andon.TriggerResult{Andon: out[j].Andon}
			continue
		}
		byOrigin[t.Origin] = i
		if t.Origin != "" {
			a, err := scanAndon(tx.QueryRow(ctx, `SELECT `+andonCols+` FROM andons WHERE origin = $1 AND status = 'open' AND origin <> ''`, t.Origin))
			if err == nil {
				out[i] = andon.TriggerResult{Andon: a}
				continue
			}
			if !errors.Is(err, andon.ErrNotFound) {
				return nil, err
			}
		}
		at := ats[i].UTC().Truncate(time.Millisecond)
		a := andon.Andon{ID: andon.NewAndonID(at), Type: t.Type, SKU: t.SKU, Stage: t.Stage, Details: t.Details, Metadata: t.Metadata, Status: andon.StatusOpen, Origin: t.Origin, OpenedAt: at}
		// A replica racing us for the same origin waits here for our commit
		// (or we for its): the loser inserts nothing and reads the winner's.
		tag, err := tx.Exec(ctx, `INSERT INTO andons (id, type, sku, stage, details, status, origin, opened_ms, metadata) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
			ON CONFLICT (origin) WHERE status = 'open' AND origin <> '' DO NOTHING`,
			a.ID, a.Type, a.SKU, a.Stage, andon.DetailsText(a.Details), a.Status, a.Origin, at.UnixMilli(), andon.MetadataText(a.Metadata))
		if err != nil {
			return nil, err
		}
		if tag.RowsAffected() == 0 {
			won, err := scanAndon(tx.QueryRow(ctx, `SELECT `+andonCols+` FROM andons WHERE origin = $1 AND status = 'open' AND origin <> ''`, t.Origin))
			if err != nil {
				return nil, fmt.Errorf("andon of origin %q: %w", t.Origin, err)
			}
			out[i] = andon.TriggerResult{Andon: won}
			continue
		}
		out[i] = andon.TriggerResult{Andon: a, Created: true}
		created = append(created, i)
	}
	if len(created) == 0 {
		return out, nil
	}
	head, err := s.lockChain(ctx, tx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(created, func(a, b int) int { return strings.Compare(out[a].Andon.ID, out[b].Andon.ID) })
	skus := map[string]bool{}
	for _, i := range created {
		r, err := head.append(ctx, tx, andon.ReceiptTriggered, out[i].Andon, out[i].Andon.OpenedAt, out[i].Andon.Details)
		if err != nil {
			return nil, err
		}
		out[i].Receipt = &r
		skus[out[i].Andon.SKU] = true
	}
	if err := head.save(ctx, tx); err != nil {
		return nil, err
	}
	for _, sku := range slices.Sorted(maps.Keys(skus)) {
		n, since := 0, int64(0)
		for _, i := range created {
			if a := out[i].Andon; a.SKU == sku {
				if n++; n == 1 || a.OpenedAt.UnixMilli() < since {
					since = a.OpenedAt.UnixMilli()
				}
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO skus (sku, open_count, blocked_since_ms, blocked_ms_total) VALUES ($1, $2, $3, 0)
			ON CONFLICT (sku) DO UPDATE SET blocked_since_ms = CASE WHEN skus.open_count = 0 THEN excluded.blocked_since_ms ELSE skus.blocked_since_ms END,
			open_count = skus.open_count + excluded.open_count`, sku, n, since); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// chainHead is the chain's last receipt as the chain_head row keeps it,
// locked (FOR UPDATE) until the transaction ends, and what appends to it.
type chainHead struct {
	s           *Store
	seq         int64
	hash, keyID string
}

func (s *Store) lockChain(ctx context.Context, tx querier) (*chainHead, error) {
	h := &chainHead{s: s}
	err := tx.QueryRow(ctx, `SELECT seq, hash, key_id FROM chain_head WHERE id = 1 FOR UPDATE`).Scan(&h.seq, &h.hash, &h.keyID)
	return h, err
}

// append writes the receipt that follows the head and moves the head to it.
func (h *chainHead) append(ctx context.Context, tx querier, rt andon.ReceiptType, a andon.Andon, at time.Time, details map[string]any) (andon.Receipt, error) {
	r, err := andon.NextReceipt(h.s.id.ID, h.s.signer, h.s.ontologyBase, h.seq, h.hash, h.keyID, rt, a, at, details)
	if err != nil {
		return r, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return r, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO receipts (seq, andon_id, body) VALUES ($1,$2,$3)`, r.Seq, r.AndonID, string(b)); err != nil {
		return r, err
	}
	h.seq, h.hash, h.keyID = r.Seq, r.Hash, r.KeyID
	return r, nil
}

// save stores the head (before the transaction commits).
func (h *chainHead) save(ctx context.Context, tx querier) error {
	_, err := tx.Exec(ctx, `UPDATE chain_head SET seq = $1, hash = $2, key_id = $3 WHERE id = 1`, h.seq, h.hash, h.keyID)
	return err
}

// Resolve closes an open andon; of racing resolvers, on any replica, the
// first to lock the andon's row wins and the others get ErrAlreadyResolved.
// Like triggers, concurrent resolves are committed together.
func (s *Store) Resolve(ctx context.Context, id string, res andon.Resolution, at time.Time) (andon.Andon, andon.Receipt, error) {
	if err := res.Validate(); err != nil {
		return andon.Andon{}, andon.Receipt{}, err
	}
	d, err := s.commit(ctx, chainOp{resolveID: id, res: res, at: at})
	return d.a, d.r, err
}

func (s *Store) resolveTx(ctx context.Context, tx querier, id string, res andon.Resolution, at time.Time) (andon.Andon, andon.Receipt, error) {
	a, err := scanAndon(tx.QueryRow(ctx, `SELECT `+andonCols+` FROM andons WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, andon.ErrNotFound) {
		return a, andon.Receipt{}, andon.NotFound(id)
	}
	if err != nil {
		return a, andon.Receipt{}, err
	}
	if a.Status != andon.StatusOpen {
		return a, andon.Receipt{}, andon.AlreadyResolved(a)
	}
	at = at.UTC().Truncate(time.Millisecond)
	ms := at.UnixMilli()
	if _, err := tx.Exec(ctx, `UPDATE andons SET status = 'resolved', resolved_ms = $1, root_cause = $2, fix_applied = $3, prevention_added = $4, resolver = $5 WHERE id = $6`,
		ms, res.RootCause, res.FixApplied, res.PreventionAdded, res.Resolver, id); err != nil {
		return a, andon.Receipt{}, err
	}
	a.Status, a.ResolvedAt, a.Resolution = andon.StatusResolved, &at, &res
	head, err := s.lockChain(ctx, tx)
	if err != nil {
		return a, andon.Receipt{}, err
	}
	r, err := head.append(ctx, tx, andon.ReceiptResolved, a, at, andon.ResolvedDetails(a, res, at))
	if err != nil {
		return a, r, err
	}
	if err := head.save(ctx, tx); err != nil {
		return a, r, err
	}
	_, err = tx.Exec(ctx, `UPDATE skus SET open_count = open_count - 1,
		blocked_ms_total = blocked_ms_total + CASE WHEN open_count = 1 THEN greatest(0, $1 - blocked_since_ms) ELSE 0 END WHERE sku = $2`, ms, a.SKU)
	return a, r, err
}

// snapshot runs fn in one read-only REPEATABLE READ transaction: what it
// reads is one moment of the ledger, whatever other replicas commit meanwhile.
func (s *Store) snapshot(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return storeErr(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	return storeErr(fn(tx))
}

func queryAndons(ctx context.Context, tx pgx.Tx, q string, args ...any) ([]andon.Andon, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []andon.Andon
	for rows.Next() {
		a, err := scanAndon(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func queryReceipts(ctx context.Context, tx pgx.Tx, q string, args ...any) ([]andon.Receipt, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var out []andon.Receipt
	var seq int64
	var andonID, body string
	_, err = pgx.ForEachRow(rows, []any{&seq, &andonID, &body}, func() error {
		out = append(out, andon.ReceiptFromRow(seq, andonID, body))
		return nil
	})
	return out, err
}

// Get returns one andon and its receipts, read in one snapshot; when the
// andon has no row, its receipts (if any) come with ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (a andon.Andon, rs []andon.Receipt, err error) {
	err = s.snapshot(ctx, func(tx pgx.Tx) error {
		var err error
		if rs, err = queryReceipts(ctx, tx, `SELECT seq, andon_id, body FROM receipts WHERE andon_id = $1 ORDER BY seq`, id); err != nil {
			return err
		}
		a, err = scanAndon(tx.QueryRow(ctx, `SELECT `+andonCols+` FROM andons WHERE id = $1`, id))
		return err
	})
	if errors.Is(err, andon.ErrNotFound) {
		return a, rs, andon.NotFound(id) // rs is kept: receipts of an andon without a row prove a deletion
	}
	return a, rs, err
}

// List returns andons matching f, newest first, and their receipts, read in one snapshot.
func (s *Store) List(ctx context.Context, f andon.Filter) (out []andon.Andon, rs []andon.Receipt, err error) {
	err = s.snapshot(ctx, func(tx pgx.Tx) error {
		var err error
		if out, err = queryAndons(ctx, tx, `SELECT `+andonCols+` FROM andons
			WHERE ($1 = '' OR sku = $1) AND ($2 = '' OR status = $2) AND ($3 = '' OR type = $3)
			ORDER BY opened_ms DESC, id DESC LIMIT $4`, f.SKU, string(f.Status), string(f.Type), andon.Limit(f.Limit)); err != nil {
			return err
		}
		ids := make([]string, len(out))
		for i, a := range out {
			ids[i] = a.ID
		}
		rs, err = queryReceipts(ctx, tx, `SELECT seq, andon_id, body FROM receipts WHERE andon_id = ANY($1) ORDER BY seq`, ids)
		return err
	})
	return out, rs, err
}

// Open reads, in one snapshot, the open andons of sku with their receipts,
// and counts the sku's andon_triggered and andon_resolved receipts through
// the index on the sku and type in their body.
func (s *Store) Open(ctx context.Context, sku string) (st andon.OpenState, err error) {
	err = s.snapshot(ctx, func(tx pgx.Tx) error {
		var err error
		if st.Andons, err = queryAndons(ctx, tx, `SELECT `+andonCols+` FROM andons WHERE sku = $1 AND status = 'open' ORDER BY opened_ms DESC, id DESC`, sku); err != nil {
			return err
		}
		ids := make([]string, len(st.Andons))
		for i, a := range st.Andons {
			ids[i] = a.ID
		}
		if st.Receipts, err = queryReceipts(ctx, tx, `SELECT seq, andon_id, body FROM receipts WHERE andon_id = ANY($1) ORDER BY seq`, ids); err != nil {
			return err
		}
		const q = `SELECT count(*) FROM receipts WHERE ((body::jsonb) ->> 'sku') = $1 AND ((body::jsonb) ->> 'receipt_type') = $2`
		var triggered, resolved int
		if err := tx.QueryRow(ctx, q, sku, string(andon.ReceiptTriggered)).Scan(&triggered); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, q, sku, string(andon.ReceiptResolved)).Scan(&resolved); err != nil {
			return err
		}
		st.ProvenOpen = triggered - resolved
		return nil
	})
	return st, err
}

// Chain returns the whole receipt chain and every andon, read in one snapshot.
func (s *Store) Chain(ctx context.Context) (rs []andon.Receipt, andons []andon.Andon, err error) {
	err = s.snapshot(ctx, func(tx pgx.Tx) error {
		var err error
		if rs, err = queryReceipts(ctx, tx, `SELECT seq, andon_id, body FROM receipts ORDER BY seq`); err != nil {
			return err
		}
		andons, err = queryAndons(ctx, tx, `SELECT `+andonCols+` FROM andons ORDER BY opened_ms, id`)
		return err
	})
	return rs, andons, err
}

// Receipts returns the whole chain in order.
func (s *Store) Receipts(ctx context.Context) (rs []andon.Receipt, err error) {
	err = s.snapshot(ctx, func(tx pgx.Tx) error {
		rs, err = queryReceipts(ctx, tx, `SELECT seq, andon_id, body FROM receipts ORDER BY seq`)
		return err
	})
	return rs, err
}

// Head returns the last receipt of the chain (ErrNotFound when there is none).
func (s *Store) Head(ctx context.Context) (andon.Receipt, error) {
	var rs []andon.Receipt
	err := s.snapshot(ctx, func(tx pgx.Tx) error {
		var err error
		rs, err = queryReceipts(ctx, tx, `SELECT seq, andon_id, body FROM receipts ORDER BY seq DESC LIMIT 1`)
		return err
	})
	if err != nil {
		return andon.Receipt{}, err
	}
	if len(rs) == 0 {
		return andon.Receipt{}, andon.ErrNotFound
	}
	return rs[0], nil
}

// RecordActions appends action decisions.
func (s *Store) RecordActions(ctx context.Context, recs []andon.ActionRecord) error {
	if len(recs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, r := range recs {
		b.Queue(`INSERT INTO actions (ts_ms, alert_key, alert, andon_id, kind, service, target, result, reason, detail) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
			r.Time.UnixMilli(), r.AlertKey, r.Alert, r.AndonID, r.Kind, r.Service, r.Target, r.Result, r.Reason, r.Detail)
	}
	return s.inTx(ctx, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
}

// Actions returns recorded decisions, newest first.
func (s *Store) Actions(ctx context.Context, f andon.ActionFilter) ([]andon.ActionRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, ts_ms, alert_key, alert, andon_id, kind, service, target, result, reason, detail FROM actions
		WHERE ($1 = '' OR service = $1) AND ($2 = '' OR result = $2) ORDER BY id DESC LIMIT $3`, f.Service, f.Result, andon.Limit(f.Limit))
	if err != nil {
		return nil, storeErr(err)
	}
	defer rows.Close()
	var out []andon.ActionRecord
	for rows.Next() {
		var r andon.ActionRecord
		var ms int64
		if err := rows.Scan(&r.ID, &ms, &r.AlertKey, &r.Alert, &r.AndonID, &r.Kind, &r.Service, &r.Target, &r.Result, &r.Reason, &r.Detail); err != nil {
			return nil, storeErr(err)
		}
		r.Time = time.UnixMilli(ms).UTC()
		out = append(out, r)
	}
	return out, storeErr(rows.Err())
}

// Stats reads open counts and blocked seconds per sku.
func (s *Store) Stats(ctx context.Context, now time.Time) (andon.Stats, error) {
	st := andon.Stats{Blocked: map[string]float64{}}
	rows, err := s.pool.Query(ctx, `SELECT sku, type, count(*) FROM andons WHERE status = 'open' GROUP BY sku, type ORDER BY sku, type`)
	if err != nil {
		return st, storeErr(err)
	}
	for rows.Next() {
		var c andon.OpenCount
		if err := rows.Scan(&c.SKU, &c.Type, &c.Count); err != nil {
			rows.Close()
			return st, storeErr(err)
		}
		st.Open = append(st.Open, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, storeErr(err)
	}
	rows, err = s.pool.Query(ctx, `SELECT sku, blocked_ms_total + CASE WHEN open_count > 0 THEN greatest(0, $1 - blocked_since_ms) ELSE 0 END FROM skus`, now.UnixMilli())
	if err != nil {
		return st, storeErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var sku string
		var ms int64
		if err := rows.Scan(&sku, &ms); err != nil {
			return st, storeErr(err)
		}
		st.Blocked[sku] = float64(ms) / 1000
	}
	return st, storeErr(rows.Err())
}

// PutState stores doc under name, replacing what was there.
func (s *Store) PutState(ctx context.Context, name string, doc []byte) error {
	_, err := s.pool.Exec(ctx, qPutState, name, string(doc), time.Now().UnixMilli())
	return storeErr(err)
}

const qPutState = `INSERT INTO state (name, doc, updated_ms) VALUES ($1, $2, $3)
	ON CONFLICT (name) DO UPDATE SET doc = excluded.doc, updated_ms = excluded.updated_ms`

// State returns the document stored under name, or nil when there is none.
func (s *Store) State(ctx context.Context, name string) ([]byte, error) {
	var doc string
	switch err := s.pool.QueryRow(ctx, `SELECT doc FROM state WHERE name = $1`, name).Scan(&doc); {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, storeErr(err)
	}
	return []byte(doc), nil
}

// PruneAlerts deletes alert records received before before that no open andon references.
func (s *Store) PruneAlerts(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM alerts WHERE received_ms < $1
		AND (andon_id = '' OR NOT EXISTS (SELECT 1 FROM andons WHERE andons.id = alerts.andon_id AND andons.status = 'open'))`, before.UnixMilli())
	return tag.RowsAffected(), storeErr(err)
}

// Redact returns url without its password, for logs and messages.
func Redact(url string) string {
	u, err := neturl.Parse(url)
	if err != nil {
		return "postgres://(unparseable URL)"
	}
	return u.Redacted()
}
