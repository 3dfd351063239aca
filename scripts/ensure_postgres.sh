#!/usr/bin/env bash
# Prints a PostgreSQL URL for the test database, starting the server and creating
# the database when needed (docs/operations.md). Prints nothing and exits 1 when
# PostgreSQL cannot be had. Messages go to stderr.
set -u
DB=${TEST_DB_NAME:-bulkbuy_test}
say() { echo "ensure_postgres: $*" >&2; }

if ! command -v pg_isready >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing PostgreSQL from Debian's packages"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2 || true
  fi
fi
command -v pg_isready >/dev/null 2>&1 || { say "PostgreSQL is not installed"; exit 1; }

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  say "starting PostgreSQL"
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 2>&1 \
      || pg_ctlcluster "$version" main start >&2 2>&1 || true
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -q -h 127.0.0.1 -p 5432 || { say "PostgreSQL did not start"; exit 1; }

# Trust auth for postgres (machines that start it before work begins) ...
if psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1" >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname='$DB'" \
    | grep -q 1 || createdb -h 127.0.0.1 -U postgres "$DB" >&2 || exit 1
  echo "postgresql+psycopg://postgres@127.0.0.1:5432/$DB"
  exit 0
fi
# ... or a password role made through the postgres OS user.
if [ "$(id -u)" = 0 ]; then
  su postgres -c "psql -tAc \"select 1 from pg_roles where rolname='bulkbuy'\"" | grep -q 1 \
    || su postgres -c "psql -c \"CREATE ROLE bulkbuy LOGIN PASSWORD 'bulkbuy'\"" >&2
  su postgres -c "psql -tAc \"select 1 from pg_database where datname='$DB'\"" | grep -q 1 \
    || su postgres -c "createdb -O bulkbuy $DB" >&2
  echo "postgresql+psycopg://bulkbuy:bulkbuy@127.0.0.1:5432/$DB"
  exit 0
fi
say "cannot log in to PostgreSQL to create $DB"
exit 1
