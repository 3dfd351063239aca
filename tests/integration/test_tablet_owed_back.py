"""At the tablet, a household whose delivery came short is told what changed, and what
the group owes it of the cash it paid; it chooses, with the helper, cash back now or a
credit off its next bill, the helper's password confirming (issue #14).

The world (test_delivery._short_cash_world): Flats 1 and 2 six tins each; Flat 2 paid
£5 cash; two tins came damaged, so Flat 2 gets 4 (£3.33) and is owed £1.67 back."""

from __future__ import annotations

import json

from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, CashReturn, HouseholdCredit, Statement, utcnow
from bulkbuy.services import credits, tablet
from tests import factories
from tests.integration.test_delivery import _short_cash_world, save
from tests.integration.test_tablet import NOT_HELPER, PINS, start_tablet, take_turn
from tests.pages import count, page

CHANGED = "2 of 6 Tinned tomatoes did not arrive or came damaged: −£1.67"
OWED = "We owe you £1.67 of the cash you paid."
CREDIT = "You have £1.67 kept for your next order. It comes off your next bill by itself."


def _at_the_tablet(client, auth, turn_of: int = 1):
    """The short-cash world with PINs; the worker started the tablet and Flat
    `turn_of + 1` is taking its turn. Returns (world, Flat 2's statement id, session)."""
    w, statement_id = _short_cash_world()
    for home, pin in zip(w.households, PINS, strict=True):
        tablet.set_pin(home, pin, actor=w.organiser, now=utcnow())
    db.session.commit()
    session = start_tablet(client, auth, w)
    take_turn(client, w.households[turn_of], PINS[turn_of])
    return w, statement_id, session


def _settle(client, statement_id, choice, password=factories.PASSWORD):
    return client.post("/tablet/owed-back", data={
        "statement_id": str(statement_id), "choice": choice, "password": password})


def _written() -> dict[str, int]:
    return {m.__name__: count(m) for m in (HouseholdCredit, CashReturn, AuditEntry)}


def _owed_back(statement_id: int) -> int:
    db.session.expire_all()
    return db.session.get(Statement, statement_id).owed_back_pence


def _audited(action: str) -> list[tuple[int, int, int]]:
    """(actor, household, tablet session) of each audit entry of `action`."""
    db.session.expire_all()
    return [(e.actor_id, e.household_id, json.loads(e.details)["tablet_session_id"])
            for e in db.session.scalars(select(AuditEntry).where(AuditEntry.action == action))]


def test_a_household_told_what_changed_keeps_what_it_is_owed_as_an_audited_credit(
        client, auth):
    w, statement_id, session = _at_the_tablet(client, auth)
    shown = page(client.get("/tablet/order"))
    assert shown.count(CHANGED) == 1 and shown.count(OWED) == 1
    assert "Hand back £1.67 cash now" in shown and "Keep £1.67 for my next order" in shown
    # Paid in full, and nothing kept for a next order yet.
    assert "To pay" not in shown and "kept for your next order. It comes" not in shown

    response = _settle(client, statement_id, "credit")

    assert response.status_code == 303 and response.headers["Location"] == "/tablet/order"
    assert [(c.household_id, c.amount_pence, c.reason, c.statement_id, c.recorded_by_id)
            for c in db.session.scalars(select(HouseholdCredit))] == [
        (w.households[1].id, 167, "owed_back", statement_id, w.worker.id)]
    assert _audited("credit.kept") == [(w.worker.id, w.households[1].id, session.id)]
    assert (_owed_back(statement_id), count(CashReturn)) == (0, 0)
    shown = page(client.get("/tablet/order"))
    assert "Kept for your next order: £1.67." in shown
    assert CREDIT in shown and OWED not in shown
    assert CHANGED in shown  # what changed still says why

    assert _settle(client, statement_id, "credit").status_code == 303  # sent twice
    assert "Nothing is owed back to this household for this round." in page(
        client.get("/tablet/order"))
    assert credits.balance(w.households[1].id) == 167

    # The next household at the tablet sees nothing of this one.
    assert client.post("/tablet/done", data={"reason": "done"}).status_code == 303
    take_turn(client, w.households[0], PINS[0])
    shown = page(client.get("/tablet/order"))
    for words in (CREDIT, OWED, CHANGED, "£1.67", "Kept for your next order"):
        assert words not in shown


def test_a_household_that_got_nothing_is_owed_all_its_cash_and_can_have_it_back(
        client, auth):
    """Nothing of Flat 2's tins came at all (a second save): it has no goods to collect,
    and the group holds all £5 it paid; handed back in cash, once, audited."""
    w, statement_id, session = _at_the_tablet(client, auth)
    save(w, {"Tinned tomatoes": (6, 0)})
    shown = page(client.get("/tablet/order"))
    assert "Money we owe you" in shown and "Your deliveries" not in shown
    assert "We owe you £5 of the cash you paid." in shown
    assert CHANGED in shown  # each save's change, in turn
    assert "4 of 4 Tinned tomatoes did not arrive or came damaged: −£3.33" in shown

    assert _settle(client, statement_id, "cash").status_code == 303

    assert [(r.statement_id, r.amount_pence, r.recorded_by_id)
            for r in db.session.scalars(select(CashReturn))] == [
        (statement_id, 500, w.worker.id)]
    assert _audited("cash.owed_back_returned") == [
        (w.worker.id, w.households[1].id, session.id)]
    assert (_owed_back(statement_id), count(HouseholdCredit)) == (0, 0)
    shown = page(client.get("/tablet/order"))
    assert "Recorded: £5 handed back in cash." in shown
    assert "We owe you" not in shown and "kept for your next order. It comes" not in shown


def test_a_wrong_password_or_no_choice_writes_nothing(client, auth):
    _w, statement_id, _session = _at_the_tablet(client, auth)
    before = _written()

    for choice, password, message in (
        ("credit", "wrong-password", NOT_HELPER),
        ("cash", "", NOT_HELPER),
        ("both", factories.PASSWORD, "Choose cash back now, or keep it for the next order."),
    ):
        response = _settle(client, statement_id, choice, password)
        assert response.headers["Location"] == f"/tablet/order#owed-back-{statement_id}"
        shown = page(client.get("/tablet/order"))
        assert message in shown and OWED in shown

    assert _written() == before
    assert _owed_back(statement_id) == 167


def test_another_households_bill_is_refused_and_nothing_of_it_is_shown(client, auth):
    w, statement_id, _session = _at_the_tablet(client, auth, turn_of=0)  # Flat 1's turn
    before = _written()

    shown = page(client.get("/tablet/order"))
    assert OWED not in shown and "£1.67" not in shown and CHANGED not in shown
    for sent in (str(statement_id), "abc"):
        response = _settle(client, sent, "credit")
        assert response.headers["Location"] == "/tablet/order"
        assert "We could not find that bill." in page(client.get("/tablet/order"))

    assert _written() == before
    assert _owed_back(statement_id) == 167 and credits.balance(w.households[1].id) == 0
