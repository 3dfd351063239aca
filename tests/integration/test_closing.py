"""Closing a round at its deadline (services.closing, the sweeps and `flask close-due`),
on SQLite and PostgreSQL, through the real services.

Time is passed in (`now`), never read from the clock: the round opens at T0 and its
deadline is T0 + 3 days.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bulkbuy import sweeps
from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, OutboxMessage, PledgeLine, Round, Statement, StatementLine
from bulkbuy.services import catalogue, closing, notifications, pledges, rounds
from tests import factories
from tests.integration.helpers.closing_checks import (
    assert_statements_consistent,
    closed_audits,
    count_rows,
    item_named,
    pledge,
    statements_of,
)

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
DEADLINE = T0 + timedelta(days=3)
AFTER = DEADLINE + timedelta(minutes=1)



def make_world(**kwargs) -> factories.World:
    kwargs.setdefault("now", T0)
    kwargs.setdefault("closes_in", DEADLINE - T0)
    return factories.world(**kwargs)


def close(round_id: int, now: datetime = AFTER) -> closing.CloseResult | None:
    result = closing.close_round(round_id, now)
    db.session.commit()
    db.session.expire_all()
    return result


def lines_by_item(statement: Statement) -> dict[str, StatementLine]:
    return {line.item.name: line for line in statement.lines}


def outbox_keys(prefix: str) -> set[str]:
    return set(db.session.scalars(
        select(OutboxMessage.key).where(OutboxMessage.key.startswith(prefix))))


def test_close_orders_whole_cases_and_statements_add_up_to_supplier_total_plus_fee(app):
    w = make_world(residents=3)
    w.round.delivery_fee_pence = 750
    db.session.commit()
    pledge(w, 0, "Tinned tomatoes", 8, now=T0)
    pledge(w, 1, "Tinned tomatoes", 4, now=T0 + timedelta(hours=1))
    pledge(w, 1, "Rice", 10, now=T0 + timedelta(hours=2))
    pledge(w, 2, "Rice", 15, now=T0 + timedelta(hours=3))

    result = close(w.round.id)

    assert result == closing.CloseResult(w.round.id, "closed", 1000 + 3150, 3)
    rnd = db.session.get(Round, w.round.id)
    assert (rnd.status, rnd.closed_at, rnd.goods_total_pence) == ("closed", AFTER, 4150)
    assert {i.name: i.cases_ordered for i in rnd.items} == {"Tinned tomatoes": 1, "Rice": 1}
    statements = statements_of(rnd.id)
    first, second, third = (statements[h.id] for h in w.households)
    # Tomatoes £10 over 8 + 4 units: 666.67p / 333.33p, the remainder penny to the larger
    # fraction. Rice £31.50 over 10 + 15 units: 1260p / 1890p exactly.
    assert {n: (ln.units, ln.amount_pence) for n, ln in lines_by_item(first).items()} == {
        "Tinned tomatoes": (8, 667)}
    assert {n: (ln.units, ln.amount_pence) for n, ln in lines_by_item(second).items()} == {
        "Tinned tomatoes": (4, 333), "Rice": (10, 1260)}
    assert {n: (ln.units, ln.amount_pence) for n, ln in lines_by_item(third).items()} == {
        "Rice": (15, 1890)}
    # The £7.50 delivery by goods value: 120.54p, 287.89p, 341.57p -> 120, 288, 342.
    assert [(s.goods_pence, s.fee_pence, s.total_pence) for s in (first, second, third)] == [
        (667, 120, 787), (1593, 288, 1881), (1890, 342, 2232)]
    assert sum(s.total_pence for s in statements.values()) == 4150 + 750
    assert [s.position for s in (first, second, third)] == sorted(
        s.position for s in (first, second, third))
    assert_statements_consistent(rnd.id)
    assert closed_audits(rnd.id) == 1
    assert outbox_keys(f"round-result:{rnd.id}:") == {
        f"round-result:{rnd.id}:{u.id}" for u in w.residents}


def test_close_gives_the_later_household_what_is_left_of_the_case_and_charges_for_that(app):
    # The issue: case of 5, one household pledges 4, then another 2. One case is ordered;
    # the later household gets 1 of its 2 units and pays for 1.
    w = make_world(residents=2, products=(("Lentils", 5, 500),))
    pledge(w, 0, "Lentils", 4, now=T0)
    pledge(w, 1, "Lentils", 2, now=T0 + timedelta(minutes=5))

    close(w.round.id)

    assert item_named(db.session.get(Round, w.round.id), "Lentils").cases_ordered == 1
    statements = statements_of(w.round.id)
    early = lines_by_item(statements[w.households[0].id])["Lentils"]
    late = lines_by_item(statements[w.households[1].id])["Lentils"]
    assert (early.quantity, early.units, early.amount_pence) == (4, 4, 400)
    assert (late.quantity, late.units, late.amount_pence) == (2, 1, 100)
    assert statements[w.households[1].id].total_pence == 100
    assert_statements_consistent(w.round.id)


def test_tolerance_completes_a_case_that_quantity_started_but_never_starts_one(app):
    w = make_world(residents=3, products=(("Oats", 5, 1000), ("Flour", 4, 800)))
    pledge(w, 0, "Oats", 3, now=T0)
    pledge(w, 1, "Oats", 1, 2, now=T0 + timedelta(minutes=1))  # 4 asked, 2 more if needed
    pledge(w, 2, "Flour", 0, 3, now=T0 + timedelta(minutes=2))  # tolerance only

    close(w.round.id)

    rnd = db.session.get(Round, w.round.id)
    assert item_named(rnd, "Oats").cases_ordered == 1
    assert item_named(rnd, "Flour").cases_ordered == 0
    statements = statements_of(rnd.id)
    oats = lines_by_item(statements[w.households[1].id])["Oats"]
    assert (oats.units, oats.tolerance_units, oats.amount_pence) == (2, 1, 400)
    assert lines_by_item(statements[w.households[0].id])["Oats"].units == 3
    flour = lines_by_item(statements[w.households[2].id])["Flour"]
    assert (flour.units, flour.amount_pence) == (0, 0)
    assert statements[w.households[2].id].total_pence == 0
    assert_statements_consistent(rnd.id)


def test_a_round_with_no_pledges_closes_with_no_cases_and_no_statements(app):
    w = make_world(residents=2)
    w.round.delivery_fee_pence = 500
    db.session.commit()

    assert close(w.round.id) == closing.CloseResult(w.round.id, "closed", 0, 0)

    rnd = db.session.get(Round, w.round.id)
    assert rnd.status == "closed"
    assert rnd.goods_total_pence == 0
    assert [i.cases_ordered for i in rnd.items] == [0, 0]
    assert statements_of(rnd.id) == {}
    assert count_rows(OutboxMessage) == 0


def test_products_nobody_pledged_for_or_that_fill_no_case_order_zero_cases(app):
    w = make_world(residents=3, products=(("Rice", 25, 3150), ("Beans", 12, 900),
                                           ("Pasta", 10, 1200)))
    w.round.delivery_fee_pence = 300
    db.session.commit()
    pledge(w, 0, "Pasta", 10, now=T0)       # one full case
    pledge(w, 1, "Beans", 5, 2, now=T0)     # 7 of 12: no case
    pledge(w, 2, "Beans", 3, now=T0)        # still 8 + 2 of 12: no case
    # nobody pledges for Rice

    result = close(w.round.id)

    assert result.status == "closed"
    rnd = db.session.get(Round, w.round.id)
    assert {i.name: i.cases_ordered for i in rnd.items} == {"Rice": 0, "Beans": 0, "Pasta": 1}
    statements = statements_of(rnd.id)
    assert set(statements) == {h.id for h in w.households}
    # Households that get nothing pay nothing, not even delivery.
    for household in w.households[1:]:
        statement = statements[household.id]
        assert (statement.goods_pence, statement.fee_pence) == (0, 0)
        assert [line.units for line in statement.lines] == [0]
    assert statements[w.households[0].id].total_pence == 1200 + 300
    rice = item_named(rnd, "Rice")
    assert count_rows(StatementLine, StatementLine.round_item_id == rice.id) == 0
    assert_statements_consistent(rnd.id)


def test_below_the_minimum_order_the_round_fails_charges_nobody_and_tells_every_pledger(app):
    w = make_world(residents=3)
    w.round.min_order_pence = 5000
    w.round.delivery_fee_pence = 500
    db.session.commit()
    pledge(w, 0, "Tinned tomatoes", 12, now=T0)  # £10 of goods, below £50
    pledge(w, 1, "Rice", 3, now=T0)              # no case of rice

    result = close(w.round.id)

    assert result == closing.CloseResult(w.round.id, "failed", 1000, 2)
    rnd = db.session.get(Round, w.round.id)
    assert (rnd.status, rnd.closed_at) == ("failed", AFTER)
    assert [i.cases_ordered for i in rnd.items] == [0, 0]
    assert statements_of(rnd.id) == {}
    assert count_rows(StatementLine) == 0
    assert outbox_keys(f"round-failed:{rnd.id}:") == {
        f"round-failed:{rnd.id}:{u.id}" for u in w.residents[:2]}
    assert outbox_keys("round-result:") == set()
    assert count_rows(AuditEntry, AuditEntry.action == "round.failed") == 1
    assert closed_audits(rnd.id) == 0
    # A failed round is not closed again by a later sweep.
    assert close(rnd.id, AFTER + timedelta(hours=1)) is None


def test_close_charges_the_case_size_and_price_the_round_opened_with(app):
    w = make_world(residents=2, products=(("Lentils", 5, 500),))
    pledge(w, 0, "Lentils", 4, now=T0)
    pledge(w, 1, "Lentils", 2, now=T0)
    # The supplier's list changes after the round opened.
    product = w.products[0]
    catalogue.save_product(
        w.supplier, catalogue.ProductFields("Lentils", "unit", 6, 900), actor=w.organiser,
        product=product,
    )
    db.session.commit()

    close(w.round.id)

    rnd = db.session.get(Round, w.round.id)
    lentils = item_named(rnd, "Lentils")
    assert (lentils.case_size, lentils.case_price_pence, lentils.cases_ordered) == (5, 500, 1)
    assert rnd.goods_total_pence == 500
    statements = statements_of(rnd.id)
    assert [statements[h.id].total_pence for h in w.households] == [400, 100]
    assert_statements_consistent(rnd.id)


def test_close_before_the_deadline_does_nothing(app):
    w = make_world(residents=1)
    pledge(w, 0, "Rice", 25, now=T0)
    version = db.session.get(Round, w.round.id).pledge_version

    assert close(w.round.id, DEADLINE - timedelta(seconds=1)) is None

    rnd = db.session.get(Round, w.round.id)
    assert (rnd.status, rnd.closed_at, rnd.pledge_version) == ("open", None, version)
    assert [i.cases_ordered for i in rnd.items] == [None, None]
    assert count_rows(Statement) == 0
    assert count_rows(OutboxMessage) == 0
    assert closed_audits(rnd.id) == 0


def test_closing_twice_closes_once(app):
    w = make_world(residents=2)
    pledge(w, 0, "Rice", 20, now=T0)
    pledge(w, 1, "Rice", 5, now=T0)
    assert close(w.round.id).status == "closed"
    before = {h: (s.id, s.total_pence) for h, s in statements_of(w.round.id).items()}
    messages = count_rows(OutboxMessage)

    assert close(w.round.id) is None
    assert close(w.round.id, AFTER + timedelta(days=1)) is None

    assert {h: (s.id, s.total_pence) for h, s in statements_of(w.round.id).items()} == before
    assert count_rows(StatementLine) == 2
    assert count_rows(OutboxMessage) == messages
    assert closed_audits(w.round.id) == 1
    assert db.session.get(Round, w.round.id).closed_at == AFTER


def test_a_pledge_after_close_is_refused_and_changes_nothing(app):
    w = make_world(residents=2)
    pledge(w, 0, "Rice", 25, now=T0)
    close(w.round.id)
    item = item_named(db.session.get(Round, w.round.id), "Rice")

    # After the deadline, and even from a clock that still says it is before it.
    for now in (AFTER + timedelta(minutes=1), DEADLINE - timedelta(hours=1)):
        with pytest.raises(pledges.RoundNotOpenError):
            pledges.set_pledge(item, w.households[1], 3, 0, entered_by=w.residents[1],
                               now=now, max_units=999)
        db.session.rollback()
    with pytest.raises(pledges.RoundNotOpenError):  # nor may the first household change theirs
        pledges.set_pledge(item, w.households[0], 0, 0, entered_by=w.residents[0],
                           now=AFTER, max_units=999)
    db.session.rollback()

    lines = db.session.scalars(select(PledgeLine)).all()
    assert [(ln.household_id, ln.quantity) for ln in lines] == [(w.households[0].id, 25)]
    assert_statements_consistent(w.round.id)


def test_a_pledge_after_the_deadline_but_before_the_sweep_is_refused(app):
    w = make_world(residents=1)
    item = item_named(w.round, "Rice")
    with pytest.raises(pledges.RoundNotOpenError):
        pledges.set_pledge(item, w.households[0], 3, 0, entered_by=w.residents[0],
                           now=DEADLINE, max_units=999)
    db.session.rollback()
    assert count_rows(PledgeLine) == 0


@pytest.mark.parametrize("allocation_mode", ["first_come", "pro_rata"])
@pytest.mark.parametrize("fee_split", ["by_value", "equal"])
def test_statements_always_sum_to_the_supplier_order_plus_fee(app, allocation_mode, fee_split):
    """Many households, random pledges with tolerance, both allocation modes and fee splits."""
    chooser = random.Random(f"{allocation_mode}-{fee_split}")
    w = make_world(residents=9, products=(("Beans", 12, 995), ("Rice", 25, 3151),
                                           ("Oil", 6, 2099), ("Salt", 7, 333)))
    w.round.delivery_fee_pence = 1001
    w.round.allocation_mode = allocation_mode
    w.round.fee_split = fee_split
    db.session.commit()
    at = T0
    for _ in range(30):
        at += timedelta(minutes=7)
        who = chooser.randrange(9)
        name = chooser.choice(["Beans", "Rice", "Oil", "Salt"])
        pledge(w, who, name, chooser.randint(0, 9), chooser.choice([0, 0, 1, 3]), now=at)

    result = close(w.round.id)

    assert result.status == "closed"
    assert_statements_consistent(w.round.id)
    assert result.goods_total_pence == db.session.get(Round, w.round.id).goods_total_pence


def test_flask_close_due_closes_due_rounds_and_prints_them(app, runner):
    w = make_world(residents=2)
    pledge(w, 0, "Rice", 25, now=T0)
    later = make_world(name="Elm Estate", closes_in=timedelta(days=5))

    result = runner.invoke(args=["close-due", "--now", AFTER.isoformat()])

    assert result.exit_code == 0, result.output
    assert "closed 1 round(s)" in result.output
    assert f"round {w.round.id}: closed, goods £31.50, 1 household(s)" in result.output
    db.session.expire_all()
    assert db.session.get(Round, w.round.id).status == "closed"
    assert db.session.get(Round, later.round.id).status == "open"
    assert_statements_consistent(w.round.id)

    again = runner.invoke(args=["close-due", "--now", AFTER.isoformat()])
    assert again.exit_code == 0, again.output
    assert "closed 0 round(s)" in again.output
    assert closed_audits(w.round.id) == 1


def test_flask_close_due_refuses_a_time_without_a_zone(app, runner):
    w = make_world(residents=1)
    result = runner.invoke(args=["close-due", "--now", "2026-03-14T18:00:00"])
    assert result.exit_code != 0
    assert "time zone" in result.output
    db.session.expire_all()
    assert db.session.get(Round, w.round.id).status == "open"


def test_the_round_sweep_opens_a_scheduled_round_whose_time_has_come(app):
    w = make_world(residents=1, open_round=False)
    soon = rounds.create_round(
        w.group, w.supplier, w.products,
        rounds.RoundDetails(title="Scheduled", closes_at=DEADLINE,
                            opens_at=T0 + timedelta(hours=1)),
        created_by=w.organiser, now=T0,
    )
    later = rounds.create_round(
        w.group, w.supplier, w.products,
        rounds.RoundDetails(title="Next week", closes_at=DEADLINE + timedelta(days=7),
                            opens_at=T0 + timedelta(days=5)),
        created_by=w.organiser, now=T0,
    )
    db.session.commit()

    result = sweeps.sweep_rounds(T0 + timedelta(hours=2))

    assert (result.opened, result.closed) == (1, [])
    db.session.expire_all()
    assert db.session.get(Round, soon.id).status == "open"
    assert db.session.get(Round, later.id).status == "draft"
    # Opened, it takes pledges and the same sweep closes it after its deadline.
    pledge(w, 0, "Rice", 25, now=T0 + timedelta(hours=3), rnd=db.session.get(Round, soon.id))
    result = sweeps.sweep_rounds(AFTER)
    assert [c.round_id for c in result.closed] == [soon.id]
    assert_statements_consistent(soon.id)


def test_reminders_24_hours_before_the_deadline_go_once_to_households_without_pledges(app):
    w = make_world(residents=3)
    pledge(w, 0, "Rice", 2, now=T0)

    assert notifications.queue_reminders(DEADLINE - timedelta(hours=25)) == 0
    db.session.commit()
    assert outbox_keys("reminder:") == set()

    assert notifications.queue_reminders(DEADLINE - timedelta(hours=23)) == 1
    db.session.commit()
    keys = outbox_keys("reminder:")
    assert keys == {f"reminder:{w.round.id}:{u.id}" for u in w.residents[1:]}
    messages = db.session.scalars(select(OutboxMessage)).all()
    assert sorted(m.to_address for m in messages) == ["r2@oak.test", "r3@oak.test"]
    assert all("Test round" in m.body for m in messages)

    assert notifications.queue_reminders(DEADLINE - timedelta(hours=22)) == 0
    assert notifications.queue_reminders(DEADLINE - timedelta(hours=1)) == 0
    db.session.commit()
    assert count_rows(OutboxMessage) == 2
