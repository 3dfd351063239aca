"""An error Stripe gives for a wrong address is not a declined card.

Pointed at a server without the PaymentIntents endpoint (a wrong STRIPE_API_BASE,
or a fake that lacks it), every charge got a 404 with no error code; the sweep
marked every statement "needs action" and e-mailed each household that its card
did not work, good cards included. Only a card error may reach a resident as a
decline: any other refusal undoes the attempt, stops the sweep (logged at ERROR)
and leaves the statement to be charged once the setting is right.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import current_app
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import OutboxMessage, utcnow
from bulkbuy.services import ServiceError
from bulkbuy.services.payments import pay_now
from bulkbuy.transactions import commit_now
from tests.integration.test_card_charging import (
    attempts_of,
    fresh,
    stripe_payment_intents,
    succeeded_per_household,
    sweep,
)
from tests.integration.test_card_faults import LATER
from tests.stripe_helpers import closed_card_round


class _NoSuchEndpoint(BaseHTTPRequestHandler):
    """Answers every request as Stripe answers an unknown URL: 404, no error code."""

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps({"error": {"type": "invalid_request_error",
                                     "message": f"Unrecognized request URL ({self.path})."}})
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_GET = do_POST = do_DELETE = _answer  # noqa: N815 - http.server's names

    def log_message(self, *args):
        pass


@pytest.fixture
def wrong_address():
    """The base URL of a server that has none of Stripe's endpoints."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoSuchEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def told_their_card_failed() -> list[str]:
    return [m.to_address for m in db.session.scalars(select(OutboxMessage))
            if "Your card did not work" in m.body]


def test_a_404_from_a_wrong_address_tells_no_resident_their_card_failed(
        card_app, localstripe, wrong_address, caplog):
    w, statements = closed_card_round(residents=3)
    statements = [s for s in statements if s.payment_status == "due"]  # some owe nothing
    assert len(statements) >= 2
    right_address = card_app.config["STRIPE_API_BASE"]
    card_app.config["STRIPE_API_BASE"] = wrong_address
    now = utcnow()

    with caplog.at_level(logging.ERROR, logger="bulkbuy"):
        result = sweep(now)

    assert told_their_card_failed() == []
    assert [fresh(s).payment_status for s in statements] == ["due"] * len(statements)
    assert all(a.status == "canceled" for s in statements for a in attempts_of(s))
    assert result.charged == 0 and result.needs_action == 0
    assert any("not a card decline" in r.getMessage() for r in caplog.records)

    card_app.config["STRIPE_API_BASE"] = right_address
    sweep(now + LATER)

    assert [fresh(s).payment_status for s in statements] == ["paid"] * len(statements)
    assert succeeded_per_household(localstripe) == {s.household_id: 1 for s in statements}
    assert told_their_card_failed() == []


def test_pay_now_against_a_wrong_address_says_card_payments_are_not_working(
        card_app, localstripe, wrong_address):
    w, [statement] = closed_card_round(residents=1, units=12)
    card_app.config["STRIPE_API_BASE"] = wrong_address

    with pytest.raises(ServiceError, match="Card payments are not working just now"):
        pay_now.pay_now(statement, config=current_app.config, now=utcnow(),
                        commit=commit_now)

    assert fresh(statement).payment_status == "due"
    assert [a.status for a in attempts_of(statement)] == ["canceled"]
    assert stripe_payment_intents(localstripe) == []
