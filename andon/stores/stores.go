// Package stores opens the andon ledger's store named by a `db:` setting or
// a --db flag: a postgres:// or postgresql:// URL opens PostgreSQL
// (andon/postgres, for several replicas), anything else is a SQLite file.
package stores

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/andon-sre/andon/andon"
	"github.com/andon-sre/andon/andon/postgres"
)

// Init creates a new ledger at db ('andon init'): a SQLite file that must
// not exist, or an empty PostgreSQL database.
func Init(ctx context.Context, db string, at time.Time) (andon.Identity, error) {
	if postgres.IsURL(db) {
		return postgres.Init(ctx, db, at)
	}
	return andon.InitSQLite(db, at)
}

// Open opens the ledger at db. It creates nothing unless create is set
// ('andon webhook --init'): then a missing SQLite file or an empty
// PostgreSQL database becomes a new ledger first, and an existing ledger
// is opened as it is (replicas started with --init at once create one).
func Open(ctx context.Context, db string, create bool) (andon.Store, error) {
	if postgres.IsURL(db) {
		if create {
			if _, err := postgres.Init(ctx, db, time.Now()); err != nil && !errors.Is(err, postgres.ErrExists) {
				return nil, err
			}
		}
		return postgres.Open(ctx, db)
	}
	if create {
		if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
			if _, err := andon.InitSQLite(db, time.Now()); err != nil {
				return nil, err
			}
		}
	}
	return andon.OpenSQLite(db)
}

// Describe names db for logs without its password.
func Describe(db string) string {
	if postgres.IsURL(db) {
		return postgres.Redact(db)
	}
	return db
}
