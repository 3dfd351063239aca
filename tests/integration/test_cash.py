"""Cash taken at a drop-in: recorded once, never more than owed, by staff of the group only."""

from datetime import timedelta

from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, CashPayment, Statement, utcnow
from bulkbuy.services import closing, pledges
from tests import factories
from tests.pages import count, page


def _closed_world():
    """r1 owes £5 for 6 of 12 tins at £10 a box (r2 takes the other 6)."""
    w = factories.world(products=(("Tinned tomatoes", 12, 1000),))
    item = w.round.items[0]
    for household, person in zip(w.households, w.residents, strict=True):
        pledges.set_pledge(item, household, 6, 0, entered_by=person, now=utcnow(),
                           max_units=999)
    db.session.commit()
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    statement = db.session.scalar(
        select(Statement).where(Statement.household_id == w.households[0].id)
    )
    return w, statement


def _pay(client, w, statement, amount, receipt):
    return client.post(
        f"/organise/{w.group.id}/rounds/{w.round.id}/payments/{statement.id}/cash",
        data={"amount": amount, "receipt": receipt},
    )


def test_a_worker_records_part_then_the_rest_and_the_household_is_paid(client, auth):
    w, statement = _closed_world()
    assert (statement.total_pence, statement.payment_status) == (500, "due")
    auth.login(w.worker.email)
    assert _pay(client, w, statement, "2", "R-001").status_code == 303
    db.session.refresh(statement)
    assert (statement.paid_pence, statement.payment_status) == (200, "due")
    assert _pay(client, w, statement, "3.00", "R-002").status_code == 303
    db.session.refresh(statement)
    assert (statement.paid_pence, statement.payment_status) == (500, "paid")
    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "cash.recorded")
    ).all()
    assert [(e.actor_id, e.household_id) for e in entries] == [
        (w.worker.id, w.households[0].id)
    ] * 2
    auth.logout()
    auth.login("r1@oak.test")
    assert "Paid in full" in page(client.get(f"/rounds/{w.round.id}"))


def test_the_same_receipt_sent_twice_records_the_cash_once(client, auth):
    w, statement = _closed_world()
    auth.login(w.worker.email)
    assert _pay(client, w, statement, "2", "R-7").status_code == 303
    again = _pay(client, w, statement, "2", "R-7")
    assert again.status_code == 400
    assert "That receipt number is already recorded." in page(again)
    db.session.refresh(statement)
    assert statement.paid_pence == 200 and count(CashPayment) == 1


def test_more_than_is_owed_is_refused_and_nothing_is_recorded(client, auth):
    w, statement = _closed_world()
    auth.login(w.organiser.email)
    response = _pay(client, w, statement, "5.01", "R-1")
    assert response.status_code == 400
    assert "That is more than they still owe." in page(response)
    for bad in ("0", "-1", "abc", "1.234"):
        assert _pay(client, w, statement, bad, "R-2").status_code == 400
    assert _pay(client, w, statement, "1", "").status_code == 400
    db.session.refresh(statement)
    assert statement.paid_pence == 0 and count(CashPayment) == 0


def test_residents_cannot_record_cash_and_other_groups_get_404(client, auth):
    w, statement = _closed_world()
    other = factories.world(name="Elm Court", prefix="elm-")
    auth.login("r1@oak.test")
    assert _pay(client, w, statement, "5", "R-1").status_code == 403
    assert client.get(f"/organise/{w.group.id}/rounds/{w.round.id}/payments").status_code == 403
    auth.logout()
    auth.login(other.worker.email)
    assert _pay(client, w, statement, "5", "R-1").status_code == 404
    assert count(CashPayment) == 0


def test_a_zero_pence_statement_is_settled_at_close(app):
    w = factories.world(products=(("Tinned tomatoes", 12, 1000),))
    item = w.round.items[0]
    pledges.set_pledge(item, w.households[0], 3, 0, entered_by=w.residents[0], now=utcnow(),
                       max_units=999)
    db.session.commit()
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    statement = db.session.scalar(select(Statement))
    assert (statement.total_pence, statement.payment_status) == (0, "settled")


def test_the_payments_page_adds_up_what_is_owed_and_paid(client, auth):
    w, statement = _closed_world()
    auth.login(w.organiser.email)
    _pay(client, w, statement, "5", "R-1")
    text = page(client.get(f"/organise/{w.group.id}/rounds/{w.round.id}/payments"))
    assert ("Households owe £10 in all. Paid so far: £5 (cards £0, cash £5). "
            "Still to pay: £5.") in text
    assert "Not paid: £5" in text
    assert "In cash: £5." in text
    assert "Card payments are not set up here: cash only." in text


def test_a_worker_finds_the_payments_page_from_their_home_page(client, auth):
    w, _statement = _closed_world()
    auth.login(w.worker.email)
    home = page(client.get("/"))
    assert f"/organise/{w.group.id}/rounds/{w.round.id}/payments" in home
    auth.logout()
    auth.login("r1@oak.test")
    assert "/payments" not in page(client.get("/"))
