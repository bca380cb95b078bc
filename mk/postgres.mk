# PostgreSQL: the ledger's PostgreSQL store and the webhook replica tests start throw-away
# PostgreSQL 15 clusters (internal/pgtest) from Debian's server package. `make postgres` installs it
# with apt-get where it is missing (as root, or with passwordless sudo); every test run needs it.
PG_BIN ?= /usr/lib/postgresql/15/bin
export ANDON_PG_BIN := $(PG_BIN)

.PHONY: postgres
## postgres: install Debian's postgresql (the 15 server) when $(PG_BIN) lacks it.
postgres:
	@if [ ! -x $(PG_BIN)/initdb ] || [ ! -x $(PG_BIN)/pg_ctl ]; then \
		echo ">> installing postgresql (Debian) for the PostgreSQL ledger tests"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO="sudo -n"; \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; \
	fi
	@test -x $(PG_BIN)/initdb || { echo "postgresql 15 server not found in $(PG_BIN): install Debian's postgresql-15 or set PG_BIN"; exit 1; }

# The test and bench targets that start clusters.
test-go test-webhook-race bench-webhook: postgres
