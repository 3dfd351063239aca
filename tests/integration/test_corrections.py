"""Staff correct a mistake (issue #13, item 11): a cash entry is reversed by a new,
audited record with a reason (never deleted), a write-off is undone while nothing
depends on it, a write-off is confirmed before it is made, and each household's
receipts are listed for staff. docs/payments.md, "Correcting a mistake"."""

from __future__ import annotations

from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, CashPayment, Statement, WriteOff, utcnow
from bulkbuy.services.payments import cash as cash_service
from bulkbuy.services.payments import refunds
from tests.integration.test_cash import _closed_world, _pay
from tests.pages import count, page


def _base(w) -> str:
    return f"/organise/{w.group.id}/rounds/{w.round.id}/payments"


def _reverse_url(w, cash: CashPayment) -> str:
    return f"{_base(w)}/cash/{cash.id}/reverse"


def _receipts_url(w, household) -> str:
    return f"/organise/{w.group.id}/households/{household.id}/receipts"


def _audit(action: str) -> list[AuditEntry]:
    return db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()


def _paid_in_cash(client, auth, pounds="5", receipt="R-001"):
    w, statement = _closed_world()
    auth.login(w.worker.email)
    assert _pay(client, w, statement, pounds, receipt).status_code == 303
    cash = db.session.scalar(select(CashPayment).where(CashPayment.receipt_number == receipt))
    return w, statement, cash


def test_a_worker_reverses_a_mistaken_cash_entry_with_a_reason_and_it_is_kept(client, auth):
    w, statement, cash = _paid_in_cash(client, auth)
    db.session.refresh(statement)
    assert (statement.paid_pence, statement.payment_status) == (500, "paid")
    form = page(client.get(_reverse_url(w, cash)))
    assert "Reverse £5 cash (receipt R-001)" in form

    response = client.post(_reverse_url(w, cash), data={"reason": "Typed £5, it was £0.50"})

    assert response.status_code == 303
    assert response.headers["Location"].endswith(_receipts_url(w, w.households[0]))
    db.session.expire_all()
    assert (statement.paid_pence, statement.payment_status) == (0, "due")
    [kept] = db.session.scalars(select(CashPayment)).all()  # never deleted
    assert (kept.amount_pence, kept.reversed_by_id, kept.reversal_reason) == (
        500, w.worker.id, "Typed £5, it was £0.50")
    [entry] = _audit("cash.reversed")
    assert (entry.actor_id, entry.household_id) == (w.worker.id, w.households[0].id)
    listed = page(client.get(_receipts_url(w, w.households[0])))
    assert "Receipt R-001" in listed and "Reversed" in listed
    assert "Typed £5, it was £0.50" in listed
    payments = page(client.get(_base(w)))
    assert "Not paid: £5" in payments and "Receipts and corrections" in payments

    # The same form sent again (a double click) reverses once.
    again = client.post(_reverse_url(w, cash), data={"reason": "Typed £5, it was £0.50"})
    assert again.status_code == 400
    assert "already reversed" in page(again)
    db.session.expire_all()
    assert (statement.paid_pence, statement.payment_status) == (0, "due")
    assert len(_audit("cash.reversed")) == 1
    # The right amount is recorded again, with a new receipt number.
    assert "was on an entry that was reversed" in page(_pay(client, w, statement, "0.50",
                                                            "R-001"))
    assert _pay(client, w, statement, "0.50", "R-001b").status_code == 303


def test_a_reversal_needs_a_reason_and_changes_nothing_without_one(client, auth):
    w, statement, cash = _paid_in_cash(client, auth)

    response = client.post(_reverse_url(w, cash), data={"reason": "   "})

    assert response.status_code == 400
    assert "Enter why it is a mistake" in page(response)
    db.session.expire_all()
    assert (statement.paid_pence, statement.payment_status, cash.reversed_at) == (
        500, "paid", None)
    assert _audit("cash.reversed") == []


def test_cash_of_a_cancelled_round_is_handed_back_not_reversed(client, auth):
    w, statement, cash = _paid_in_cash(client, auth)
    refunds.cancel_closed_round(w.round, actor=w.organiser, now=utcnow())
    db.session.commit()

    response = client.post(_reverse_url(w, cash), data={"reason": "wrong flat"})

    assert response.status_code == 400
    assert "hand the cash back" in page(response)
    db.session.expire_all()
    assert (cash.reversed_at, statement.paid_pence) == (None, 500)


def test_cash_under_a_write_off_is_reversed_only_after_the_write_off_is_undone(client, auth):
    w, statement, cash = _paid_in_cash(client, auth, pounds="2")
    auth.logout()
    auth.login(w.organiser.email)
    client.post(f"{_base(w)}/{statement.id}/write-off",
                data={"reason": "group_covers", "confirm": "yes"})
    db.session.expire_all()
    assert statement.payment_status == "settled"

    refused = client.post(_reverse_url(w, cash), data={"reason": "wrong flat"})
    assert refused.status_code == 400 and "Undo the write-off first" in page(refused)

    assert client.post(f"{_base(w)}/{statement.id}/write-off/undo").status_code == 303
    assert client.post(_reverse_url(w, cash), data={"reason": "wrong flat"}).status_code == 303
    db.session.expire_all()
    assert (statement.paid_pence, statement.payment_status) == (0, "due")


def test_an_organiser_undoes_a_write_off_and_the_household_owes_again(client, auth):
    w, statement = _closed_world()
    auth.login(w.organiser.email)
    write_off = f"{_base(w)}/{statement.id}/write-off"
    client.post(write_off, data={"reason": "group_covers", "confirm": "yes"})
    assert "Undo the write-off: they owe £5 again" in page(client.get(_base(w)))

    assert client.post(f"{write_off}/undo").status_code == 303

    db.session.expire_all()
    assert (statement.payment_status, statement.paid_pence) == ("due", 0)
    [kept] = db.session.scalars(select(WriteOff)).all()
    assert kept.undone_by_id == w.organiser.id and kept.undone_at is not None
    [entry] = _audit("statement.write_off_undone")
    assert (entry.actor_id, entry.household_id) == (w.organiser.id, w.households[0].id)
    listed = page(client.get(_base(w)))
    assert "Not paid: £5" in listed and "Written off (the group covers it)" not in listed
    assert "A write-off of £5 was undone" in page(client.get(_receipts_url(w, w.households[0])))
    # Twice: once.
    client.post(f"{write_off}/undo")
    assert "no write-off to undo" in page(client.get(_base(w)))
    assert len(_audit("statement.write_off_undone")) == 1
    # Written off again: the same row is current once more.
    client.post(write_off, data={"reason": "group_covers", "confirm": "yes"})
    db.session.expire_all()
    assert statement.payment_status == "settled"
    [again] = db.session.scalars(select(WriteOff)).all()
    assert (again.id, again.undone_at) == (kept.id, None)


def test_a_write_off_is_not_undone_once_the_round_is_cancelled(client, auth):
    w, statement = _closed_world()
    auth.login(w.organiser.email)
    client.post(f"{_base(w)}/{statement.id}/write-off",
                data={"reason": "group_covers", "confirm": "yes"})
    refunds.cancel_closed_round(w.round, actor=w.organiser, now=utcnow())
    db.session.commit()

    client.post(f"{_base(w)}/{statement.id}/write-off/undo")

    db.session.expire_all()
    assert statement.payment_status == "cancelled"
    assert db.session.scalar(select(WriteOff)).undone_at is None
    assert _audit("statement.write_off_undone") == []


def test_only_organisers_undo_a_write_off(client, auth):
    w, statement = _closed_world()
    cash_service.write_off(statement, "group_covers", actor=w.organiser, now=utcnow())
    db.session.commit()
    auth.login(w.worker.email)

    assert client.post(f"{_base(w)}/{statement.id}/write-off/undo").status_code == 403
    db.session.expire_all()
    assert statement.payment_status == "settled"


def test_a_write_off_asks_first_and_only_the_yes_writes_it_off(client, auth):
    w, statement = _closed_world()
    auth.login(w.organiser.email)
    write_off = f"{_base(w)}/{statement.id}/write-off"

    asked = page(client.get(write_off + "?reason=group_covers"))
    assert "Yes, write off £5 for Flat 1" in asked and "No, go back" in asked
    # The old one-click form (no confirm) only asks too.
    posted = client.post(write_off, data={"reason": "group_covers"})
    assert posted.status_code == 200 and "Yes, write off £5 for Flat 1" in page(posted)
    db.session.expire_all()
    assert (count(WriteOff), statement.payment_status) == (0, "due")

    assert client.post(write_off, data={"reason": "group_covers", "confirm": "yes"}
                       ).status_code == 303
    db.session.expire_all()
    assert (count(WriteOff), statement.payment_status) == (1, "settled")


def test_staff_see_a_households_receipts_round_by_round(client, auth):
    w, statement, cash = _paid_in_cash(client, auth, pounds="2", receipt="R-7")
    _pay(client, w, statement, "3", "R-8")
    household = w.households[0]

    listed = page(client.get(_receipts_url(w, household)))

    assert "Receipts: Flat 1" in listed and "Test round" in listed
    assert "Receipt R-7: £2 cash" in listed and "Receipt R-8: £3 cash" in listed
    assert "taken by Walt Worker" in listed
    assert _receipts_url(w, household) in client.get(_base(w)).get_data(as_text=True)
    auth.logout()
    auth.login(w.residents[0].email)
    assert client.get(_receipts_url(w, household)).status_code in (403, 404)
    assert db.session.get(Statement, statement.id).paid_pence == 500
