"""Packing a finished round's goods: a pick list per product and a slip per household.

Both are read from the statements' lines (the units each household gets), never worked
out again from the pledges: whatever changed those lines after the close is what is
packed, substitutes included. Each function costs a fixed number of queries, however
many households.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select

from bulkbuy.domain.labels import natural_key
from bulkbuy.domain.savings import Saving, saving
from bulkbuy.domain.statuses import StatementStatus
from bulkbuy.extensions import db
from bulkbuy.models import Household, Round, RoundItem, Statement, StatementLine
from bulkbuy.services import delivery

#: What a slip says about money (PaymentDue.state).
PAID = "paid"
NOTHING_TO_PAY = "nothing_to_pay"
STILL_TO_PAY = "still_to_pay"
OWED_BACK = "owed_back"


@dataclass(frozen=True)
class PaymentDue:
    """What a household still has to hand over, from what was actually paid.

    state is OWED_BACK (the delivery came short and the group holds owed_back_pence of
    the cash the household paid: it chooses cash back or a credit), PAID (all of it came
    in), NOTHING_TO_PAY (nothing was owed, or the rest was written off:
    written_off_pence) or STILL_TO_PAY (still_to_pay_pence = total − paid, never the
    total of a household that paid part; card_under_way while a card charge for it is
    being taken)."""

    state: str
    still_to_pay_pence: int = 0
    written_off_pence: int = 0
    card_under_way: bool = False
    owed_back_pence: int = 0


def payment_due(statement: Statement) -> PaymentDue:
    """What the statement's household still has to pay, by its payment status and the
    pence received (paid_pence); or what the group owes it back (owed_back_pence), which
    comes first: a household that overpaid is never told it still has to pay."""
    rest = statement.total_pence - statement.paid_pence
    status = statement.payment_status
    if statement.owed_back_pence > 0:
        return PaymentDue(OWED_BACK, owed_back_pence=statement.owed_back_pence)
    if status == StatementStatus.SETTLED:
        return PaymentDue(NOTHING_TO_PAY, written_off_pence=max(rest, 0))
    if status == StatementStatus.CANCELLED:
        return PaymentDue(NOTHING_TO_PAY)
    if status == StatementStatus.PAID or rest <= 0:
        return PaymentDue(PAID)
    return PaymentDue(STILL_TO_PAY, still_to_pay_pence=rest,
                      card_under_way=status == StatementStatus.CHARGING)


@dataclass(frozen=True)
class Bag:
    """One household's bag and how many units of a product go into it."""

    household: Household
    units: int


@dataclass(frozen=True)
class PickProduct:
    """A product, and the bags its units go into (households in natural order)."""

    item: RoundItem
    bags: list[Bag]

    @property
    def total_units(self) -> int:
        return sum(bag.units for bag in self.bags)

    @property
    def spare_units(self) -> int:
        """Units of the boxes ordered that go into no bag (0 when every unit is given)."""
        return max((self.item.cases_ordered or 0) * self.item.case_size - self.total_units, 0)


@dataclass(frozen=True)
class PickList:
    round: Round
    products: list[PickProduct]
    shows_blocks: bool


@dataclass(frozen=True)
class SlipLine:
    item: RoundItem
    units: int
    #: The product it was sent in place of (the item is a substitute), else None.
    instead_of: RoundItem | None = None


@dataclass(frozen=True)
class Slip:
    """What goes into one household's bag, what changed when the delivery came, and what
    it still has to pay (or is owed back)."""

    household: Household
    statement: Statement
    lines: list[SlipLine]
    payment: PaymentDue
    #: What changed when the delivery came, in plain words with pence
    #: (delivery.changes_by_statement); empty when nothing did.
    changes: list[tuple[str, int]] = field(default_factory=list)
    #: What the bag saved compared with shop prices (bulkbuy.domain.savings).
    saving: Saving = field(default_factory=Saving)


@dataclass(frozen=True)
class _Given:
    """A finished round's statements, households, items and units given, as loaded."""

    statements: list[tuple[Statement, Household]]
    items: list[RoundItem]
    units: dict[tuple[int, int], int]  # (statement id, round item id) -> units
    amounts: dict[tuple[int, int], int]  # (statement id, round item id) -> pence


def _given(rnd: Round) -> _Given:
    """Three queries: statements with households (natural order of labels), the round's
    items (the order sheet's order: by name), and the statement lines giving units."""
    rows = db.session.execute(
        select(Statement, Household)
        .join(Household, Statement.household_id == Household.id)
        .where(Statement.round_id == rnd.id)
    ).all()
    statements = sorted(((s, h) for s, h in rows),
                        key=lambda row: (natural_key(row[1].label), row[1].id))
    items = list(db.session.scalars(
        select(RoundItem).where(RoundItem.round_id == rnd.id)
        .order_by(RoundItem.name, RoundItem.id)
    ))
    units: dict[tuple[int, int], int] = {}
    amounts: dict[tuple[int, int], int] = {}
    if statements:
        for statement_id, item_id, given, pence in db.session.execute(
            select(StatementLine.statement_id, StatementLine.round_item_id, StatementLine.units,
                   StatementLine.amount_pence)
            .join(Statement, StatementLine.statement_id == Statement.id)
            .where(Statement.round_id == rnd.id, StatementLine.units > 0)
        ):
            units[(statement_id, item_id)] = given
            amounts[(statement_id, item_id)] = pence
    return _Given(statements, items, units, amounts)


def pick_list(rnd: Round) -> PickList:
    """Per product that anyone gets (in the order sheet's order), each household's bag and
    the units that go into it, households sorted naturally ("Flat 2" before "Flat 10")."""
    given = _given(rnd)
    bags: dict[int, list[Bag]] = defaultdict(list)
    for statement, household in given.statements:
        for item in given.items:
            units = given.units.get((statement.id, item.id), 0)
            if units:
                bags[item.id].append(Bag(household, units))
    products = [PickProduct(item, bags[item.id]) for item in given.items if bags[item.id]]
    shows_blocks = any(bag.household.block for product in products for bag in product.bags)
    return PickList(rnd, products, shows_blocks)


def packing_slips(rnd: Round) -> list[Slip]:
    """One slip per household that gets at least one unit, households sorted naturally:
    its products and units as its statement gives them now (the order sheet's order; a
    substitute with the product it came instead of), what changed when the delivery
    came, what it still has to pay or is owed back, and what it saved compared with shop
    prices (from the same lines: no more queries)."""
    given = _given(rnd)
    by_id = {item.id: item for item in given.items}
    slips = []
    for statement, household in given.statements:
        lines = [SlipLine(item, given.units[(statement.id, item.id)],
                          by_id.get(item.substitute_for_id) if item.substitute_for_id else None)
                 for item in given.items if (statement.id, item.id) in given.units]
        if lines:
            slips.append(Slip(household, statement, lines, payment_due(statement)))
    changes = delivery.changes_by_statement([slip.statement.id for slip in slips])
    return [Slip(slip.household, slip.statement, slip.lines, slip.payment,
                 changes.get(slip.statement.id, []),
                 saving((line.units, given.amounts[(slip.statement.id, line.item.id)],
                         line.item.retail_price_pence) for line in slip.lines))
            for slip in slips]
