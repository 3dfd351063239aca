"""Closing a round at its deadline: cases, units, statements — once, in one transaction.

`close_round` locks the round with a guarded UPDATE that only matches an
open round past its deadline, so of any number of racing closers (threads,
processes, a second scheduler) exactly one does the work; the others match
nothing. Everything it writes is in the caller's transaction: if the
process dies before the commit, nothing of the close is kept and the round
is still open, so the next sweep closes it whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, insert, select, update

from bulkbuy.domain.allocation import PledgeLine as DomainLine
from bulkbuy.domain.outcome import ItemInput, RoundOutcome, work_out_round
from bulkbuy.domain.payment_states import STATEMENT
from bulkbuy.extensions import db
from bulkbuy.models import PledgeLine, Round, RoundItem, Statement, StatementLine
from bulkbuy.services import audit, credits, impact, notifications, solidarity, time_credits


@dataclass(frozen=True)
class CloseResult:
    round_id: int
    status: str  # "closed" or "failed"
    goods_total_pence: int
    households: int


def due_round_ids(now: datetime) -> list[int]:
    """Ids of open rounds whose deadline has passed, oldest deadline first."""
    return list(
        db.session.scalars(
            select(Round.id)
            .where(Round.status == "open", Round.closes_at <= now)
            .order_by(Round.closes_at, Round.id)
        )
    )


def outcome_if_closed(
    rnd: Round, items: Sequence[RoundItem], lines_by_item: Mapping[int, Sequence[DomainLine]]
) -> RoundOutcome:
    """Cases, units and pence for `items` of `rnd` as if it closed now, by the round's
    own fee split and allocation mode (no minimum order check)."""
    return work_out_round(
        [
            ItemInput(i.id, i.case_size, i.case_price_pence, lines_by_item.get(i.id, ()),
                      i.max_cases)
            for i in items
        ],
        rnd.delivery_fee_pence,
        fee_mode=rnd.fee_split,
        allocation_mode=rnd.allocation_mode,
    )


def _lock_due_round(round_id: int, now: datetime) -> bool:
    result = db.session.execute(
        update(Round)
        .where(Round.id == round_id, Round.status == "open", Round.closes_at <= now)
        .values(pledge_version=Round.pledge_version + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def close_round(round_id: int, now: datetime) -> CloseResult | None:
    """Close one round if it is open and past its deadline; None if there is nothing to do.

    Writes cases per product, one statement per household that pledged
    (lines per product, fee share, total) and queues the result e-mails;
    or, when the goods total is below the round's minimum order value,
    marks it failed (no statements, nobody owes anything) and queues the
    "did not go ahead" e-mails. The caller commits.
    """
    if not _lock_due_round(round_id, now):
        return None
    rnd = db.session.get(Round, round_id, populate_existing=True)
    items = db.session.scalars(
        select(RoundItem).where(RoundItem.round_id == round_id).order_by(RoundItem.id)
    ).all()
    # Plain rows, not ORM objects: a big round has tens of thousands of lines.
    rows = db.session.execute(
        select(PledgeLine.household_id, PledgeLine.round_item_id, PledgeLine.queue_pos,
               PledgeLine.quantity, PledgeLine.tolerance)
        .where(PledgeLine.round_id == round_id)
    ).all()
    lines_by_item: dict[int, list[DomainLine]] = defaultdict(list)
    for row in rows:
        lines_by_item[row.round_item_id].append(
            DomainLine(row.household_id, row.queue_pos, row.quantity, row.tolerance)
        )
    outcome = outcome_if_closed(rnd, items, lines_by_item)
    households = sorted({row.household_id for row in rows})

    if rnd.min_order_pence and outcome.goods_total < rnd.min_order_pence:
        _set_status(rnd, "failed", now, outcome.goods_total)
        for item in items:
            item.cases_ordered = 0
        impact.record(rnd, now)  # the impact report's totals for the round
        notifications.queue_round_failed(rnd, households)
        audit.record(
            "round.failed", actor=None, group_id=rnd.group_id, subject=rnd,
            goods_total_pence=outcome.goods_total, min_order_pence=rnd.min_order_pence,
        )
        return CloseResult(round_id, "failed", outcome.goods_total, len(households))

    _set_status(rnd, "closed", now, outcome.goods_total)
    for item in items:
        item.cases_ordered = outcome.allocations[item.id].cases
    _write_statements(rnd, items, rows, outcome, now)
    time_credits.apply_at_close(rnd, now)  # time given first: the pot never pays it
    solidarity.apply_at_close(rnd, now)  # the pot helps first, then any credit
    credits.apply_to_new_statements(rnd, now)
    solidarity.apply_gifts_at_close(rnd, now)  # gifts chosen with a card consent, within it
    impact.record(rnd, now)  # the impact report's totals, from the bills just written
    notifications.queue_round_results(rnd)
    audit.record(
        "round.closed", actor=None, group_id=rnd.group_id, subject=rnd,
        goods_total_pence=outcome.goods_total, fee_total_pence=outcome.fee_total,
        households=len(households),
    )
    return CloseResult(round_id, "closed", outcome.goods_total, len(households))


def _set_status(rnd: Round, status: str, now: datetime, goods_total: int) -> None:
    # The row is locked by this transaction; the guard is belt and braces.
    result = db.session.execute(
        update(Round)
        .where(Round.id == rnd.id, Round.status == "open")
        .values(status=status, closed_at=now, goods_total_pence=goods_total)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise RuntimeError(f"round {rnd.id} changed status while locked")
    db.session.refresh(rnd)


def _write_statements(
    rnd: Round,
    items: list[RoundItem],
    rows: Sequence[Row],
    outcome: RoundOutcome,
    now: datetime,
) -> None:
    """One statement per household that pledged and one line per product it pledged for,
    written with two bulk INSERTs (statements in household order, lines by product)."""
    asked: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    position: dict[int, int] = {}
    for row in rows:
        pair = asked[(row.household_id, row.round_item_id)]
        pair[0] += row.quantity
        pair[1] += row.tolerance
        position[row.household_id] = min(position.get(row.household_id, row.queue_pos),
                                          row.queue_pos)
    statement_rows = []
    for household_id in sorted(position):
        goods = sum(outcome.goods.get(household_id, {}).values())
        fee = outcome.fees.get(household_id, 0)
        statement_rows.append({
            "round_id": rnd.id, "household_id": household_id, "goods_pence": goods,
            "fee_pence": fee, "total_pence": goods + fee, "position": position[household_id],
            "created_at": now, "paid_pence": 0,
            # A 0p statement is settled at once: there is nothing to pay.
            "payment_status": STATEMENT.start("settled" if goods + fee == 0 else "due"),
        })
    if not statement_rows:
        return
    # Core INSERTs on the tables (executemany), skipping the ORM's per-row bookkeeping.
    statements = Statement.__table__
    statement_ids = {
        household_id: statement_id
        for household_id, statement_id in db.session.execute(
            insert(statements).returning(statements.c.household_id, statements.c.id),
            statement_rows,
        )
    }
    line_rows = []
    for item in items:
        allocation = outcome.allocations[item.id]
        for household_id in allocation.units:
            quantity, tolerance = asked[(household_id, item.id)]
            line_rows.append({
                "statement_id": statement_ids[household_id],
                "round_item_id": item.id,
                "quantity": quantity,
                "tolerance": tolerance,
                "units": allocation.units[household_id],
                "tolerance_units": allocation.tolerance_units.get(household_id, 0),
                "amount_pence": outcome.goods.get(household_id, {}).get(item.id, 0),
            })
    if line_rows:
        db.session.execute(insert(StatementLine.__table__), line_rows)
