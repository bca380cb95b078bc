package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/andon-sre/andon/andon"
)

// migrations are applied in order; andon_schema holds how many are applied.
// The columns mirror the SQLite store's (times in Unix milliseconds, maps as
// JSON text) so both backends keep the same receipts byte for byte.
var migrations = []string{
	`CREATE TABLE andons (
		id text PRIMARY KEY,
		type text NOT NULL,
		sku text NOT NULL,
		stage text NOT NULL,
		details text NOT NULL,
		status text NOT NULL,
		origin text NOT NULL,
		opened_ms bigint NOT NULL,
		resolved_ms bigint,
		root_cause text, fix_applied text, prevention_added text, resolver text
	);
	CREATE INDEX andons_sku_status ON andons (sku, status);
	CREATE INDEX andons_status ON andons (status);
	CREATE UNIQUE INDEX andons_open_origin ON andons (origin) WHERE status = 'open' AND origin <> '';
	CREATE TABLE receipts (
		seq bigint PRIMARY KEY,
		andon_id text NOT NULL,
		body text NOT NULL
	);
	CREATE INDEX receipts_andon ON receipts (andon_id);
	-- The gate's proof: receipts by the sku and type in their body.
	CREATE INDEX receipts_sku_type ON receipts (((body::jsonb) ->> 'sku'), ((body::jsonb) ->> 'receipt_type'));
	-- The ledger's identity: one row, written by init.
	CREATE TABLE ledger (
		one int PRIMARY KEY CHECK (one = 1),
		id text NOT NULL,
		created_ms bigint NOT NULL
	);
	-- One row: the chain's last seq and hash. Every transaction that appends
	-- a receipt locks it (SELECT … FOR UPDATE) until it commits, so receipts
	-- written by several replicas at once still form one linear chain.
	CREATE TABLE chain_head (
		id int PRIMARY KEY CHECK (id = 1),
		seq bigint NOT NULL,
		hash text NOT NULL,
		key_id text NOT NULL -- of the last receipt: once signed, every next one must be
	);
	INSERT INTO chain_head VALUES (1, 0, '` + andon.GenesisHash + `', '');
	CREATE TABLE skus (
		sku text PRIMARY KEY,
		open_count int NOT NULL,
		blocked_since_ms bigint NOT NULL,
		blocked_ms_total bigint NOT NULL
	);
	CREATE TABLE alerts (
		key text NOT NULL,
		status text NOT NULL,
		receiver text NOT NULL,
		fingerprint text NOT NULL,
		starts_ms bigint NOT NULL,
		ends_ms bigint NOT NULL,
		labels text NOT NULL,
		annotations text NOT NULL,
		received_ms bigint NOT NULL,
		notification_reason text NOT NULL DEFAULT '', -- why Alertmanager sent the notification that first recorded it
		andon_id text NOT NULL,
		PRIMARY KEY (key, status)
	);
	CREATE INDEX alerts_received ON alerts (received_ms);
	CREATE TABLE actions (
		id bigserial PRIMARY KEY,
		ts_ms bigint NOT NULL,
		alert_key text NOT NULL, alert text NOT NULL, andon_id text NOT NULL,
		kind text NOT NULL, service text NOT NULL, target text NOT NULL,
		result text NOT NULL, reason text NOT NULL, detail text NOT NULL
	);
	CREATE INDEX actions_service ON actions (service, id);
	CREATE TABLE state (
		name text PRIMARY KEY,
		doc text NOT NULL,
		updated_ms bigint NOT NULL
	);
	-- Replicas: every recorded notification waits here for the actuator of
	-- the replica holding the lease, which deletes it once handled. It names
	-- its alerts (in their order); their content is read from alerts then.
	CREATE TABLE outbox (
		id bigserial PRIMARY KEY,
		keys text[] NOT NULL,
		statuses text[] NOT NULL
	);
	-- Ingest's one-statement path calls it to fall back to a transaction
	-- that opens andons (the statement, and all it wrote, is rolled back).
	CREATE FUNCTION andon_must_open() RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		RAISE EXCEPTION USING ERRCODE = 'AN001', MESSAGE = 'an alert asks for an andon that is not open';
	END $$;
	CREATE TABLE leases (
		name text PRIMARY KEY,
		holder text NOT NULL,
		epoch bigint NOT NULL,
		expires_at timestamptz NOT NULL
	);`,
	// Who and what stopped the line (andon.Metadata as JSON, '' for none); details hold any JSON since.
	`ALTER TABLE andons ADD COLUMN metadata text NOT NULL DEFAULT '';`,
}

// migrationLock is the advisory lock key under which replicas starting at
// once migrate, and init, one after the other ("andon" in ASCII).
const migrationLock = 0x616e646f6e

// errExists: init found a ledger in the database already.
var errExists = errors.New("the database holds an andon ledger already")

// setup creates the schema and the ledger's identity (init), or migrates
// the schema of an existing ledger forward (open), under the advisory lock.
// Open refuses a database without a ledger, and init one with a ledger or
// with other tables: it never takes a database over.
func setup(ctx context.Context, pool *pgxpool.Pool, init bool, at time.Time) (andon.Identity, error) {
	var id andon.Identity
	tx, err := pool.Begin(ctx)
	if err != nil {
		return id, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
		return id, err
	}
	rows, err := tx.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`)
	if err != nil {
		return id, err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return id, err
	}
	v := 0
	if slices.Contains(tables, "andon_schema") {
		if err := tx.QueryRow(ctx, `SELECT version FROM andon_schema`).Scan(&v); err != nil {
			return id, fmt.Errorf("%w: andon_schema unreadable: %w", andon.ErrNotLedger, err)
		}
	}
	switch {
	case init && v > 0:
		return id, errExists
	case init && len(tables) > 0:
		return id, fmt.Errorf("%w: the database has tables of another application (%s): init creates a ledger only in an empty database", andon.ErrNotLedger, strings.Join(tables, ", "))
	case !init && v == 0:
		return id, fmt.Errorf("%w: no andon ledger in this database: create one with 'andon init --db URL' (or 'andon webhook --init')", andon.ErrNotLedger)
	case v > len(migrations):
		return id, fmt.Errorf("%w: schema version %d is newer than this binary knows (%d): upgrade andon", andon.ErrNotLedger, v, len(migrations))
	}
	if init {
		if _, err := tx.Exec(ctx, `CREATE TABLE andon_schema (version int NOT NULL); INSERT INTO andon_schema VALUES (0)`); err != nil {
			return id, err
		}
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.Exec(ctx, migrations[i]); err != nil {
			return id, fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE andon_schema SET version = $1`, len(migrations)); err != nil {
		return id, err
	}
	if init {
		at = at.UTC().Truncate(time.Millisecond)
		if _, err := tx.Exec(ctx, `INSERT INTO ledger (one, id, created_ms) VALUES (1, $1, $2)`, andon.NewLedgerID(at), at.UnixMilli()); err != nil {
			return id, err
		}
	}
	var created int64
	if err := tx.QueryRow(ctx, `SELECT id, created_ms FROM ledger`).Scan(&id.ID, &created); err != nil {
		return id, fmt.Errorf("%w: an andon ledger without its identity row (%w)", andon.ErrNotLedger, err)
	}
	id.CreatedAt, id.Schema = time.UnixMilli(created).UTC(), len(migrations)
	return id, tx.Commit(ctx)
}
