"""Pledge through the real service, and check a closed round the way an auditor would."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, PledgeLine, Round, RoundItem, Statement, StatementLine
from bulkbuy.services import pledges
from tests.factories import World


def item_named(rnd: Round, name: str) -> RoundItem:
    return next(item for item in rnd.items if item.name == name)


def pledge(w: World, who: int, item_name: str, quantity: int, tolerance: int = 0, *,
           now: datetime, rnd: Round | None = None) -> None:
    """Resident number `who` (0-based) sets their pledge for `item_name`, and it is committed."""
    rnd = rnd or w.round
    pledges.set_pledge(
        item_named(rnd, item_name), w.households[who], quantity, tolerance,
        entered_by=w.residents[who], now=now, max_units=999,
    )
    db.session.commit()


def statements_of(round_id: int) -> dict[int, Statement]:
    """Statements of the round by household id, read afresh from the database."""
    return {
        s.household_id: s
        for s in db.session.scalars(
            select(Statement).where(Statement.round_id == round_id)
            .execution_options(populate_existing=True)
        )
    }


def count_rows(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def closed_audits(round_id: int) -> int:
    return count_rows(AuditEntry, AuditEntry.action == "round.closed",
                      AuditEntry.subject_type == "Round", AuditEntry.subject_id == round_id)


def assert_statements_consistent(round_id: int) -> None:
    """Everything a closed round's statements promise, checked against its pledges.

    - one statement per household that pledged, and no other;
    - per product: units handed out = cases × case size, amounts = cases × case price;
    - per line: asked-for figures match the pledge lines; units within quantity + tolerance;
    - per statement: goods = its lines, total = goods + fee;
    - all statements together = supplier goods total + the delivery fee (none if nothing
      was received), and the round's goods_total_pence says the same.
    """
    db.session.expire_all()
    rnd = db.session.get(Round, round_id)
    assert rnd.status == "closed"
    items = {i.id: i for i in db.session.scalars(
        select(RoundItem).where(RoundItem.round_id == round_id))}
    asked: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for line in db.session.scalars(select(PledgeLine).where(PledgeLine.round_id == round_id)):
        asked[(line.household_id, line.round_item_id)][0] += line.quantity
        asked[(line.household_id, line.round_item_id)][1] += line.tolerance
    statements = statements_of(round_id)
    assert set(statements) == {household for household, _ in asked}

    units_by_item: dict[int, int] = defaultdict(int)
    pence_by_item: dict[int, int] = defaultdict(int)
    seen_pairs = set()
    for household_id, statement in statements.items():
        lines = db.session.scalars(
            select(StatementLine).where(StatementLine.statement_id == statement.id)
        ).all()
        assert statement.goods_pence == sum(line.amount_pence for line in lines)
        assert statement.total_pence == statement.goods_pence + statement.fee_pence
        for line in lines:
            key = (household_id, line.round_item_id)
            seen_pairs.add(key)
            assert [line.quantity, line.tolerance] == asked[key]
            assert 0 <= line.tolerance_units <= line.tolerance
            assert line.units - line.tolerance_units <= line.quantity
            units_by_item[line.round_item_id] += line.units
            pence_by_item[line.round_item_id] += line.amount_pence
        if not any(line.units for line in lines):
            assert statement.total_pence == 0
    assert seen_pairs == set(asked)

    goods_total = 0
    for item in items.values():
        assert item.cases_ordered is not None
        assert units_by_item[item.id] == item.cases_ordered * item.case_size
        assert pence_by_item[item.id] == item.cases_ordered * item.case_price_pence
        goods_total += item.cases_ordered * item.case_price_pence
    assert rnd.goods_total_pence == goods_total
    fee = rnd.delivery_fee_pence if any(units_by_item.values()) else 0
    assert sum(s.total_pence for s in statements.values()) == goods_total + fee
