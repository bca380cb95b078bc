package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
	-- One row: the chain's last seq and hash. Every transaction that appends
	-- a receipt locks it (SELECT … FOR UPDATE) until it commits, so receipts
	-- written by several replicas at once still form one linear chain.
	CREATE TABLE chain_head (
		id int PRIMARY KEY CHECK (id = 1),
		seq bigint NOT NULL,
		hash text NOT NULL
	);
	INSERT INTO chain_head VALUES (1, 0, '` + andon.GenesisHash + `');
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
}

// migrationLock is the advisory lock key under which replicas starting at
// once migrate one after the other ("andon" in ASCII).
const migrationLock = 0x616e646f6e

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS andon_schema (version int NOT NULL)`); err != nil {
		return err
	}
	var v int
	switch err := tx.QueryRow(ctx, `SELECT version FROM andon_schema`).Scan(&v); {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := tx.Exec(ctx, `INSERT INTO andon_schema VALUES (0)`); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this binary knows (%d): upgrade andon", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.Exec(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE andon_schema SET version = $1`, len(migrations)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// schemaVersion is the applied migrations, or 0 when the database holds no ledger.
func schemaVersion(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var v int
	err := pool.QueryRow(ctx, `SELECT version FROM andon_schema`).Scan(&v)
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
		return 0, nil
	}
	return v, err
}
