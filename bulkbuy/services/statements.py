"""Reading what a close wrote: the supplier order sheet and households' statements.

Each function costs a fixed number of queries, however many households.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from flask_babel import gettext
from sqlalchemy import func, select

from bulkbuy.domain.explain import explain_line
from bulkbuy.domain.labels import natural_key
from bulkbuy.domain.savings import Saving, round_saving, saving
from bulkbuy.extensions import db
from bulkbuy.models import Household, PledgeLine, Round, RoundItem, Statement, StatementLine
from bulkbuy.services import delivery


@dataclass(frozen=True)
class OrderLine:
    item: RoundItem
    cases: int
    line_total_pence: int


@dataclass(frozen=True)
class OrderSheet:
    round: Round
    lines: list[OrderLine]
    goods_total_pence: int
    fee_pence: int

    @property
    def grand_total_pence(self) -> int:
        return self.goods_total_pence + self.fee_pence


def order_sheet(rnd: Round) -> OrderSheet:
    """Cases per product to order from the supplier, with prices and totals (closed rounds)."""
    items = db.session.scalars(
        select(RoundItem).where(RoundItem.round_id == rnd.id,
                                RoundItem.substitute_for_id.is_(None))
        .order_by(RoundItem.name)
    ).all()
    lines = [
        OrderLine(item, item.cases_ordered or 0, (item.cases_ordered or 0) * item.case_price_pence)
        for item in items
    ]
    goods = sum(line.line_total_pence for line in lines)
    ordered_anything = goods > 0 or any(line.cases for line in lines)
    return OrderSheet(rnd, lines, goods, rnd.delivery_fee_pence if ordered_anything else 0)


@dataclass(frozen=True)
class ExplainedLine:
    item: RoundItem
    line: StatementLine
    why: str


@dataclass(frozen=True)
class ExplainedStatement:
    statement: Statement
    household: Household
    lines: list[ExplainedLine]
    #: What changed when the delivery came, in words, with pence (negative: less to pay).
    changes: list[tuple[str, int]] = field(default_factory=list)
    #: What the bill saved compared with shop prices (bulkbuy.domain.savings).
    saving: Saving = field(default_factory=Saving)


def statements_for(rnd: Round, household_id: int | None = None) -> list[ExplainedStatement]:
    """Statements of a closed round (all, or one household's), each line with its reason."""
    query = (
        select(Statement, Household)
        .join(Household, Statement.household_id == Household.id)
        .where(Statement.round_id == rnd.id)
    )
    if household_id is not None:
        query = query.where(Statement.household_id == household_id)
    # Numbers in labels in number order ("Flat 2" before "Flat 10").
    rows = sorted(db.session.execute(query).all(),
                  key=lambda row: (natural_key(row[1].label), row[1].id))
    if not rows:
        return []
    items = {
        item.id: item
        for item in db.session.scalars(select(RoundItem).where(RoundItem.round_id == rnd.id))
    }
    totals = dict(
        db.session.execute(
            select(PledgeLine.round_item_id, func.sum(PledgeLine.quantity))
            .where(PledgeLine.round_id == rnd.id)
            .group_by(PledgeLine.round_item_id)
        ).all()
    )
    changes = delivery.changes_by_statement([statement.id for statement, _ in rows]) \
        if rnd.delivery_version else {}
    at_close = delivery.units_at_close([statement.id for statement, _ in rows]) \
        if rnd.delivery_version else {}
    lines_by_statement: dict[int, list[StatementLine]] = defaultdict(list)
    for line in db.session.scalars(
        select(StatementLine).where(
            StatementLine.statement_id.in_([statement.id for statement, _ in rows])
        )
    ):
        lines_by_statement[line.statement_id].append(line)
    result = []
    for statement, household in rows:
        explained = []
        ordered = sorted(
            lines_by_statement[statement.id], key=lambda x: items[x.round_item_id].name
        )
        for line in ordered:
            item = items[line.round_item_id]
            if item.substitute_for_id is not None:
                replaced = items[item.substitute_for_id].name
                explained.append(ExplainedLine(item, line, gettext(
                    "Sent by the supplier instead of %(name)s", name=replaced)))
                continue
            close_units = at_close.get((statement.id, item.id), line.units)
            why = explain_line(
                asked=line.quantity, offered_extra=line.tolerance, units=close_units,
                extra_units=line.tolerance_units, case_size=item.case_size,
                cases=item.cases_ordered or 0, total_asked=int(totals.get(item.id, 0)),
                max_cases=item.max_cases, allocation_mode=rnd.allocation_mode, gettext=gettext,
            )
            if close_units != line.units:
                why = gettext("At close you were to get %(n)s. The delivery changed "
                              "this: see below.", n=close_units)
            explained.append(ExplainedLine(item, line, why))
        result.append(ExplainedStatement(
            statement, household, explained, changes.get(statement.id, []),
            saving((line.units, line.amount_pence, items[line.round_item_id].retail_price_pence)
                   for line in lines_by_statement[statement.id])))
    return result


def savings_of(statement_ids: list[int]) -> dict[int, Saving]:
    """What each of these bills saved compared with shop prices (the shop prices its
    round's products had when the round opened): one query, none without bills. Every
    id given is in the answer."""
    found: dict[int, list[tuple[int, int, int | None]]] = {i: [] for i in statement_ids}
    if statement_ids:
        for statement_id, units, amount, shop in db.session.execute(
            select(StatementLine.statement_id, StatementLine.units, StatementLine.amount_pence,
                   RoundItem.retail_price_pence)
            .join(RoundItem, StatementLine.round_item_id == RoundItem.id)
            .where(StatementLine.statement_id.in_(statement_ids))
        ):
            found[statement_id].append((units, amount, shop))
    return {statement_id: saving(lines) for statement_id, lines in found.items()}


def round_saving_of(rnd: Round) -> Saving:
    """What the round's bills saved together compared with shop prices (the sum of
    each household's saving): one query."""
    by_statement: dict[int, list[tuple[int, int, int | None]]] = defaultdict(list)
    for statement_id, units, amount, shop in db.session.execute(
        select(StatementLine.statement_id, StatementLine.units, StatementLine.amount_pence,
               RoundItem.retail_price_pence)
        .join(RoundItem, StatementLine.round_item_id == RoundItem.id)
        .where(RoundItem.round_id == rnd.id)
    ):
        by_statement[statement_id].append((units, amount, shop))
    return round_saving(saving(lines) for lines in by_statement.values())


def total_saving(explained: list[ExplainedStatement]) -> Saving:
    """What these statements (statements_for's) saved together; no query."""
    return round_saving(s.saving for s in explained)
