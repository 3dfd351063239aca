"""Helpers for the Stripe webhook tests: a live server for the app, Stripe-signed
webhook deliveries, switching localstripe's webhook off again, and an app on
PostgreSQL for races between a webhook and the app's own work.

`LiveServer` serves an app with werkzeug's `make_server` in a thread on
127.0.0.1 and a free port (the idea of tests/e2e/conftest.py, without
importing it), so localstripe can deliver its own signed webhooks to it.

`pg_card_app` is the card_app fixture on PostgreSQL only (with a lock
timeout, so a lock bug fails instead of hanging), and `waiting_for_a_lock`
tells when another transaction is blocked on a row lock, so a test can hold
one transaction open until a concurrent one is provably waiting on it.

`stripe_event` / `signature_header` / `post_event` build events shaped like
Stripe's and sign them with Stripe's scheme (`Stripe-Signature:
t=<unix ts>,v1=<hex hmac_sha256(secret, "<t>.<payload>")>`), for the events
localstripe never sends (refunds, setup intents) and for replays and
out-of-order deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from sqlalchemy import text
from werkzeug.serving import WSGIRequestHandler, make_server

from bulkbuy.extensions import db
from devtools.localstripe_server import TEST_KEY
from tests.conftest import make_app
from tests.stripe_helpers import WEBHOOK_SECRET, app_settings

WEBHOOK_PATH = "/stripe/webhook"


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # errors are still logged
        pass


class LiveServer:
    """The app served by werkzeug in a background thread on 127.0.0.1, a free port.

    Each request runs in its own app context (so its own database session).
    Use as a context manager; leaving it shuts the server down and closes its socket.
    """

    def __init__(self, app):
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True,
                                   request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="bulkbuy-live-server", daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


@contextmanager
def pg_card_app(postgresql_url: str, localstripe: str) -> Iterator:
    """An app on PostgreSQL pointing at `localstripe`, its app context pushed."""
    app = make_app(postgresql_url, **app_settings(localstripe), SQLALCHEMY_ENGINE_OPTIONS={
        "connect_args": {"options": "-c lock_timeout=20s"}})
    ctx = app.app_context()
    ctx.push()
    try:
        yield app
    finally:
        db.session.remove()
        ctx.pop()
        with app.app_context():
            db.engine.dispose()


def race_while_uncommitted(request: Callable[[], object]) -> tuple[bool, list]:
    """Run `request` in another thread while this session's transaction holds its locks
    (flushed, not committed); commit once it waits for them. Returns (whether it waited
    for a lock, [its answer]): without the wait no race was made."""
    answers: list = []
    other = threading.Thread(target=lambda: answers.append(request()))
    other.start()
    try:
        blocked = waiting_for_a_lock(5)
    finally:
        db.session.commit()
        other.join(30)
    return blocked, answers


def waiting_for_a_lock(seconds: float) -> bool:
    """True as soon as some PostgreSQL transaction waits for a lock (False after `seconds`)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with db.engine.connect() as conn:
            if conn.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")):
                return True
        time.sleep(0.02)
    return False


def switch_off_webhooks(base_url: str, name: str) -> None:
    """Make localstripe's webhook `name` send nothing more (it has no way to delete one:
    re-register it for an empty list of event types)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    body = json.dumps({"url": "http://127.0.0.1:9/nowhere", "secret": "whsec_off",
                       "events": []})
    try:
        conn.request("POST", f"/_config/webhooks/{name}", body=body, headers={
            "Authorization": f"Bearer {TEST_KEY}", "Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"switching off localstripe's webhook answered {response.status}")


def stripe_event(event_type: str, obj: dict, *, event_id: str | None = None,
                 created: int | None = None) -> dict:
    """A Stripe event (as Stripe sends it) about `obj`."""
    return {
        "id": event_id or f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2024-06-20",
        "type": event_type,
        "created": created or int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "data": {"object": obj},
    }


def signature_header(payload: bytes, secret: str = WEBHOOK_SECRET,
                     timestamp: int | None = None) -> str:
    """Stripe's signature header for `payload`, made with `secret` at `timestamp`."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + payload
    mac = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def post_event(client, event: dict, *, secret: str = WEBHOOK_SECRET,
               timestamp: int | None = None, header: str | None = None):
    """POST `event` to our webhook with the Flask test client, signed (unless `header`)."""
    payload = json.dumps(event).encode()
    signature = header if header is not None else signature_header(payload, secret, timestamp)
    headers = {"Content-Type": "application/json"}
    if signature:
        headers["Stripe-Signature"] = signature
    return client.post(WEBHOOK_PATH, data=payload, headers=headers)


def payment_intent_object(pi_id: str, *, status: str, amount: int, metadata: dict,
                          customer: str | None = None, last_payment_error: dict | None = None
                          ) -> dict:
    """A PaymentIntent as it appears in an event's `data.object`."""
    return {
        "id": pi_id, "object": "payment_intent", "amount": amount, "amount_received":
        amount if status == "succeeded" else 0, "currency": "gbp", "customer": customer,
        "status": status, "metadata": {k: str(v) for k, v in metadata.items()},
        "last_payment_error": last_payment_error, "livemode": False,
    }


def refund_object(refund_id: str, *, status: str, amount: int, payment_intent: str | None,
                  refund_key: str | None = None) -> dict:
    """A Refund as it appears in an event's `data.object`."""
    return {
        "id": refund_id, "object": "refund", "amount": amount, "currency": "gbp",
        "payment_intent": payment_intent, "status": status,
        "metadata": {"refund_key": refund_key} if refund_key else {},
    }
