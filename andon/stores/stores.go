// Package stores opens the andon ledger's store named by a `db:` setting or
// a --db flag: a postgres:// or postgresql:// URL opens PostgreSQL
// (andon/postgres, for several replicas), anything else is a SQLite file.
package stores

import (
	"context"
	"fmt"
	"os"

	"github.com/andon-sre/andon/andon"
	"github.com/andon-sre/andon/andon/postgres"
)

// Open opens the store at db. With create, a missing SQLite file or an empty
// PostgreSQL database becomes a new ledger; without (the read-only verbs),
// it is an error, so a typo never reads as an empty ledger whose gate proceeds.
func Open(ctx context.Context, db string, create bool) (andon.Store, error) {
	if postgres.IsURL(db) {
		return postgres.Open(ctx, db, create)
	}
	if !create {
		if _, err := os.Stat(db); err != nil {
			return nil, fmt.Errorf("%w: no ledger at --db %s (%w): pass the file 'andon webhook' or 'andon trigger' writes, a postgres:// URL, or --url", andon.ErrUnavailable, db, err)
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
