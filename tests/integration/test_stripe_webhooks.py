"""POST /stripe/webhook: Stripe's events are the source of truth for card outcomes.

The rules (docs/payments.md "Sources of truth"): the signature is checked on the raw body
(forged, stale, missing or made with another secret: 400 and nothing
changes); each event id is acted on once; events may arrive out of order and
an older one never undoes a newer outcome; an event about a PaymentIntent we
never recorded is matched by its metadata before it is set aside; money a
card took beyond what is owed is refunded.

One test lets localstripe deliver its own signed webhook to the app served
live; the others post events shaped like Stripe's, signed here with Stripe's
scheme, through the Flask test client (localstripe sends no setup intent or
refund webhooks, and cannot be made to send replays or stale events).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bulkbuy import sweeps
from bulkbuy.adapters import stripe_gateway as gateway
from bulkbuy.extensions import db
from bulkbuy.models import (
    AuditEntry,
    CardPayment,
    CardRefund,
    OutboxMessage,
    SavedCard,
    Statement,
    StripeEvent,
    utcnow,
)
from bulkbuy.services import ServiceError, closing, pledges
from bulkbuy.services.payments import attempts, charge_sweep
from bulkbuy.services.payments import cash as cash_service
from bulkbuy.services.payments import saved_cards as cards
from devtools.localstripe_server import register_webhook
from tests import factories, stripe_helpers
from tests.integration.helpers.live_server import (
    LiveServer,
    payment_intent_object,
    pg_card_app,
    post_event,
    race_while_uncommitted,
    signature_header,
    stripe_event,
    switch_off_webhooks,
)
from tests.stripe_helpers import WEBHOOK_SECRET, closed_card_round, save_card

PI = "pi_webhooktest0001"
#: Our own webhook at localstripe (switched off again after the test).
HOOK = "bulkbuy-webhook-tests"


# --- helpers ----------------------------------------------------------------------------------


def one_card_round():
    """One household with a card saved at localstripe and consent, owing £10.00 for a
    closed round (for tests where Stripe really charges the card)."""
    w, (statement,) = closed_card_round(residents=1, units=12)
    assert (statement.total_pence, statement.payment_status) == (1000, "due")
    return w, statement


def owed_round(residents: int = 1):
    """Households that agreed to pay by card owing £10.00 (one) or £5.00 each (two) for a
    closed round; no card at Stripe (the events here are posted by the test)."""
    w = factories.world(residents=residents, products=(("Tinned tomatoes", 12, 1000),))
    now = utcnow()
    for household, person in zip(w.households, w.residents, strict=True):
        pledges.set_pledge(w.round.items[0], household, 12 // residents, 0, entered_by=person,
                           now=now, max_units=999)
        cards.give_consent(w.round, household, user=person, now=now)
        db.session.commit()
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    statements = [db.session.scalar(select(Statement).where(
        Statement.round_id == w.round.id, Statement.household_id == h.id))
        for h in w.households]
    assert [(s.total_pence, s.payment_status) for s in statements] == [
        (1000 // residents, "due")] * residents
    return w, statements


def pending_attempt(statement: Statement) -> CardPayment:
    """The sweep's first step for a statement: claim it and record attempt 1 (committed)."""
    payment = charge_sweep.start_attempt(statement.id, utcnow())
    assert payment is not None
    db.session.commit()
    return payment


def pi_event(event_type: str, payment: CardPayment, *, status: str, pi_id: str = PI,
             event_id: str | None = None, metadata: dict | None = None,
             last_payment_error: dict | None = None) -> dict:
    obj = payment_intent_object(
        pi_id, status=status, amount=payment.amount_pence,
        metadata=payment.metadata_for_stripe if metadata is None else metadata,
        last_payment_error=last_payment_error)
    return stripe_event(event_type, obj, event_id=event_id)


def fresh(obj):
    db.session.refresh(obj)
    return obj


def event_rows() -> list[StripeEvent]:
    return list(db.session.scalars(select(StripeEvent).order_by(StripeEvent.received_at)))


def audits(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _outbox_keys() -> list[str]:
    return sorted(db.session.scalars(select(OutboxMessage.key)))


def state_of(statement: Statement, payment: CardPayment) -> tuple:
    db.session.expire_all()
    return (statement.payment_status, statement.paid_pence, statement.needs_action_reason,
            payment.status, payment.payment_intent_id, payment.credited_pence,
            payment.refunded_pence)


# --- delivered by localstripe itself ----------------------------------------------------------


def test_localstripe_webhook_settles_an_attempt_whose_answer_the_app_never_saw(
        card_app, localstripe):
    w, statement = one_card_round()
    statement_id = statement.id
    with LiveServer(card_app) as server:
        try:
            register_webhook(localstripe, server.url + "/stripe/webhook", WEBHOOK_SECRET,
                             name=HOOK)
            registered = time.monotonic()
            payment = pending_attempt(statement)
            payment_id, amount, key = payment.id, payment.amount_pence, payment.idempotency_key
            metadata = payment.metadata_for_stripe
            card = db.session.scalar(select(SavedCard).where(
                SavedCard.household_id == statement.household_id))
            customer_id, pm_id = card.customer_id, card.payment_method_id
            db.session.commit()
            db.session.remove()  # the webhook's request writes these rows: hold no locks
            # Events localstripe made in earlier tests reach a new webhook up to 1 s after
            # they were made; let those go by before Stripe takes this payment.
            time.sleep(max(0.0, 1.1 - (time.monotonic() - registered)))

            # Stripe takes the money; the answer is dropped (the app crashed, say).
            outcome = gateway.charge_off_session(
                card_app.config, customer_id=customer_id, payment_method_id=pm_id,
                amount_pence=amount, idempotency_key=key, metadata=metadata)
            assert outcome.kind == "succeeded"

            deadline = time.monotonic() + 10
            while True:
                paid = db.session.get(Statement, statement_id)
                if paid.payment_status == "paid" or time.monotonic() > deadline:
                    break
                db.session.remove()
                time.sleep(0.1)
        finally:
            switch_off_webhooks(localstripe, name=HOOK)

    statement = db.session.get(Statement, statement_id)
    payment = db.session.get(CardPayment, payment_id)
    assert (statement.payment_status, statement.paid_pence) == ("paid", statement.total_pence)
    assert (payment.status, payment.payment_intent_id, payment.credited_pence) == (
        "succeeded", outcome.payment_intent_id, amount)
    # Late events of earlier tests on a busy machine may also arrive: those are not ours.
    events = db.session.execute(select(StripeEvent.id, StripeEvent.outcome).where(
        StripeEvent.type == "payment_intent.succeeded")).all()
    [paid_by] = [event_id for event_id, outcome in events if outcome == "paid"]
    assert paid_by.startswith("evt_")
    assert {outcome for _, outcome in events} <= {"paid", "unknown payment"}
    assert len(audits("card.paid")) == 1


# --- signatures ---------------------------------------------------------------------------------


def _forged_headers(payload: bytes) -> dict[str, str | None]:
    good = signature_header(payload)
    t, mac = good.split(",")
    flipped = mac[:-1] + ("0" if mac[-1] != "0" else "1")
    return {
        "forged": f"{t},{flipped}",
        "stale": signature_header(payload, timestamp=int(time.time()) - 301),
        "missing": "",
        "another secret": signature_header(payload, secret="whsec_somebody_else"),
        "garbage": "not a signature",
    }


def test_an_event_that_is_not_signed_by_stripe_now_is_refused_and_changes_nothing(card_app):
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    event = pi_event("payment_intent.succeeded", payment, status="succeeded")
    before = state_of(statement, payment)
    client = card_app.test_client()

    answers = {kind: post_event(client, event, header=header).status_code
               for kind, header in _forged_headers(json.dumps(event).encode()).items()}

    assert answers == {"forged": 400, "stale": 400, "missing": 400, "another secret": 400,
                       "garbage": 400}
    assert state_of(statement, payment) == before
    assert statement.payment_status == "charging" and payment.status == "pending"
    assert event_rows() == []
    assert audits("card.paid") == []


def test_the_same_event_signed_properly_is_accepted(card_app):
    """The counterpart of the refusals above: only the signature made them fail."""
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    event = pi_event("payment_intent.succeeded", payment, status="succeeded")

    response = post_event(card_app.test_client(), event, timestamp=int(time.time()) - 290)

    assert response.status_code == 200
    assert fresh(statement).payment_status == "paid"


def test_a_signed_body_that_is_not_an_event_is_refused(card_app):
    payload = b"this is not json"
    response = card_app.test_client().post("/stripe/webhook", data=payload, headers={
        "Stripe-Signature": signature_header(payload), "Content-Type": "application/json"})
    assert response.status_code == 400
    assert event_rows() == []


def test_get_is_not_allowed(card_app):
    assert card_app.test_client().get("/stripe/webhook").status_code == 405


def test_without_a_webhook_secret_every_event_is_refused(card_app):
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    card_app.config["STRIPE_WEBHOOK_SECRET"] = None
    event = pi_event("payment_intent.succeeded", payment, status="succeeded")
    # Even one signed with the empty secret.
    response = post_event(card_app.test_client(), event, secret="")

    assert response.status_code == 400
    assert fresh(statement).payment_status == "charging"
    assert event_rows() == []


# --- once per event id ------------------------------------------------------------------------


def test_the_same_event_delivered_twice_has_one_effect(card_app):
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    event = pi_event("payment_intent.succeeded", payment, status="succeeded")
    client = card_app.test_client()

    first = post_event(client, event)
    second = post_event(client, event)

    assert (first.status_code, first.get_json()["outcome"]) == (200, "paid")
    assert (second.status_code, second.get_json()["outcome"]) == (200, "duplicate")
    assert (fresh(statement).paid_pence, statement.payment_status) == (
        statement.total_pence, "paid")
    assert fresh(payment).credited_pence == payment.amount_pence
    assert len(audits("card.paid")) == 1
    assert [(e.id, e.outcome) for e in event_rows()] == [(event["id"], "paid")]


def test_a_second_success_event_for_the_same_payment_credits_nothing_more(card_app):
    """Stripe may send two events (two ids) about one PaymentIntent."""
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    client = card_app.test_client()

    post_event(client, pi_event("payment_intent.succeeded", payment, status="succeeded"))
    again = post_event(client, pi_event("payment_intent.succeeded", payment, status="succeeded"))

    assert again.get_json()["outcome"] == "no change"
    assert fresh(statement).paid_pence == statement.total_pence
    assert len(audits("card.paid")) == 1
    assert db.session.scalar(select(func.count(CardRefund.id))) == 0


# --- out of order -----------------------------------------------------------------------------


@pytest.mark.parametrize("late", [
    ("payment_intent.payment_failed", "requires_payment_method"),
    ("payment_intent.requires_action", "requires_action"),
    ("payment_intent.canceled", "canceled"),
])
def test_an_older_event_after_success_changes_nothing(card_app, late):
    late_type, late_status = late
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    client = card_app.test_client()
    post_event(client, pi_event("payment_intent.succeeded", payment, status="succeeded"))
    after_success = state_of(statement, payment)
    outbox_before = _outbox_keys()

    response = post_event(client, pi_event(
        late_type, payment, status=late_status,
        last_payment_error={"code": "card_declined", "decline_code": "generic_decline"}))

    assert response.status_code == 200
    assert state_of(statement, payment) == after_success
    assert statement.payment_status == "paid" and payment.status == "succeeded"
    assert payment.error_code is None
    assert _outbox_keys() == outbox_before  # nobody is asked to pay again


@pytest.mark.parametrize("late", [
    ("payment_intent.requires_action", "requires_action"),
    ("payment_intent.payment_failed", "requires_payment_method"),
])
def test_an_older_event_after_a_final_no_changes_nothing(card_app, late):
    """3-D Secure failed (payment_failed after requires_action), or the PaymentIntent was
    cancelled: an older "confirm with your bank" or decline arriving late must not offer
    a confirm button for a payment that can no longer be confirmed, nor e-mail again."""
    late_type, late_status = late
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    client = card_app.test_client()
    post_event(client, pi_event("payment_intent.requires_action", payment,
                                status="requires_action"))
    final = ("payment_intent.payment_failed" if late_type == "payment_intent.requires_action"
             else "payment_intent.canceled")
    post_event(client, pi_event(final, payment, status=(
        "requires_payment_method" if final.endswith("failed") else "canceled"),
        last_payment_error={"code": "card_declined", "decline_code": "generic_decline"}))
    settled = state_of(statement, payment)
    outbox_before = _outbox_keys()

    response = post_event(client, pi_event(late_type, payment, status=late_status))

    assert response.status_code == 200 and response.get_json()["outcome"] == "no change"
    assert state_of(statement, payment) == settled
    assert fresh(payment).status == ("declined" if final.endswith("failed") else "canceled")
    assert _outbox_keys() == outbox_before


def test_success_after_requires_action_pays_the_statement(card_app):
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    client = card_app.test_client()

    post_event(client, pi_event("payment_intent.requires_action", payment,
                                status="requires_action"))
    assert (fresh(statement).payment_status, statement.needs_action_reason) == (
        "needs_action", "authentication")
    assert fresh(payment).status == "requires_action"

    response = post_event(client, pi_event("payment_intent.succeeded", payment,
                                           status="succeeded"))

    assert response.get_json()["outcome"] == "paid"
    assert (fresh(statement).payment_status, statement.paid_pence,
            statement.needs_action_reason) == ("paid", statement.total_pence, None)
    assert (fresh(payment).status, payment.credited_pence) == ("succeeded", payment.amount_pence)


def test_a_failed_payment_event_marks_the_statement_needs_action_with_the_decline_code(card_app):
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)

    response = post_event(card_app.test_client(), pi_event(
        "payment_intent.payment_failed", payment, status="requires_payment_method",
        last_payment_error={"type": "card_error", "code": "card_declined",
                            "decline_code": "insufficient_funds"}))

    assert response.get_json()["outcome"] == "declined"
    assert (fresh(statement).payment_status, statement.needs_action_reason) == (
        "needs_action", "declined")
    assert (fresh(payment).status, payment.error_code, payment.payment_intent_id) == (
        "declined", "insufficient_funds", PI)


# --- payments that are not ours, or whose id we never recorded ---------------------------------


def test_an_event_about_a_payment_that_is_not_ours_is_logged_and_changes_nothing(
        card_app, caplog):
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    before = state_of(statement, payment)
    event = pi_event("payment_intent.succeeded", payment, status="succeeded",
                     pi_id="pi_somebodyelse", metadata={"order": "elsewhere-42"})

    with caplog.at_level(logging.WARNING, logger="bulkbuy.services.payments.stripe_events"):
        response = post_event(card_app.test_client(), event)

    assert (response.status_code, response.get_json()["outcome"]) == (200, "unknown payment")
    assert state_of(statement, payment) == before
    assert any("pi_somebodyelse" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)
    assert [(e.id, e.outcome) for e in event_rows()] == [(event["id"], "unknown payment")]


def test_metadata_from_another_database_with_the_same_ids_is_not_ours(card_app):
    """A reset demo (or a second copy) sharing the Stripe account repeats round, household
    and attempt numbers; only the attempt's own idempotency key makes the PaymentIntent ours."""
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    before = state_of(statement, payment)
    metadata = {**payment.metadata_for_stripe, "attempt_key": "bulkbuy-charge-r1-h1-a1-0ther"}

    response = post_event(card_app.test_client(), pi_event(
        "payment_intent.succeeded", payment, status="succeeded", metadata=metadata))

    assert response.get_json()["outcome"] == "unknown payment"
    assert state_of(statement, payment) == before


def test_metadata_naming_another_attempt_number_is_not_ours(card_app):
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    before = state_of(statement, payment)
    metadata = {**payment.metadata_for_stripe, "attempt": "2"}

    response = post_event(card_app.test_client(), pi_event(
        "payment_intent.succeeded", payment, status="succeeded", metadata=metadata))

    assert response.get_json()["outcome"] == "unknown payment"
    assert state_of(statement, payment) == before


def test_an_event_whose_payment_intent_we_never_recorded_is_matched_by_its_metadata(card_app):
    w, (statement, other) = owed_round(residents=2)
    payment = pending_attempt(statement)
    assert payment.payment_intent_id is None
    other_before = (other.payment_status, other.paid_pence)

    response = post_event(card_app.test_client(), pi_event(
        "payment_intent.succeeded", payment, status="succeeded", pi_id="pi_fromthecrash"))

    assert response.get_json()["outcome"] == "paid"
    assert (fresh(payment).payment_intent_id, payment.status) == ("pi_fromthecrash", "succeeded")
    assert (fresh(statement).payment_status, statement.paid_pence) == (
        "paid", statement.total_pence)
    assert (fresh(other).payment_status, other.paid_pence) == other_before


def test_a_payment_intent_made_before_attempt_keys_existed_is_matched_by_its_three_ids(
        card_app):
    """PaymentIntents made by earlier versions carry round, household and attempt but no
    attempt_key: they are still ours (matched by the three ids), not 'unknown'."""
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    older = {k: v for k, v in payment.metadata_for_stripe.items() if k != "attempt_key"}

    response = post_event(card_app.test_client(), pi_event(
        "payment_intent.succeeded", payment, status="succeeded", pi_id="pi_olderversion",
        metadata=older))

    assert response.get_json()["outcome"] == "paid"
    assert (fresh(payment).payment_intent_id, payment.status) == ("pi_olderversion",
                                                                  "succeeded")


# --- money beyond what is owed ----------------------------------------------------------------


def _needs_action_then_cash(statement: Statement, payment: CardPayment, w, client,
                            cash_pence: int) -> None:
    """The card needs the resident; meanwhile a worker takes cash at a drop-in."""
    post_event(client, pi_event("payment_intent.requires_action", payment,
                                status="requires_action"))
    cash_service.record_cash(fresh(statement), cash_pence, f"R{cash_pence}", actor=w.worker,
                         now=utcnow())
    db.session.commit()


def test_success_for_a_statement_already_paid_in_cash_refunds_the_whole_amount(card_app):
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    client = card_app.test_client()
    _needs_action_then_cash(statement, payment, w, client, statement.total_pence)
    assert fresh(statement).payment_status == "paid"

    response = post_event(client, pi_event("payment_intent.succeeded", payment,
                                           status="succeeded"))

    assert response.get_json()["outcome"] == "paid"
    db.session.expire_all()
    assert (statement.payment_status, statement.paid_pence) == ("paid", statement.total_pence)
    assert (payment.status, payment.credited_pence, payment.refunded_pence) == (
        "succeeded", 0, payment.amount_pence)
    refunds = db.session.scalars(select(CardRefund)).all()
    assert [(r.card_payment_id, r.amount_pence, r.reason, r.status) for r in refunds] == [
        (payment.id, payment.amount_pence, "overpaid", "pending")]


def test_an_overpayment_is_refunded_once_however_often_stripe_says_so(card_app):
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    client = card_app.test_client()
    _needs_action_then_cash(statement, payment, w, client, statement.total_pence)

    post_event(client, pi_event("payment_intent.succeeded", payment, status="succeeded"))
    post_event(client, pi_event("payment_intent.succeeded", payment, status="succeeded"))

    refunds = db.session.scalars(select(CardRefund)).all()
    assert sum(r.amount_pence for r in refunds) == payment.amount_pence
    assert len(refunds) == 1
    assert fresh(payment).refunded_pence == payment.amount_pence


def test_success_for_a_statement_part_paid_in_cash_credits_the_rest_and_refunds_the_difference(
        card_app):
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    client = card_app.test_client()
    _needs_action_then_cash(statement, payment, w, client, 200)
    owed = fresh(statement).total_pence - 200

    post_event(client, pi_event("payment_intent.succeeded", payment, status="succeeded"))

    db.session.expire_all()
    assert (statement.payment_status, statement.paid_pence) == ("paid", statement.total_pence)
    assert (payment.status, payment.credited_pence) == ("succeeded", owed)
    refund = db.session.scalar(select(CardRefund))
    assert (refund.amount_pence, refund.reason) == (payment.amount_pence - owed, "overpaid")
    assert payment.refunded_pence == refund.amount_pence


# --- saved cards ------------------------------------------------------------------------------


def test_setup_intent_succeeded_saves_the_pending_card(card_app):
    w = factories.world(residents=1, products=(("Tinned tomatoes", 12, 1000),))
    household, person = w.households[0], w.residents[0]
    cards.start_saving_card(card_app.config, household, user=person, now=utcnow())
    db.session.commit()
    card = cards.card_of(household.id)
    assert (card.status, card.payment_method_id, card.is_ready) == ("pending", None, False)

    response = post_event(card_app.test_client(), stripe_event("setup_intent.succeeded", {
        "id": card.setup_intent_id, "object": "setup_intent", "status": "succeeded",
        "usage": "off_session", "customer": card.customer_id, "payment_method": "pm_fromwebhook",
    }))

    assert response.get_json()["outcome"] == "card saved"
    db.session.expire_all()
    assert (card.status, card.payment_method_id, card.is_ready) == (
        "saved", "pm_fromwebhook", True)
    assert card.saved_at is not None


def test_a_new_card_saved_by_webhook_never_shows_the_old_cards_last_digits(card_app):
    """Saving another card: the webhook may come before the browser does, and names only
    the new card. The old card's "ending 4242" must not stay on the page; the browser's
    return (read from Stripe) then fills in the new card's brand and digits."""
    w = factories.world(residents=1, products=(("Tinned tomatoes", 12, 1000),))
    household, person = w.households[0], w.residents[0]
    card = save_card(household, person)
    assert (card.brand, card.last4) == ("visa", "4242")
    cards.start_saving_card(card_app.config, household, user=person, now=utcnow())
    db.session.commit()
    client = stripe_helpers._client()
    pm = client.v1.payment_methods.create(params={"type": "card", "card": {
        "number": "5555555555554444", "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    client.v1.setup_intents.confirm(card.setup_intent_id, params={"payment_method": pm.id})

    response = post_event(card_app.test_client(), stripe_event("setup_intent.succeeded", {
        "id": card.setup_intent_id, "object": "setup_intent", "status": "succeeded",
        "usage": "off_session", "customer": card.customer_id, "payment_method": pm.id}))

    assert response.get_json()["outcome"] == "card saved"
    db.session.expire_all()
    assert (card.payment_method_id, card.brand, card.last4) == (pm.id, None, None)
    [by_webhook] = [a for a in audits("card.saved") if a.actor_id is None]
    assert by_webhook.household_id == household.id
    cards.finish_saving_card(card_app.config, household, card.setup_intent_id, user=person,
                             now=utcnow())
    db.session.commit()
    db.session.expire_all()
    # (localstripe calls every card "visa"; the digits are the new card's.)
    assert (card.payment_method_id, card.last4) == (pm.id, "4444") and card.brand


def test_setup_intent_succeeded_for_a_setup_intent_we_do_not_know_changes_nothing(card_app):
    w = factories.world(residents=1, products=(("Tinned tomatoes", 12, 1000),))
    cards.start_saving_card(card_app.config, w.households[0], user=w.residents[0], now=utcnow())
    db.session.commit()

    response = post_event(card_app.test_client(), stripe_event("setup_intent.succeeded", {
        "id": "seti_notours", "object": "setup_intent", "status": "succeeded",
        "customer": "cus_notours", "payment_method": "pm_notours"}))

    assert (response.status_code, response.get_json()["outcome"]) == (
        200, "unknown setup intent")
    card = cards.card_of(w.households[0].id)
    db.session.refresh(card)
    assert (card.status, card.payment_method_id) == ("pending", None)


def test_an_event_type_we_do_not_act_on_is_answered_and_recorded(card_app):
    event = stripe_event("customer.created", {"id": "cus_x", "object": "customer"})
    response = post_event(card_app.test_client(), event)
    assert (response.status_code, response.get_json()["outcome"]) == (200, "ignored")
    assert [e.id for e in event_rows()] == [event["id"]]


def test_a_sweep_after_the_webhook_paid_changes_nothing(card_app):
    """The webhook got there first; the sweep's later look-up must not credit again."""
    w, statement = one_card_round()
    payment = pending_attempt(statement)
    card = db.session.scalar(select(SavedCard).where(
        SavedCard.household_id == statement.household_id))
    outcome = gateway.charge_off_session(
        card_app.config, customer_id=card.customer_id, payment_method_id=card.payment_method_id,
        amount_pence=payment.amount_pence, idempotency_key=payment.idempotency_key,
        metadata=payment.metadata_for_stripe)
    post_event(card_app.test_client(), pi_event(
        "payment_intent.succeeded", payment, status="succeeded",
        pi_id=outcome.payment_intent_id))
    paid = state_of(statement, payment)

    sweeps.sweep_payments(utcnow() + timedelta(minutes=10), config=card_app.config)

    assert state_of(statement, payment) == paid
    assert len([a for a in audits("card.paid") if a.household_id == statement.household_id]) == 1
    assert db.session.scalar(select(func.count(CardPayment.id)).where(
        CardPayment.statement_id == statement.id)) == 1


def test_cash_cannot_be_taken_while_a_card_charge_is_under_way(card_app):
    """Why the overpaid tests first need the card to need the resident: while the sweep
    is charging, a worker cannot record cash (so the sweep and cash never race)."""
    w, (statement,) = owed_round()
    pending_attempt(statement)
    with pytest.raises(ServiceError):
        cash_service.record_cash(fresh(statement), statement.total_pence, "R1", actor=w.worker,
                             now=utcnow())


# --- the sweep's answer and the webhook at the same moment (PostgreSQL, real threads) ---------


@pytest.fixture
def pg_app(postgresql_url, stripe_config, localstripe):
    """card_app on PostgreSQL only: the race below needs to see a lock being waited for."""
    with pg_card_app(postgresql_url, localstripe) as app:
        yield app


@pytest.mark.postgres_only
def test_the_sweeps_answer_and_the_webhook_at_once_credit_once_and_refund_nothing(pg_app):
    """Stripe answers the sweep and sends its webhook within milliseconds: the two
    settle the same attempt concurrently. The statement is paid once, and no money
    that was owed is handed back as an "overpayment"."""
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    event = pi_event("payment_intent.succeeded", payment, status="succeeded")
    # The sweep applies Stripe's answer; its transaction is not committed yet.
    attempts.settle_attempt(payment, "succeeded", now=utcnow(), payment_intent_id=PI)
    db.session.flush()
    blocked, responses = race_while_uncommitted(
        lambda: post_event(pg_app.test_client(), event))
    assert blocked, "the webhook never waited for the sweep's transaction (no race made)"
    assert [r.status_code for r in responses] == [200]

    db.session.expire_all()
    assert (statement.payment_status, statement.paid_pence) == ("paid", statement.total_pence)
    assert (payment.status, payment.payment_intent_id, payment.credited_pence) == (
        "succeeded", PI, payment.amount_pence)
    assert [(r.amount_pence, r.reason) for r in db.session.scalars(select(CardRefund))] == []
    assert payment.refunded_pence == 0
    assert len(audits("card.paid")) == 1
