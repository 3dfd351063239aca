"""The rest of issue #17 around the solidarity pot: the round-results e-mail says what
the household saved against shop prices (the statement page's sums), members see the
group's pot (never who was helped), and organisers may pay a write-off from the pot
(which never goes below zero)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import flask_babel
import pytest
from sqlalchemy import func, select

from bulkbuy.extensions import db
from bulkbuy.formatting import pence as format_pence
from bulkbuy.models import (
    AuditEntry,
    OutboxMessage,
    Round,
    RoundItem,
    SolidarityEntry,
    Statement,
    User,
    WriteOff,
    utcnow,
)
from bulkbuy.services import ServiceError, closing, solidarity, statements
from bulkbuy.services.payments import refunds
from tests import factories
from tests.conftest import make_app
from tests.integration.helpers.closing_checks import item_named, pledge, statements_of
from tests.integration.test_mail import AFTER, T0
from tests.integration.test_tablet import PINS, start_tablet, take_turn
from tests.integration.test_tablet import closed_world as tablet_world
from tests.pages import page


def _results_by_address(round_id: int) -> dict[str, str]:
    return {m.to_address: m.body for m in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.key.startswith(f"round-result:{round_id}:")))}


def test_the_round_results_say_what_each_household_saved_in_its_language(app):
    w = factories.world(residents=3, now=T0, closes_in=timedelta(days=3))
    item_named(w.round, "Tinned tomatoes").retail_price_pence = 120  # £1.20 a tin
    w.households[1].locale = "pl"
    db.session.commit()
    pledge(w, 0, "Tinned tomatoes", 8, now=T0)
    pledge(w, 1, "Tinned tomatoes", 4, now=T0)
    pledge(w, 2, "Tinned tomatoes", 0, now=T0)
    pledge(w, 2, "Rice", 25, now=T0)  # no shop price: nothing to say
    assert closing.close_round(w.round.id, AFTER).status == "closed"
    db.session.commit()

    bills = statements_of(w.round.id)
    saved = statements.savings_of([s.id for s in bills.values()])
    first, second, third = (saved[bills[h.id].id] for h in w.households)
    assert first.saved_pence == 8 * 120 - bills[w.households[0].id].lines[0].amount_pence
    assert first.saved_pence > 0 and second.saved_pence > 0 and not third.shown

    mail = _results_by_address(w.round.id)
    assert (f"You owe {format_pence(bills[w.households[0].id].total_pence)}.\n\n"
            f"You saved {format_pence(first.saved_pence)} compared with shop prices.\n\n"
            "See the details:") in mail["r1@oak.test"]
    assert "W porównaniu z cenami w sklepie oszczędzasz" in mail["r2@oak.test"]
    with flask_babel.force_locale("pl"):
        assert format_pence(second.saved_pence) in mail["r2@oak.test"]
    assert "shop prices" not in mail["r3@oak.test"]


def test_a_dearer_bill_says_so_and_products_without_a_shop_price_are_named(app):
    w = factories.world(residents=1, now=T0, closes_in=timedelta(days=3))
    item_named(w.round, "Tinned tomatoes").retail_price_pence = 50  # cheaper in the shop
    db.session.commit()
    pledge(w, 0, "Tinned tomatoes", 12, now=T0)
    pledge(w, 0, "Rice", 25, now=T0)
    closing.close_round(w.round.id, AFTER)
    db.session.commit()

    body = _results_by_address(w.round.id)["r1@oak.test"]
    assert ("This cost £4 more than shop prices. Some products have no shop price, so "
            "they are left out.") in body
    assert db.session.get(RoundItem, item_named(w.round, "Rice").id).retail_price_pence is None


def test_members_see_the_pot_on_my_orders_but_never_who_was_helped(app, client, auth):
    w = factories.world(residents=2)
    helped = w.households[1]
    helped.label = "Flat Helped-42"
    solidarity.record_donation(w.group, 5000, "Grant from the council", actor=w.organiser,
                               now=utcnow())
    db.session.add(SolidarityEntry(group_id=w.group.id, amount_pence=-1234,
                                   reason="round_help", household_id=helped.id,
                                   recorded_at=utcnow()))
    db.session.commit()

    auth.login(w.residents[0].email)
    page = client.get("/my-orders").get_data(as_text=True)

    assert f'id="pot-{w.group.id}"' in page
    assert "In the pot now: £37.66" in page
    assert "Money in so far: £50. Money out so far: £12.34." in page
    assert "Flat Helped-42" not in page and "Grant from the council" not in page


def test_no_pot_section_for_a_group_whose_pot_never_had_money(app, client, auth):
    w = factories.world(residents=1)
    auth.login(w.residents[0].email)
    page = client.get("/my-orders").get_data(as_text=True)
    assert f'id="pot-{w.group.id}"' not in page
    assert solidarity.totals_of([w.group.id]) == {}
    assert solidarity.totals_of([]) == {}


# --- a write-off paid from the pot ----------------------------------------------------------

TINS = ("Tinned tomatoes", 12, 1000)


def closed_tins(households: int = 3) -> tuple[factories.World, list[Statement]]:
    """Each household pledges 4 tins (of 12 a box, £10 a box), and the round closes: the
    bills are £3.33, £3.33, £3.34."""
    w = factories.world(residents=households, products=(TINS,))
    for number in range(households):
        pledge(w, number, "Tinned tomatoes", 4, now=utcnow())
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    bills = statements_of(w.round.id)
    return w, [bills[h.id] for h in w.households]


def pot_entries(group_id: int) -> list[tuple[str, int, int | None]]:
    return [tuple(row) for row in db.session.execute(
        select(SolidarityEntry.reason, SolidarityEntry.amount_pence,
               SolidarityEntry.statement_id)
        .where(SolidarityEntry.group_id == group_id).order_by(SolidarityEntry.id))]


def write_off_url(w, statement) -> str:
    return (f"/organise/{w.group.id}/rounds/{w.round.id}/payments/{statement.id}"
            "/write-off")


def test_an_organiser_pays_a_write_off_from_the_pot_and_a_cancel_gives_it_back(
        app, client, auth):
    w, (first, *_rest) = closed_tins()
    solidarity.record_donation(w.group, 500, None, actor=w.organiser, now=utcnow())
    db.session.commit()
    auth.login(w.organiser.email)

    page = client.get(write_off_url(w, first) + "?reason=group_covers").get_data(as_text=True)
    assert "Pay it from the solidarity pot: £3.33 for Flat 1" in page
    answer = client.post(write_off_url(w, first), data={
        "reason": "group_covers", "confirm": "yes", "from_pot": "yes"})
    assert answer.status_code == 303

    db.session.expire_all()
    bill = db.session.get(Statement, first.id)
    assert (bill.payment_status, bill.paid_pence, bill.pot_pence) == ("paid", 333, 333)
    assert pot_entries(w.group.id) == [("donation", 500, None), ("write_off", -333, first.id)]
    assert solidarity.balance(w.group.id) == 167
    assert db.session.scalar(select(WriteOff).where(WriteOff.statement_id == first.id)) is None
    assert db.session.scalar(select(AuditEntry).where(
        AuditEntry.action == "solidarity.write_off")).household_id == w.households[0].id

    # Twice: nothing is owed any more, nothing more leaves the pot.
    client.post(write_off_url(w, first), data={"reason": "group_covers", "confirm": "yes",
                                                "from_pot": "yes"})
    assert solidarity.balance(w.group.id) == 167

    refunds.cancel_closed_round(db.session.get(Round, w.round.id), actor=w.organiser,
                                now=utcnow())
    db.session.commit()
    assert solidarity.balance(w.group.id) == 500


def test_the_pot_option_is_offered_only_when_the_pot_covers_it_and_never_overdraws(
        app, client, auth):
    w, (first, second, _third) = closed_tins()
    solidarity.record_donation(w.group, 400, None, actor=w.organiser, now=utcnow())
    db.session.commit()
    auth.login(w.organiser.email)
    client.post(write_off_url(w, first), data={"reason": "group_covers", "confirm": "yes",
                                                "from_pot": "yes"})
    assert solidarity.balance(w.group.id) == 67

    page = client.get(write_off_url(w, second) + "?reason=group_covers").get_data(as_text=True)
    assert "Pay it from the solidarity pot" not in page
    with pytest.raises(ServiceError, match="has £0.67, not enough to pay £3.33"):
        solidarity.pay_write_off(second, actor=w.organiser, now=utcnow())
    db.session.rollback()
    assert db.session.get(Statement, second.id).payment_status == "due"
    assert solidarity.balance(w.group.id) == 67


@pytest.mark.postgres_only
def test_two_write_offs_from_the_pot_at_once_never_take_it_below_zero(
        postgresql_url, monkeypatch):
    """Both read the balance under the group's row lock: the second waits for the first,
    then sees it cannot pay (PostgreSQL, real threads, a session each)."""
    pg_app = make_app(postgresql_url, SQLALCHEMY_ENGINE_OPTIONS={
        "pool_size": 6, "max_overflow": 0,
        "connect_args": {"options": "-c lock_timeout=20s"}})
    real_balance = solidarity.balance

    def slow_balance(group_id):
        held = real_balance(group_id)
        time.sleep(0.3)  # both surely between reading and writing, but for the lock
        return held

    try:
        with pg_app.app_context():
            w, (first, second, _third) = closed_tins()
            solidarity.record_donation(w.group, 500, None, actor=w.organiser, now=utcnow())
            db.session.commit()
            group_id, organiser_id = w.group.id, w.organiser.id
            ids = [first.id, second.id]
            db.session.remove()
        monkeypatch.setattr(solidarity, "balance", slow_balance)
        start = threading.Barrier(2)
        answers: list[str] = []

        def pay(statement_id: int) -> None:
            with pg_app.app_context():
                start.wait(timeout=30)
                try:
                    solidarity.pay_write_off(db.session.get(Statement, statement_id),
                                             actor=db.session.get(User, organiser_id),
                                             now=utcnow())
                    db.session.commit()
                    answers.append("paid")
                except ServiceError:
                    db.session.rollback()
                    answers.append("refused")
                finally:
                    db.session.remove()

        threads = [threading.Thread(target=pay, args=(i,)) for i in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads), "a write-off hung"
        monkeypatch.undo()
        assert sorted(answers) == ["paid", "refused"]
        with pg_app.app_context():
            assert solidarity.balance(group_id) == 500 - 333
            assert db.session.scalar(select(func.count()).select_from(SolidarityEntry).where(
                SolidarityEntry.reason == "write_off")) == 1
    finally:
        with pg_app.app_context():
            db.session.remove()
            db.engine.dispose()


# --- a gift with cash at the tablet --------------------------------------------------------


def test_cash_at_the_tablet_takes_a_gift_for_the_pot(client, auth):
    w, mine, _theirs = tablet_world()
    start_tablet(client, auth, w)
    take_turn(client, w.households[0], PINS[0])
    assert 'id="gift-' in client.get("/tablet/order").get_data(as_text=True)

    def pay(receipt, gift):
        return client.post("/tablet/cash", data={
            "statement_id": str(mine.id), "amount": "2", "receipt": receipt,
            "password": factories.PASSWORD, "gift": gift})

    assert pay("R-1", "lots").status_code == 303  # not an amount: nothing recorded
    assert solidarity.balance(w.group.id) == 0
    assert db.session.get(Statement, mine.id).paid_pence == 0
    assert pay("R-2", "25").status_code == 303  # over the cap: nothing recorded
    assert solidarity.balance(w.group.id) == 0

    assert pay("R-3", "0.50").status_code == 303
    text = page(client.get("/tablet/order"))
    assert "And £0.50 for the solidarity pot. Thank you!" in text
    assert pot_entries(w.group.id) == [("gift", 50, mine.id)]
    db.session.expire_all()
    assert db.session.get(Statement, mine.id).paid_pence == 200

    assert pay("R-4", "").status_code == 303  # no gift this time
    assert solidarity.balance(w.group.id) == 50
