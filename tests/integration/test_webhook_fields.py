"""A signed webhook must carry the fields we rely on (before, a signed
`payment_intent.succeeded` whose object had no id matched the attempt still waiting
for its PaymentIntent id, `IS NULL`, and paid it; an event with no object at all
was answered 200), and a signature dated ahead is refused like a stale one.
"""

from __future__ import annotations

import time

import pytest

from bulkbuy.adapters import stripe_gateway as gateway
from bulkbuy.extensions import db
from bulkbuy.models import utcnow
from bulkbuy.services.payments import stripe_events
from tests.integration.helpers.live_server import post_event, race_while_uncommitted, stripe_event
from tests.integration.test_stripe_webhooks import (
    audits,
    event_rows,
    owed_round,
    pending_attempt,
    pi_event,
    state_of,
)
from tests.integration.test_stripe_webhooks import (
    pg_app as pg_app,  # noqa: F401 - the fixture
)


def without_object_id(event: dict) -> dict:
    event["data"]["object"].pop("id")
    return event


@pytest.mark.parametrize("broken", [
    without_object_id,
    lambda e: {**e, "data": {"object": {**e["data"]["object"], "id": ""}}},
    lambda e: {**e, "data": {}},
    lambda e: {k: v for k, v in e.items() if k != "data"},
    lambda e: {**e, "data": {"object": "pi_as_a_string"}},
])
def test_a_signed_event_without_the_fields_we_rely_on_is_refused_and_pays_nothing(
        card_app, broken):
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    assert payment.payment_intent_id is None  # in flight: the id is not known yet
    before = state_of(statement, payment)
    event = broken(pi_event("payment_intent.succeeded", payment, status="succeeded"))

    response = post_event(card_app.test_client(), event)

    assert response.status_code == 400
    assert state_of(statement, payment) == before
    assert statement.payment_status == "charging" and payment.status == "pending"
    assert event_rows() == [] and audits("card.paid") == []


def test_a_signature_dated_in_the_future_is_refused(card_app):
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    before = state_of(statement, payment)
    event = pi_event("payment_intent.succeeded", payment, status="succeeded")
    client = card_app.test_client()

    far = post_event(client, event, timestamp=int(time.time()) + 3600)
    just_over = post_event(client, event, timestamp=int(time.time()) + 320)

    assert (far.status_code, just_over.status_code) == (400, 400)
    assert state_of(statement, payment) == before and event_rows() == []


def test_a_signature_a_little_ahead_of_our_clock_is_accepted(card_app):
    """Clocks differ by seconds: within the tolerance either way is fine."""
    event = stripe_event("customer.created", {"id": "cus_x", "object": "customer"})
    response = post_event(card_app.test_client(), event, timestamp=int(time.time()) + 60)
    assert response.status_code == 200


@pytest.mark.postgres_only
def test_the_same_event_delivered_twice_at_once_is_applied_once(pg_app):
    """The first delivery has recorded the event's id and applied it, not yet
    committed; the second waits on the id, then answers "duplicate" and changes
    nothing (no service commits in between: the request's transaction does)."""
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    event = pi_event("payment_intent.succeeded", payment, status="succeeded")
    first = stripe_events.handle_event(gateway.WebhookEvent(
        id=event["id"], type=event["type"], object=event["data"]["object"]), utcnow())
    db.session.flush()
    assert first == "paid"

    blocked, responses = race_while_uncommitted(
        lambda: post_event(pg_app.test_client(), event))

    assert blocked, "the second delivery never waited for the first (no race made)"
    assert [(r.status_code, r.get_json()["outcome"]) for r in responses] == [
        (200, "duplicate")]
    db.session.expire_all()
    assert (statement.payment_status, statement.paid_pence) == ("paid", statement.total_pence)
    assert len(audits("card.paid")) == 1 and len(event_rows()) == 1
