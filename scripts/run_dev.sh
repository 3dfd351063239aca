#!/usr/bin/env bash
# make run: migrate, load the demo once, and serve on http://127.0.0.1:5000 with the
# scheduler inside. Unless STRIPE_SECRET_KEY is set, localstripe (a fake Stripe, on
# 127.0.0.1:8420, its data kept in instance/localstripe.pickle) is started first and
# the app pointed at it, so the card flow works offline. Test card: 4242 4242 4242 4242.
set -eu
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
export BULKBUY_ENV=${BULKBUY_ENV:-development}
PORT=${PORT:-5000}
LOCALSTRIPE_PORT=${LOCALSTRIPE_PORT:-8420}

if [ -z "${STRIPE_SECRET_KEY:-}" ]; then
  mkdir -p instance
  "$BIN/python" -m devtools.localstripe_server --port "$LOCALSTRIPE_PORT" \
    --state instance/localstripe.pickle \
    --webhook "http://127.0.0.1:$PORT/stripe/webhook" --secret whsec_bulkbuy_demo &
  localstripe_pid=$!
  trap 'kill "$localstripe_pid" 2>/dev/null || true' EXIT INT TERM
  export STRIPE_SECRET_KEY=sk_test_bulkbuy_localstripe
  export STRIPE_PUBLISHABLE_KEY=pk_test_bulkbuy_localstripe
  export STRIPE_WEBHOOK_SECRET=whsec_bulkbuy_demo
  export STRIPE_API_BASE="http://127.0.0.1:$LOCALSTRIPE_PORT"
  export STRIPE_JS_URL="http://127.0.0.1:$LOCALSTRIPE_PORT/js.stripe.com/v3/"
  echo "make run: localstripe (fake Stripe) on $STRIPE_API_BASE; test card 4242 4242 4242 4242"
fi

"$BIN/flask" --app bulkbuy db upgrade
"$BIN/flask" --app bulkbuy seed-demo
"$BIN/flask" --app bulkbuy dev-server --host 127.0.0.1 --port "$PORT"
