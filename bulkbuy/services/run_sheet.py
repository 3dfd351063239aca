"""The drop-in run sheet: who the worker at a drop-in can expect, and what for.

A household is expected when, in a round of the group still being collected (closed,
ordered or delivered), it has money still to pay, cash the group owes it back, a bill
the delivery changed ("your bill changed" notices), or a bag to collect (a delivered
round, its bag not yet collected or given away); or it has credit kept for it; or it
needs its slips on paper (services/slips.py) for a round open or being collected. Each
row says what, with the slips to hand over. A fixed number of queries, however many
households.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import exists, select

from bulkbuy.domain.drop_ins import DropInTime
from bulkbuy.domain.labels import natural_key
from bulkbuy.domain.statuses import COLLECTING_ROUNDS, OPEN_TO_PAYMENT, RoundStatus
from bulkbuy.extensions import db
from bulkbuy.models import (
    BagHandover,
    DeliveryNotice,
    Group,
    Household,
    PledgeLine,
    Round,
    Statement,
    StatementLine,
)
from bulkbuy.services import credits, delivery, drop_ins, slips


@dataclass(frozen=True)
class RoundMoney:
    """One round's money for the household: still to pay, or owed back to it."""

    round: Round
    statement: Statement
    still_to_pay_pence: int = 0
    owed_back_pence: int = 0


@dataclass(frozen=True)
class BillChanged:
    """A round whose bill the delivery changed, with what changed in words."""

    round: Round
    changes: list[tuple[str, int]]


@dataclass
class Expected:
    """One household the worker can expect, and everything waiting for it."""

    household: Household
    needs_paper: bool = False
    money: list[RoundMoney] = field(default_factory=list)
    bill_changed: list[BillChanged] = field(default_factory=list)
    bags: list[Round] = field(default_factory=list)
    credit_pence: int = 0
    #: Rounds whose printed slip to hand over (households on paper only).
    slips: list[Round] = field(default_factory=list)

    @property
    def still_to_pay_pence(self) -> int:
        return sum(m.still_to_pay_pence for m in self.money)

    @property
    def owed_back_pence(self) -> int:
        return sum(m.owed_back_pence for m in self.money)

    @property
    def anything(self) -> bool:
        return bool(self.money or self.bill_changed or self.bags or self.credit_pence
                    or self.slips)


@dataclass(frozen=True)
class RunSheet:
    group: Group
    #: The next drop-in (or the one under way), when the group has any.
    drop_in: DropInTime | None
    households: list[Expected]
    rounds: list[Round]

    @property
    def still_to_pay_pence(self) -> int:
        return sum(h.still_to_pay_pence for h in self.households)

    @property
    def owed_back_pence(self) -> int:
        return sum(h.owed_back_pence for h in self.households)


def run_sheet(group: Group, now: datetime) -> RunSheet:
    """Who to expect at the group's drop-ins (see the module's docstring), households in
    natural order of labels, with the next drop-in. About ten queries, whatever the
    number of households or rounds."""
    rounds = list(db.session.scalars(
        select(Round).where(Round.group_id == group.id,
                            Round.status.in_([RoundStatus.OPEN, *COLLECTING_ROUNDS]))
        .order_by(Round.closes_at, Round.id)))
    by_id = {r.id: r for r in rounds}
    collecting = [r.id for r in rounds if r.status in COLLECTING_ROUNDS]
    open_ids = [r.id for r in rounds if r.status == RoundStatus.OPEN]
    expected: dict[int, Expected] = {}

    def row(household: Household, paper: bool) -> Expected:
        if household.id not in expected:
            expected[household.id] = Expected(household, needs_paper=paper)
        return expected[household.id]

    has_goods = exists().where(StatementLine.statement_id == Statement.id,
                               StatementLine.units > 0)
    statements = db.session.execute(
        select(Statement, Household, slips.needs_paper().label("paper"),
               has_goods.label("goods"))
        .join(Household, Statement.household_id == Household.id)
        .where(Statement.round_id.in_(collecting), Household.removed_at.is_(None))
    ).all() if collecting else []
    delivered = [r for r in collecting if by_id[r].status == RoundStatus.DELIVERED]
    handed = {(round_id, household_id) for round_id, household_id in db.session.execute(
        select(BagHandover.round_id, BagHandover.household_id)
        .where(BagHandover.round_id.in_(delivered), BagHandover.status != "kept"))
    } if delivered else set()
    noticed = set(db.session.scalars(
        select(DeliveryNotice.statement_id).join(
            Statement, DeliveryNotice.statement_id == Statement.id)
        .where(Statement.round_id.in_(collecting)))) if collecting else set()
    changes = delivery.changes_by_statement(sorted(noticed))
    for statement, household, paper, goods in statements:
        rnd = by_id[statement.round_id]
        rest = statement.total_pence - statement.paid_pence
        money = None
        if statement.owed_back_pence > 0:
            money = RoundMoney(rnd, statement, owed_back_pence=statement.owed_back_pence)
        elif statement.payment_status in OPEN_TO_PAYMENT and rest > 0:
            money = RoundMoney(rnd, statement, still_to_pay_pence=rest)
        bag = (rnd.status == RoundStatus.DELIVERED and goods
               and (rnd.id, household.id) not in handed)
        changed = statement.id in noticed
        if not (money or bag or changed or paper):
            continue
        found = row(household, bool(paper))
        if money:
            found.money.append(money)
        if bag:
            found.bags.append(rnd)
        if changed:
            found.bill_changed.append(BillChanged(rnd, changes.get(statement.id, [])))
        if paper:
            found.slips.append(rnd)
    if open_ids:
        for household, round_id in db.session.execute(
            select(Household, PledgeLine.round_id).distinct()
            .join(PledgeLine, PledgeLine.household_id == Household.id)
            .where(PledgeLine.round_id.in_(open_ids), Household.removed_at.is_(None),
                   slips.needs_paper())
        ).all():
            row(household, True).slips.append(by_id[round_id])
    balances = credits.balances(
        db.session.scalars(select(Household.id).where(Household.group_id == group.id)))
    if balances:
        for household in db.session.scalars(
                select(Household).where(Household.id.in_(list(balances)))):
            if household.removed_at is None:
                row(household, False).credit_pence = balances[household.id]
    if expected:
        paper = set(db.session.scalars(select(Household.id).where(
            Household.id.in_(list(expected)), slips.needs_paper())))
        for household_id, found in expected.items():
            found.needs_paper = household_id in paper
    order = {r.id: n for n, r in enumerate(rounds)}
    households = sorted((e for e in expected.values() if e.anything),
                        key=lambda e: (natural_key(e.household.label), e.household.id))
    for e in households:
        e.slips.sort(key=lambda r: order[r.id])
    times = drop_ins.upcoming(group.id, now, limit=1)
    return RunSheet(group, times[0] if times else None, households, rounds)

