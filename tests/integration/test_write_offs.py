"""Writing off what a household still owes: the group covers it, recorded as a deficit.

docs/payments.md and docs/features.md: a statement below Stripe's 30p minimum is paid in cash or
waived by an organiser (recorded); any amount the group decides to cover is written off
by an organiser and recorded as a deficit. Only organisers decide; once per statement;
never while a card charge is under way.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bulkbuy import sweeps
from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, CardRefund, Statement, WriteOff, utcnow
from bulkbuy.services import ServiceError
from bulkbuy.services.payments import cash as cash_service
from tests import factories
from tests.integration.helpers.live_server import post_event
from tests.integration.test_stripe_webhooks import owed_round, pending_attempt, pi_event
from tests.pages import count, page


def url(w, statement: Statement) -> str:
    return f"/organise/{w.group.id}/rounds/{w.round.id}/payments/{statement.id}/write-off"


def payments_url(w) -> str:
    return f"/organise/{w.group.id}/rounds/{w.round.id}/payments"


def signed_in(app, email: str):
    client = app.test_client()
    client.post("/login", data={"email": email, "password": factories.PASSWORD})
    return client


def leaving_owed(statement: Statement, pence: int) -> Statement:
    """Cash came in for all but `pence` of it (recorded as the services would)."""
    if statement.total_pence > pence:
        cash_service.record_cash(statement, statement.total_pence - pence, f"R-{statement.id}",
                             actor=statement.round.created_by, now=utcnow())
        db.session.commit()
    db.session.refresh(statement)
    return statement


def written() -> dict[str, int]:
    return {"write_offs": count(WriteOff), "audit": count(AuditEntry)}


def test_an_organiser_waives_20p_too_small_for_a_card_and_it_is_recorded(card_app):
    w, (statement,) = owed_round()
    statement = leaving_owed(statement, 20)
    organiser = signed_in(card_app, w.organiser.email)
    listed = page(organiser.get(payments_url(w)))
    assert "Too small to pay by card: cash, or waive it." in listed
    assert "charged soon" not in listed

    response = organiser.post(url(w, statement), data={"reason": "too_small",
                                                       "confirm": "yes"})

    assert response.status_code == 303
    db.session.expire_all()
    assert (statement.payment_status, statement.paid_pence) == (
        "settled", statement.total_pence - 20)
    [made] = db.session.scalars(select(WriteOff)).all()
    assert (made.statement_id, made.amount_pence, made.reason, made.recorded_by_id) == (
        statement.id, 20, "too_small", w.organiser.id)
    [entry] = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "statement.written_off")).all()
    assert (entry.actor_id, entry.household_id) == (w.organiser.id, statement.household_id)
    listed = page(organiser.get(payments_url(w)))
    assert "Waived £0.20: too small for a card." in listed
    assert "Written off (the group covers it): £0.20." in listed
    assert sweeps.sweep_payments(utcnow(), config=card_app.config).charged == 0
    with pytest.raises(ServiceError, match="Nothing is owed"):
        cash_service.record_cash(statement, 20, "R-late", actor=w.worker, now=utcnow())


def test_waiving_is_only_for_amounts_too_small_for_a_card(card_app):
    w, (statement,) = owed_round()
    statement = leaving_owed(statement, 30)
    before = written()

    with pytest.raises(ServiceError, match="not too small"):
        cash_service.write_off(statement, "too_small", actor=w.organiser, now=utcnow())

    db.session.rollback()
    assert written() == before
    assert db.session.get(Statement, statement.id).payment_status == "due"


def test_the_group_covers_the_rest_after_part_was_paid_in_cash(card_app):
    w, (statement,) = owed_round()
    statement = leaving_owed(statement, 350)
    organiser = signed_in(card_app, w.organiser.email)
    assert "Write off £3.50" in page(organiser.get(payments_url(w)))

    organiser.post(url(w, statement), data={"reason": "group_covers", "confirm": "yes"})

    db.session.expire_all()
    assert statement.payment_status == "settled"
    [made] = db.session.scalars(select(WriteOff)).all()
    assert (made.amount_pence, made.reason) == (350, "group_covers")
    assert "The group covers £3.50 (written off)." in page(organiser.get(payments_url(w)))
    resident = signed_in(card_app, w.residents[0].email)
    assert "There is nothing to pay." in page(resident.get(f"/pay/{statement.id}"))


@pytest.mark.parametrize("reason", ["", "because", "too_small "])
def test_a_write_off_without_a_known_reason_changes_nothing(card_app, reason):
    w, (statement,) = owed_round()
    organiser = signed_in(card_app, w.organiser.email)
    before = written()

    response = organiser.post(url(w, statement), data={"reason": reason, "confirm": "yes"})

    assert response.status_code == 303
    assert "Choose why the group covers this." in page(organiser.get(payments_url(w)))
    assert written() == before
    assert db.session.get(Statement, statement.id).payment_status == "due"


def test_only_an_organiser_writes_off(card_app):
    w, (statement,) = owed_round()
    worker = signed_in(card_app, w.worker.email)
    before = written()

    assert "The group covers what" not in page(worker.get(payments_url(w)))
    assert worker.post(url(w, statement), data={"reason": "group_covers",
                                                "confirm": "yes"}).status_code == 403
    assert written() == before


def test_writing_off_twice_records_once(card_app):
    w, (statement,) = owed_round()
    organiser = signed_in(card_app, w.organiser.email)
    organiser.post(url(w, statement), data={"reason": "group_covers", "confirm": "yes"})
    before = written()

    organiser.post(url(w, statement), data={"reason": "group_covers", "confirm": "yes"})

    assert "Nothing is owed on this any more." in page(organiser.get(payments_url(w)))
    assert written() == before


def test_nothing_is_written_off_while_a_card_charge_is_under_way(card_app):
    w, (statement,) = owed_round()
    pending_attempt(statement)  # the sweep has claimed it and asked Stripe
    before = written()

    with pytest.raises(ServiceError, match="being taken"):
        cash_service.write_off(statement, "group_covers", actor=w.organiser, now=utcnow())

    db.session.rollback()
    assert written() == before
    assert db.session.get(Statement, statement.id).payment_status == "charging"


def test_a_card_payment_that_succeeds_after_the_write_off_is_given_back(card_app):
    """The resident confirmed with their bank after the organiser wrote the debt off: the
    money is not kept twice over; it goes back to the card."""
    w, (statement,) = owed_round()
    payment = pending_attempt(statement)
    client = card_app.test_client()
    post_event(client, pi_event("payment_intent.requires_action", payment,
                                status="requires_action"))
    cash_service.write_off(db.session.get(Statement, statement.id), "group_covers",
                       actor=w.organiser, now=utcnow() + timedelta(seconds=1))
    db.session.commit()

    post_event(client, pi_event("payment_intent.succeeded", payment, status="succeeded"))

    db.session.expire_all()
    assert (statement.payment_status, statement.paid_pence) == ("settled", 0)
    assert (payment.credited_pence, payment.refunded_pence) == (0, payment.amount_pence)
    [refund] = db.session.scalars(select(CardRefund)).all()
    assert (refund.amount_pence, refund.reason) == (payment.amount_pence, "overpaid")


def test_the_payment_window_is_shown_and_unpaid_households_are_late_after_it(card_app):
    """DESIGN: after close there is a payment window (3 days unless the organiser chose
    otherwise); then the organiser sees who is late and may still go ahead."""
    w, (statement,) = owed_round()
    organiser = signed_in(card_app, w.organiser.email)
    resident = signed_in(card_app, w.residents[0].email)
    rnd = statement.round
    assert rnd.pay_by == rnd.closed_at + timedelta(days=3)

    assert "Please pay by" in page(resident.get(f"/pay/{statement.id}"))
    assert "Please pay by" in page(resident.get("/my-orders"))
    listed = page(organiser.get(payments_url(w)))
    assert "(3 days after orders closed)" in listed and "Late" not in listed

    rnd.closed_at = utcnow() - timedelta(days=3, minutes=1)
    db.session.commit()
    listed = page(organiser.get(payments_url(w)))

    assert "That time has passed" in listed and "Late" in listed
