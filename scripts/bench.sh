#!/usr/bin/env bash
# Benchmarks the round page against a bare Flask hello-world (bench/round_page.py):
# first on SQLite, then on PostgreSQL (a database of its own, bulkbuy_bench) when it
# can be had. Uses wrk when installed (installing it with apt-get when root), else
# bench/round_page.py's Python load loop. Each run ends with a line
# `round_page_rps=... hello_rps=... ratio=...`.
set -u
PYTHON=${PYTHON:-.venv/bin/python}
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bench: installing wrk" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >&2 \
      || echo "bench: could not install wrk; using the Python load loop" >&2
  else
    echo "bench: wrk not found; using the Python load loop" >&2
  fi
fi

status=0
echo "== bench: SQLite"
"$PYTHON" bench/round_page.py "$@" || status=1

echo "== bench: PostgreSQL"
if url=$(TEST_DB_NAME=bulkbuy_bench bash scripts/ensure_postgres.sh); then
  "$PYTHON" bench/round_page.py --postgres "$url" "$@" || status=1
else
  echo "bench: PostgreSQL could not be had; skipped" >&2
fi

# The drop-in tablet's household list and pledge screen (bench/tablet.py), the same
# way: SQLite, then PostgreSQL when it can be had. Each run ends with the lines
# `tablet_list_bytes=...`, `tablet_order_rps=...` and `tablet_list_rps=... ratio=...`.
echo "== bench: tablet, SQLite"
"$PYTHON" bench/tablet.py "$@" || status=1
if url=$(TEST_DB_NAME=bulkbuy_bench bash scripts/ensure_postgres.sh); then
  echo "== bench: tablet, PostgreSQL"
  "$PYTHON" bench/tablet.py --postgres "$url" "$@" || status=1
fi

# The card charge sweep against a bare Stripe SDK loop, both on localstripe (bench/charge.py),
# SQLite only; it ends with `charges_per_s=... bare_sdk_per_s=... ratio=... peak_rate=...`.
echo "== bench: card charges (localstripe)"
"$PYTHON" bench/charge.py || status=1

# Delivery day (bench/delivery.py): a round of 2,000 households received 20% short, its
# statements restated and the refunds swept against localstripe beside a bare SDK loop;
# SQLite, then PostgreSQL (its own database, bulkbuy_bench_delivery) when it can be had.
# Each run ends with `database=... reallocate_s=... refunds_per_s=... bare_sdk_per_s=...
# ratio=... peak_rate=... rate=... card_households=...`.
echo "== bench: delivery day, SQLite"
"$PYTHON" bench/delivery.py || status=1
if url=$(TEST_DB_NAME=bulkbuy_bench_delivery bash scripts/ensure_postgres.sh); then
  echo "== bench: delivery day, PostgreSQL"
  "$PYTHON" bench/delivery.py --postgres "$url" || status=1
fi
# My orders at 3,000, 5,000 and 30,000 lines (bench/my_orders.py), beside the old way in
# the same run; SQLite, then PostgreSQL (bulkbuy_bench_my_orders). Each run ends with
# `database=... lines=5000 my_orders_mean_ms=... ratio_30000_to_3000=...`.
echo "== bench: My orders, SQLite"
"$PYTHON" bench/my_orders.py || status=1
if url=$(TEST_DB_NAME=bulkbuy_bench_my_orders bash scripts/ensure_postgres.sh); then
  echo "== bench: My orders, PostgreSQL"
  "$PYTHON" bench/my_orders.py --postgres "$url" --wipe || status=1
fi

# What a sign-in or a tablet PIN costs to check (bench/hashing.py), against Werkzeug's
# default scrypt in the same run; ends with `hash_ms=... check_ms=... ratio=...`.
echo "== bench: password hashing"
"$PYTHON" bench/hashing.py --no-owasp || status=1

# The production layout under 200 people at once (bench/load.py): gunicorn with 2 sync
# workers, the scheduler, PostgreSQL (bulkbuy_bench_load) and a Redis of its own on
# loopback, locust headless for 3 minutes, then hello-world under the same users (about
# 7 minutes in all). PostgreSQL only: it is the production layout. Ends with `users=200
# pages_per_s=... p95_ms=... errors=... round_page_hit_rate=... knee_pages_per_s=...
# worker_rss_start_mib=... worker_rss_end_mib=...`. BENCH_LOAD=0 leaves it out.
if [ "${BENCH_LOAD:-1}" != 0 ]; then
  echo "== bench: under load (PostgreSQL)"
  "$PYTHON" bench/load.py || status=1
fi
exit $status
