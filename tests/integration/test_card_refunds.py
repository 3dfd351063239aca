"""Card refunds against localstripe: cancelling a closed round gives card money back.

The rules (docs/payments.md "Refunds", refunds.cancel_closed_round): a
round cancelled after close stops taking money; its statements become
cancelled; every card payment is refunded in full by the payment sweep, as
partial refunds on the original PaymentIntent; households are told.
Refunds are capped by our own records (localstripe would accept an
over-refund), a refund whose answer was lost is found again by its key and
never sent twice, and Stripe's refund webhooks (which localstripe does not
send; faked here, signed) can mark a refund failed, which frees its amount.

Cancelling is tested through the service and through the organiser's page
(/organise/<group>/rounds/<round>/cancel-after-close).
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
import requests
import stripe
from sqlalchemy import select

from bulkbuy import sweeps
from bulkbuy.adapters import stripe_gateway as gateway
from bulkbuy.domain.money import format_pence
from bulkbuy.extensions import db
from bulkbuy.models import (
    AuditEntry,
    CardPayment,
    CardRefund,
    OutboxMessage,
    Round,
    SavedCard,
    Statement,
    utcnow,
)
from bulkbuy.services import ServiceError, rounds
from bulkbuy.services.payments import attempts, charge_sweep, refunds
from bulkbuy.services.payments import saved_cards as cards
from tests import factories
from tests.fault_proxy import FaultProxy
from tests.integration.helpers.live_server import (
    pg_card_app,
    post_event,
    race_while_uncommitted,
    refund_object,
    stripe_event,
)
from tests.stripe_helpers import closed_card_round, save_card

# --- helpers ----------------------------------------------------------------------------------


def sweep(app, now):
    return sweeps.sweep_payments(now, config=app.config)


@contextmanager
def stripe_client(app, base: str | None = None):
    session = requests.Session()
    try:
        yield stripe.StripeClient(app.config["STRIPE_SECRET_KEY"],
                                  base_addresses={"api": base or app.config["STRIPE_API_BASE"]},
                                  http_client=stripe.RequestsClient(session=session),
                                  max_network_retries=0)
    finally:
        session.close()


def refunds_at_stripe(app, pi_id: str, base: str | None = None) -> list:
    with stripe_client(app, base) as client:
        return list(client.v1.refunds.list(params={"payment_intent": pi_id,
                                                   "limit": 100}).auto_paging_iter())


def payment_intents_at_stripe(app) -> list:
    with stripe_client(app) as client:
        return list(client.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter())


def paid_round(app, residents: int = 2):
    """A closed round whose households all paid by card through the sweep."""
    w, statements = closed_card_round(residents=residents, units=12 // residents)
    now = utcnow()
    result = sweep(app, now)
    assert result.charged == residents
    payments = [db.session.scalar(select(CardPayment).where(CardPayment.statement_id == s.id))
                for s in statements]
    for statement, payment in zip(statements, payments, strict=True):
        db.session.refresh(statement)
        assert statement.payment_status == "paid"
        assert payment.status == "succeeded" and payment.payment_intent_id
    return w, statements, payments, now


@contextmanager
def through(app, base_url: str):
    """Point the app's Stripe at `base_url` (a fault proxy) for the block."""
    before = app.config["STRIPE_API_BASE"]
    app.config["STRIPE_API_BASE"] = base_url
    try:
        yield
    finally:
        app.config["STRIPE_API_BASE"] = before


def refunds_of(payment: CardPayment) -> list[CardRefund]:
    return list(db.session.scalars(select(CardRefund).where(
        CardRefund.card_payment_id == payment.id).order_by(CardRefund.id)
        .execution_options(populate_existing=True)))


def cancel(w, now):
    queued = refunds.cancel_closed_round(db.session.get(Round, w.round.id),
                                               actor=w.organiser, now=now)
    db.session.commit()
    return queued


def assert_refunded_pence_matches_refunds(payment: CardPayment) -> None:
    """Our record of what was asked back equals the refunds that did not fail."""
    db.session.refresh(payment)
    live = sum(r.amount_pence for r in refunds_of(payment) if r.status != "failed")
    assert payment.refunded_pence == live
    assert 0 <= payment.refunded_pence <= payment.amount_pence


# --- cancelling a closed round ------------------------------------------------------------------


def test_cancelling_a_closed_round_refunds_every_card_payment_in_full(card_app):
    w, statements, payments, now = paid_round(card_app)

    assert cancel(w, now) == 2
    result = sweep(card_app, now)

    assert result.refunded == 2 and result.errors == []
    assert db.session.get(Round, w.round.id).status == "cancelled"
    for statement, payment in zip(statements, payments, strict=True):
        db.session.refresh(statement)
        assert statement.payment_status == "cancelled"
        [refund] = refunds_of(payment)
        assert (refund.status, refund.amount_pence, refund.reason) == (
            "succeeded", payment.amount_pence, "round_cancelled")
        assert refund.refund_id.startswith("re_")
        assert refund.requested_by_id == w.organiser.id
        at_stripe = refunds_at_stripe(card_app, payment.payment_intent_id)
        assert [r.id for r in at_stripe] == [refund.refund_id]
        assert sum(r.amount for r in at_stripe) == payment.amount_pence
        assert at_stripe[0].metadata.to_dict() == {"refund_key": refund.idempotency_key}
        assert_refunded_pence_matches_refunds(payment)
    told = sorted(db.session.scalars(select(OutboxMessage.to_address).where(
        OutboxMessage.key.startswith("round-cancelled:"))))
    assert told == sorted(r.email for r in w.residents)
    audit = db.session.scalar(select(AuditEntry).where(
        AuditEntry.action == "round.cancelled_after_close"))
    assert audit is not None and audit.actor_id == w.organiser.id


def test_the_organiser_cancels_a_closed_round_on_its_page_and_the_cards_are_refunded(card_app):
    w, statements, payments, now = paid_round(card_app)
    url = f"/organise/{w.group.id}/rounds/{w.round.id}/cancel-after-close"
    client = card_app.test_client()
    client.post("/login", data={"email": w.organiser.email,
                                "password": factories.PASSWORD})

    page = client.get(url)
    assert page.status_code == 200
    taken = sum(p.amount_pence for p in payments)
    assert f"Card payments ({format_pence(taken)}) go back" in page.get_data(as_text=True)
    answer = client.post(url)

    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(
        f"/organise/{w.group.id}/rounds/{w.round.id}/payments")
    db.session.expire_all()
    assert db.session.get(Round, w.round.id).status == "cancelled"
    assert [s.payment_status for s in statements] == ["cancelled", "cancelled"]
    assert sweep(card_app, utcnow()).refunded == 2
    for payment in payments:
        [refund] = refunds_of(payment)
        assert (refund.status, refund.amount_pence, refund.requested_by_id) == (
            "succeeded", payment.amount_pence, w.organiser.id)
        assert sum(r.amount for r in refunds_at_stripe(
            card_app, payment.payment_intent_id)) == payment.amount_pence
    # Once: the page is gone for a cancelled round, and nothing more is queued.
    assert client.post(url).status_code == 404
    assert [len(refunds_of(p)) for p in payments] == [1, 1]


def test_only_an_organiser_may_cancel_a_closed_round(card_app):
    w, _statements, (payment,), _now = paid_round(card_app, residents=1)
    url = f"/organise/{w.group.id}/rounds/{w.round.id}/cancel-after-close"
    client = card_app.test_client()
    client.post("/login", data={"email": w.worker.email, "password": factories.PASSWORD})

    assert client.post(url).status_code == 403

    db.session.expire_all()
    assert db.session.get(Round, w.round.id).status == "closed"
    assert refunds_of(payment) == []


def test_refunds_are_capped_by_what_the_card_took(card_app):
    """localstripe would accept any over-refund: only our records stop one."""
    w, _statements, (payment,), now = paid_round(card_app, residents=1)

    whole = refunds.queue_refund(payment, payment.amount_pence * 3, reason="overpaid",
                                       now=now)
    db.session.commit()
    assert whole.amount_pence == payment.amount_pence
    assert cancel(w, now) == 0  # already being given back in full
    with pytest.raises(ServiceError):
        refunds.cancel_closed_round(db.session.get(Round, w.round.id),
                                          actor=w.organiser, now=now)
    db.session.rollback()
    assert refunds.queue_refund(payment, 1, reason="overpaid", now=now) is None
    db.session.commit()
    first = sweep(card_app, now)
    again = sweep(card_app, now + timedelta(hours=1))

    assert (first.refunded, again.refunded) == (1, 0)
    assert [(r.amount_pence, r.status) for r in refunds_of(payment)] == [
        (payment.amount_pence, "succeeded")]
    at_stripe = refunds_at_stripe(card_app, payment.payment_intent_id)
    assert [r.amount for r in at_stripe] == [payment.amount_pence]
    assert_refunded_pence_matches_refunds(payment)


def test_after_a_part_refund_cancelling_refunds_only_the_rest(card_app):
    w, _statements, (payment,), now = paid_round(card_app, residents=1)
    refunds.queue_refund(payment, 300, reason="overpaid", now=now)
    db.session.commit()
    sweep(card_app, now)

    assert cancel(w, now) == 1
    sweep(card_app, now)

    assert [(r.amount_pence, r.reason, r.status) for r in refunds_of(payment)] == [
        (300, "overpaid", "succeeded"),
        (payment.amount_pence - 300, "round_cancelled", "succeeded")]
    at_stripe = refunds_at_stripe(card_app, payment.payment_intent_id)
    assert sorted(r.amount for r in at_stripe) == sorted([300, payment.amount_pence - 300])
    assert sum(r.amount for r in at_stripe) == payment.amount_pence
    assert_refunded_pence_matches_refunds(payment)


def test_a_charge_in_flight_when_the_round_is_cancelled_is_refunded_in_full(card_app):
    w, (statement,) = closed_card_round(residents=1, units=12)
    now = utcnow()
    payment = charge_sweep.start_attempt(statement.id, now)
    db.session.commit()
    card = db.session.scalar(select(SavedCard).where(
        SavedCard.household_id == statement.household_id))
    # Stripe takes the money, but the sweep's answer is lost.
    outcome = gateway.charge_off_session(
        card_app.config, customer_id=card.customer_id, payment_method_id=card.payment_method_id,
        amount_pence=payment.amount_pence, idempotency_key=payment.idempotency_key,
        metadata=payment.metadata_for_stripe)
    assert outcome.kind == "succeeded"

    assert cancel(w, now) == 0  # nothing known to refund yet
    result = sweep(card_app, now + attempts.LEASE + timedelta(seconds=30))

    db.session.expire_all()
    assert (payment.status, payment.payment_intent_id, payment.credited_pence) == (
        "succeeded", outcome.payment_intent_id, 0)
    assert (statement.payment_status, statement.paid_pence) == ("cancelled", 0)
    [refund] = refunds_of(payment)
    assert (refund.amount_pence, refund.reason, refund.status) == (
        payment.amount_pence, "round_cancelled", "succeeded")
    assert result.refunded == 1
    assert sum(r.amount for r in refunds_at_stripe(
        card_app, outcome.payment_intent_id)) == payment.amount_pence
    assert_refunded_pence_matches_refunds(payment)


def test_an_in_flight_charge_that_succeeds_by_webhook_after_cancel_is_refunded(card_app):
    w, (statement,) = closed_card_round(residents=1, units=12)
    now = utcnow()
    payment = charge_sweep.start_attempt(statement.id, now)
    db.session.commit()
    cancel(w, now)
    pi = {"id": "pi_latesuccess", "object": "payment_intent", "status": "succeeded",
          "amount": payment.amount_pence, "currency": "gbp",
          "metadata": payment.metadata_for_stripe}

    response = post_event(card_app.test_client(), stripe_event("payment_intent.succeeded", pi))

    assert response.status_code == 200
    db.session.expire_all()
    assert (payment.status, payment.credited_pence, payment.refunded_pence) == (
        "succeeded", 0, payment.amount_pence)
    assert (statement.payment_status, statement.paid_pence) == ("cancelled", 0)
    [refund] = refunds_of(payment)
    assert (refund.amount_pence, refund.reason, refund.status) == (
        payment.amount_pence, "round_cancelled", "pending")


# --- a lost answer ------------------------------------------------------------------------------


@pytest.mark.parametrize("fault, reached_stripe", [
    ("lost_response", True),  # Stripe made it; the answer was lost
    ("server_error", False),  # a 500 before Stripe made it
])
def test_a_refund_without_an_answer_is_looked_up_by_its_key_and_made_once(
        card_app, fault, reached_stripe):
    w, _statements, (payment,), now = paid_round(card_app, residents=1)
    cancel(w, now)
    localstripe = card_app.config["STRIPE_API_BASE"]
    with FaultProxy(localstripe) as proxy, through(card_app, proxy.base_url):
        proxy.fail_next(fault, path_prefix="/v1/refunds")

        first = sweep(card_app, now)

        [refund] = refunds_of(payment)
        assert refund.status == "unknown" and refund.refund_id is None
        assert first.refunded == 0 and first.errors
        made = refunds_at_stripe(card_app, payment.payment_intent_id, base=localstripe)
        assert len(made) == (1 if reached_stripe else 0)
        assert_refunded_pence_matches_refunds(payment)  # still reserved meanwhile

        assert sweep(card_app, now).refunded == 0  # not yet time to look again
        later = sweep(card_app, now + attempts.RECHECK_AFTER + timedelta(seconds=1))

        sent = [r for r in proxy.requests if r.method == "POST" and r.path == "/v1/refunds"]
        looked = [r for r in proxy.requests if r.method == "GET" and r.path == "/v1/refunds"]
    assert later.refunded == 1
    [refund] = refunds_of(payment)
    [at_stripe] = refunds_at_stripe(card_app, payment.payment_intent_id)
    assert (refund.status, refund.refund_id) == ("succeeded", at_stripe.id)
    assert at_stripe.amount == payment.amount_pence
    assert at_stripe.metadata.to_dict() == {"refund_key": refund.idempotency_key}
    assert len(looked) == 1  # looked up by its key once
    if reached_stripe:
        assert len(sent) == 1  # found, so never sent again
    else:
        assert len(sent) == 2 and sent[0].at < looked[0].at < sent[1].at  # looked, then sent
    assert_refunded_pence_matches_refunds(payment)


class SweepKilled(BaseException):
    """A stand-in for SIGKILL at one chosen point (tests/chaos.py kills real processes):
    the sweep stops there and nothing after it is committed."""


@pytest.mark.parametrize("stripe_made_it", [True, False])
def test_a_refund_whose_sweep_died_mid_request_is_looked_up_before_it_is_asked_again(
        card_app, monkeypatch, stripe_made_it):
    """The double refund a chaos run found: a sweep died after Stripe made the refund and
    before the answer was committed; once its lease ended the next sweep asked again.
    Now a refund claimed before is looked up by its key first, and asked again (same
    key) only when Stripe has none."""
    w, _statements, (payment,), now = paid_round(card_app, residents=1)
    cancel(w, now)
    real_refund = gateway.refund

    def dies_mid_request(*args, **kwargs):
        if stripe_made_it:
            real_refund(*args, **kwargs)
        raise SweepKilled

    monkeypatch.setattr(gateway, "refund", dies_mid_request)
    with pytest.raises(SweepKilled):
        sweep(card_app, now)
    db.session.rollback()
    monkeypatch.setattr(gateway, "refund", real_refund)
    [refund] = refunds_of(payment)
    assert refund.status == "unknown"  # taken to ask Stripe: it may have reached it
    assert len(refunds_at_stripe(card_app, payment.payment_intent_id)) == (
        1 if stripe_made_it else 0)

    assert sweep(card_app, now).refunded == 0  # the dead sweep's lease still holds it
    # The lease runs from the real clock when the dead sweep took the refund.
    later = sweep(card_app, utcnow() + attempts.LEASE + timedelta(seconds=1))

    assert later.refunded == 1 and later.errors == []
    [at_stripe] = refunds_at_stripe(card_app, payment.payment_intent_id)
    [refund] = refunds_of(payment)
    assert (refund.status, refund.refund_id) == ("succeeded", at_stripe.id)
    assert at_stripe.amount == payment.amount_pence
    assert at_stripe.metadata.to_dict() == {"refund_key": refund.idempotency_key}
    assert_refunded_pence_matches_refunds(payment)


# --- refund webhooks (localstripe sends none: signed fakes) -------------------------------------


def _refunded(card_app):
    w, _statements, (payment,), now = paid_round(card_app, residents=1)
    cancel(w, now)
    sweep(card_app, now)
    [refund] = refunds_of(payment)
    assert refund.status == "succeeded"
    return w, payment, refund, now


def _refund_event(event_type: str, refund: CardRefund, payment: CardPayment, status: str,
                  *, with_id: bool = True) -> dict:
    return stripe_event(event_type, refund_object(
        refund.refund_id if with_id else "re_unrecorded", status=status,
        amount=refund.amount_pence, payment_intent=payment.payment_intent_id,
        refund_key=refund.idempotency_key))


def test_a_failed_refund_webhook_marks_it_failed_and_frees_its_amount(card_app):
    w, payment, refund, now = _refunded(card_app)
    assert payment.refunded_pence == payment.amount_pence

    response = post_event(card_app.test_client(),
                          _refund_event("refund.updated", refund, payment, "failed"))

    assert (response.status_code, response.get_json()["outcome"]) == (200, "failed")
    db.session.expire_all()
    assert refund.status == "failed"
    assert payment.refunded_pence == 0
    # What was freed may be asked for again (and no more than that).
    again = refunds.queue_refund(payment, payment.amount_pence * 2,
                                       reason="round_cancelled", now=now)
    assert again is not None and again.amount_pence == payment.amount_pence
    assert again.idempotency_key != refund.idempotency_key
    assert_refunded_pence_matches_refunds(payment)


def test_a_failed_refund_is_shown_to_staff_and_an_organiser_asks_stripe_again(card_app):
    """Stripe refused a cancelled round's refund: the payments page says the money is
    still with the group; the organiser asks again (once; a worker may not), and the
    sweep gives it back."""
    w, payment, refund, now = _refunded(card_app)
    post_event(card_app.test_client(),
               _refund_event("refund.updated", refund, payment, "failed"))
    url = f"/organise/{w.group.id}/rounds/{w.round.id}/payments"
    again_url = f"{url}/card/{payment.id}/refund-again"
    worker, organiser = card_app.test_client(), card_app.test_client()
    worker.post("/login", data={"email": w.worker.email, "password": factories.PASSWORD})
    organiser.post("/login", data={"email": w.organiser.email,
                                   "password": factories.PASSWORD})
    amount = format_pence(payment.amount_pence)

    for client in (worker, organiser):
        text = client.get(url).get_data(as_text=True)
        assert "1 refund(s) to a card did not go through." in text
        assert f"A refund of {amount} to their card did not go through." in text
    assert "Ask Stripe again" not in worker.get(url).get_data(as_text=True)
    assert worker.post(again_url).status_code == 403
    assert len(refunds_of(payment)) == 1

    answer = organiser.post(again_url)

    assert answer.status_code == 303 and answer.headers["Location"].endswith(url)
    db.session.expire_all()
    first, second = refunds_of(payment)
    assert (first.status, second.status, second.amount_pence, second.requested_by_id) == (
        "failed", "pending", payment.amount_pence, w.organiser.id)
    assert organiser.post(again_url).status_code == 303  # a second press: nothing more
    assert len(refunds_of(payment)) == 2
    assert "did not go through" not in organiser.get(url).get_data(as_text=True)
    assert sweep(card_app, utcnow()).refunded == 1
    db.session.expire_all()
    assert refunds_of(payment)[1].status == "succeeded"
    assert_refunded_pence_matches_refunds(payment)


def test_a_refund_failed_twice_frees_its_amount_once(card_app):
    w, payment, refund, _now = _refunded(card_app)
    client = card_app.test_client()
    post_event(client, _refund_event("refund.updated", refund, payment, "failed"))
    post_event(client, _refund_event("refund.failed", refund, payment, "failed"))

    db.session.expire_all()
    assert (refund.status, payment.refunded_pence) == ("failed", 0)


def test_an_older_refund_event_arriving_after_the_failure_changes_nothing(card_app):
    """Out of order: Stripe's refund.created (pending) or an earlier refund.updated
    (succeeded) delivered after refund.failed. A failed refund is final at Stripe."""
    w, payment, refund, _now = _refunded(card_app)
    client = card_app.test_client()
    post_event(client, _refund_event("refund.failed", refund, payment, "failed"))
    db.session.expire_all()
    assert (refund.status, payment.refunded_pence) == ("failed", 0)

    post_event(client, _refund_event("refund.created", refund, payment, "pending"))
    post_event(client, _refund_event("refund.updated", refund, payment, "succeeded"))

    db.session.expire_all()
    assert refund.status == "failed"
    assert_refunded_pence_matches_refunds(payment)


def test_a_refund_webhook_finds_a_refund_whose_id_we_never_recorded_by_its_key(card_app):
    w, _statements, (payment,), now = paid_round(card_app, residents=1)
    cancel(w, now)
    [refund] = refunds_of(payment)
    assert refund.refund_id is None  # queued, not yet sent

    response = post_event(card_app.test_client(), _refund_event(
        "refund.updated", refund, payment, "failed", with_id=False))

    assert response.get_json()["outcome"] == "failed"
    db.session.expire_all()
    assert (refund.status, refund.refund_id, payment.refunded_pence) == (
        "failed", "re_unrecorded", 0)


def test_a_refund_webhook_about_a_refund_that_is_not_ours_changes_nothing(card_app):
    w, payment, refund, _now = _refunded(card_app)
    event = stripe_event("refund.updated", refund_object(
        "re_notours", status="succeeded", amount=500, payment_intent="pi_notours",
        refund_key="somebody-else"))

    response = post_event(card_app.test_client(), event)

    assert (response.status_code, response.get_json()["outcome"]) == (200, "unknown refund")
    db.session.expire_all()
    assert (refund.status, refund.refund_id) == ("succeeded", refund.refund_id)
    assert payment.refunded_pence == payment.amount_pence
    assert db.session.scalar(select(CardRefund.id).where(
        CardRefund.refund_id == "re_notours")) is None


@pytest.fixture
def pg_app(postgresql_url, stripe_config, localstripe):
    """card_app on PostgreSQL only: the race below needs to see a lock being waited for."""
    with pg_card_app(postgresql_url, localstripe) as app:
        yield app


@pytest.mark.postgres_only
def test_two_failure_events_for_one_refund_at_once_free_its_amount_once(pg_app):
    """Stripe sends refund.failed and refund.updated (failed) for one refund; two
    deliveries at once must give its amount back once, or more than the card took
    could be refunded later."""
    w, _statements, (payment,), now = paid_round(pg_app, residents=1)
    part = refunds.queue_refund(payment, 300, reason="overpaid", now=now)
    rest = refunds.queue_refund(payment, payment.amount_pence - 300,
                                      reason="round_cancelled", now=now)
    db.session.commit()
    sweep(pg_app, now)
    assert [r.status for r in refunds_of(payment)] == ["succeeded", "succeeded"]
    db.session.refresh(part)
    # One delivery is being applied (not committed yet) when the other arrives.
    refunds.apply_refund_status(part, "failed", part.refund_id, now)
    db.session.flush()
    blocked, responses = race_while_uncommitted(lambda: post_event(
        pg_app.test_client(), _refund_event("refund.failed", part, payment, "failed")))
    assert blocked, "the webhook never waited for the first transaction (no race made)"
    assert [r.status_code for r in responses] == [200]

    db.session.expire_all()
    assert [(r.amount_pence, r.status) for r in refunds_of(payment)] == [
        (300, "failed"), (rest.amount_pence, "succeeded")]
    assert payment.refunded_pence == rest.amount_pence
    # So no more than the 300p that failed can be asked again.
    again = refunds.queue_refund(payment, payment.amount_pence, reason="overpaid",
                                       now=now)
    assert again.amount_pence == 300


def _overpaid_refund_that_failed(app, overpaid: int = 300):
    """A card payment that took `overpaid` pence more than its statement was owed; the
    refund of that excess was refused by Stripe. Returns (world, payment)."""
    w, _statements, (payment,), now = paid_round(app, residents=1)
    payment.credited_pence = payment.amount_pence - overpaid
    db.session.commit()
    refund = refunds.queue_refund(payment, overpaid, reason="overpaid", now=now,
                                        keep_pence=payment.credited_pence)
    db.session.commit()
    sweep(app, now)
    db.session.refresh(refund)
    assert refund.status == "succeeded"
    post_event(app.test_client(), _refund_event("refund.updated", refund, payment, "failed"))
    db.session.expire_all()
    assert (refund.status, payment.refunded_pence) == ("failed", 0)
    assert refunds.refund_still_owed(payment) == overpaid
    return w, payment


@pytest.mark.postgres_only
def test_two_organisers_asking_again_at_once_refund_the_overpaid_pence_once(pg_app):
    """One 'Ask Stripe again' holds the payment's row (not yet committed) when a second
    arrives from another organiser's browser, having read the same 300p owed. The
    guarded UPDATE re-checks against what the statement keeps, so the second reserves
    nothing (checked against the whole payment only, it reserved 300p more)."""
    w, payment = _overpaid_refund_that_failed(pg_app)
    url = (f"/organise/{w.group.id}/rounds/{w.round.id}/payments/card/{payment.id}"
           "/refund-again")
    other = pg_app.test_client()
    other.post("/login", data={"email": w.organiser.email, "password": factories.PASSWORD})
    refunds.retry_failed_refund(payment, actor=w.organiser, now=utcnow())
    db.session.flush()
    blocked, responses = race_while_uncommitted(lambda: other.post(url))
    assert blocked, "the second request never waited for the first (no race made)"
    assert [r.status_code for r in responses] == [303]

    db.session.expire_all()
    assert [(r.amount_pence, r.status) for r in refunds_of(payment)] == [
        (300, "failed"), (300, "pending")]
    assert payment.refunded_pence == 300
    assert payment.refunded_pence + payment.credited_pence == payment.amount_pence


# --- rounds that never take money ---------------------------------------------------------------


def _cards_saved_and_pledged(units: int = 12):
    w = factories.world(residents=1, products=(("Tinned tomatoes", 12, 1000),))
    from bulkbuy.services import pledges


    now = utcnow()
    pledges.set_pledge(w.round.items[0], w.households[0], units, 0, entered_by=w.residents[0],
                       now=now, max_units=999)
    db.session.commit()
    save_card(w.households[0], w.residents[0])
    cards.give_consent(w.round, w.households[0], user=w.residents[0], now=now)
    db.session.commit()
    return w


def _nothing_charged(app, round_id: int, now) -> None:
    result = sweep(app, now)
    assert (result.charged, result.needs_action, result.unknown) == (0, 0, 0)
    assert db.session.scalars(select(CardPayment)).all() == []
    assert payment_intents_at_stripe(app) == []
    for statement in db.session.scalars(select(Statement).where(Statement.round_id == round_id)):
        assert charge_sweep.start_attempt(statement.id, now) is None


def test_a_failed_round_never_gets_a_charge(card_app):
    from bulkbuy.services import closing


    w = _cards_saved_and_pledged()
    w.round.min_order_pence = 10_000  # £100: one £10 box does not reach it
    db.session.commit()
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    assert db.session.get(Round, w.round.id).status == "failed"

    _nothing_charged(card_app, w.round.id, w.round.closes_at + timedelta(minutes=5))


def test_a_round_cancelled_while_open_never_gets_a_charge(card_app):

    w = _cards_saved_and_pledged()
    rounds.cancel_round(w.round, actor=w.organiser, now=utcnow())
    db.session.commit()
    sweeps.close_due_rounds(w.round.closes_at + timedelta(seconds=1))
    assert db.session.get(Round, w.round.id).status == "cancelled"

    _nothing_charged(card_app, w.round.id, w.round.closes_at + timedelta(minutes=5))


def test_a_round_cancelled_after_close_but_before_the_sweep_is_never_charged(card_app):
    w, (statement,) = closed_card_round(residents=1, units=12)
    now = utcnow()
    assert cancel(w, now) == 0

    _nothing_charged(card_app, w.round.id, now)
    db.session.refresh(statement)
    assert (statement.payment_status, statement.paid_pence) == ("cancelled", 0)
