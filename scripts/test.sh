#!/usr/bin/env bash
# Runs the whole test suite on SQLite and, when it can be had, PostgreSQL.
# In CI (CI=true) a missing PostgreSQL fails the run; elsewhere it is said loudly.
set -u
PYTHON=${PYTHON:-.venv/bin/python}
cd "$(dirname "$0")/.."

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  if url=$(bash scripts/ensure_postgres.sh); then
    export TEST_DATABASE_URL="$url"
  elif [ "${CI:-}" = "true" ]; then
    echo "make test: PostgreSQL is needed in CI and could not be started." >&2
    exit 1
  else
    echo "" >&2
    echo "!!! make test: PostgreSQL could not be started: the PostgreSQL half of the" >&2
    echo "!!! suite will be SKIPPED. Set TEST_DATABASE_URL to run it." >&2
    echo "" >&2
  fi
fi
echo "make test: PostgreSQL at ${TEST_DATABASE_URL:-(none)}"

# The production layout's test needs Redis (its rate-limit store).
if [ -z "${TEST_REDIS_URL:-}" ]; then
  if url=$(bash scripts/ensure_redis.sh); then
    export TEST_REDIS_URL="$url"
  elif [ "${CI:-}" = "true" ]; then
    echo "make test: Redis is needed in CI and could not be started." >&2
    exit 1
  else
    echo "!!! make test: Redis could not be started: the production layout test is SKIPPED." >&2
  fi
fi

# Browser tests need Debian's Chromium (never a downloaded browser).
if ! bash scripts/ensure_chromium.sh >/dev/null; then
  if [ "${CI:-}" = "true" ]; then
    echo "make test: Chromium is needed in CI and could not be installed." >&2
    exit 1
  fi
  echo "!!! make test: Chromium is missing: the browser tests in tests/e2e will be SKIPPED." >&2
fi
# Two pytest-xdist workers (TEST_WORKERS; 0 runs in one process): each has its own
# PostgreSQL database (TEST_DATABASE_URL's name + "_gw0", made by tests/conftest.py).
"$PYTHON" -m pytest -n "${TEST_WORKERS:-2}" --dist worksteal "$@"
status=$?
if [ $status -eq 5 ]; then
  echo "make test: no tests were collected" >&2
fi
exit $status
