"""Spare units of a delivered round: more of a product (or of its substitute) arrived
than households get, and staff sell them at the drop-in (cash at a price each, with a
paper receipt) or give them away (saying why and to whom).

What is spare is worked out as the receive page does (usable units arrived less the
units on households' statements); what is left is that less what was already sold or
given away. The cash from sales is money the group took in that is no household's bill:
the settling-up books count it on both sides of their check (services/settlement.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from bulkbuy.domain.statuses import RoundStatus
from bulkbuy.extensions import db
from bulkbuy.models import CashPayment, Round, RoundItem, SpareDisposal, User
from bulkbuy.models.spare import BUYER_MAX, REASON_MAX, RECEIPT_MAX
from bulkbuy.services import ServiceError, audit, delivery, writes

#: Rounds whose spare page can be seen; spare units are sold or given away only while
#: the round is delivered.
SHOWN_ROUNDS = (RoundStatus.DELIVERED, RoundStatus.COMPLETE)
#: Most pence one spare unit may be sold for (£1,000), and most a sale may come to.
MOST_UNIT_PENCE = 100_000
MOST_SALE_PENCE = delivery.MOST_PENCE


@dataclass(frozen=True)
class SpareLine:
    """One product (or substitute) of the round with spare units, and what became of
    them."""

    item: RoundItem
    #: For a substitute: the product it was sent instead of; None for a product ordered.
    instead_of: RoundItem | None
    #: Units in nobody's bag, as the receive page says.
    spare: int
    sold: int
    given_away: int

    @property
    def cost_each_pence(self) -> int:
        """What one unit cost as ordered, to the nearest penny (half a penny up)."""
        size = max(self.item.case_size, 1)
        return (2 * self.item.case_price_pence + size) // (2 * size)

    @property
    def left(self) -> int:
        """Spare units not yet sold or given away (0 when a later save of the delivery
        made fewer spare than were already dealt with)."""
        return max(0, self.spare - self.sold - self.given_away)


@dataclass(frozen=True)
class Disposal:
    """One sale or gift, for the page's list."""

    row: SpareDisposal
    item: RoundItem
    recorded_by: User


@dataclass(frozen=True)
class SparePage:
    round: Round
    lines: list[SpareLine]
    #: Every sale and gift of the round, the latest first.
    disposals: list[Disposal]

    @property
    def sold_pence(self) -> int:
        """Cash taken for spare units in all."""
        return sum(d.row.cash_pence or 0 for d in self.disposals)

    @property
    def left(self) -> int:
        return sum(line.left for line in self.lines)


def spare_list(rnd: Round) -> list[SpareLine]:
    """Per product of the round (and per substitute sent), in the receive page's order:
    the spare units, how many were sold and given away, and what is left. Only those
    with spare units or with any sold or given away. Writes nothing."""
    done: dict[int, dict[str, int]] = defaultdict(lambda: {"sold": 0, "given_away": 0})
    for item_id, kind, units in db.session.execute(
        select(SpareDisposal.round_item_id, SpareDisposal.kind, func.sum(SpareDisposal.units))
        .join(RoundItem, SpareDisposal.round_item_id == RoundItem.id)
        .where(RoundItem.round_id == rnd.id)
        .group_by(SpareDisposal.round_item_id, SpareDisposal.kind)
    ):
        done[item_id][kind] = int(units)
    lines = []
    for line in delivery.receive_page(rnd).lines:
        found = [(line.item, None, line.spare)]
        if line.substitute is not None:
            found.append((line.substitute, line.item, line.substitute_spare))
        for item, instead_of, spare in found:
            dealt = done.pop(item.id, None) or {"sold": 0, "given_away": 0}
            if spare > 0 or dealt["sold"] or dealt["given_away"]:
                lines.append(SpareLine(item, instead_of, max(spare, 0), dealt["sold"],
                                       dealt["given_away"]))
    # Units dealt with of a substitute no longer sent: kept on the list, none left.
    items = {i.id: i for i in rnd.items}
    for item_id, dealt in sorted(done.items()):
        item = items[item_id]
        lines.append(SpareLine(item, items.get(item.substitute_for_id), 0, dealt["sold"],
                               dealt["given_away"]))
    return lines


def spare_page(rnd: Round) -> SparePage:
    """The spare page: `spare_list`, and every sale and gift of the round with who
    recorded it. Writes nothing."""
    disposals = [
        Disposal(row, item, user) for row, item, user in db.session.execute(
            select(SpareDisposal, RoundItem, User)
            .join(RoundItem, SpareDisposal.round_item_id == RoundItem.id)
            .join(User, SpareDisposal.recorded_by_id == User.id)
            .where(RoundItem.round_id == rnd.id)
            .order_by(SpareDisposal.recorded_at.desc(), SpareDisposal.id.desc()))
    ]
    return SparePage(rnd, spare_list(rnd), disposals)


def sell(rnd: Round, item_id: int, units: int, unit_pence: int | None, receipt: str | None,
         buyer: str | None, *, actor: User, now: datetime) -> SpareDisposal:
    """Record `units` spare units of one of the round's products (or of its substitute)
    sold for cash at `unit_pence` each, with the paper receipt's number and, if given,
    who bought them. Refused (ServiceError, nothing written; fields "units", "price",
    "receipt", "buyer") for no units, more than are left, no price, no receipt or one
    already used in the group (for a spare sale or for cash a household paid), and
    for a round not delivered. Two staff selling the last units at once: the round is
    locked before what is left is read, so the second is refused. Audited."""
    if units < 1:
        raise ServiceError(_l("Enter how many were sold, 1 or more."), field="units")
    if unit_pence is None or unit_pence <= 0:
        raise ServiceError(_l("Enter the price of one, like 0.50."), field="price")
    if unit_pence > MOST_UNIT_PENCE or units * unit_pence > MOST_SALE_PENCE:
        raise ServiceError(_l("That price is too high. Enter the price of one, like 0.50."),
                           field="price")
    receipt = (receipt or "").strip()
    if not receipt:
        raise ServiceError(_l("Enter the receipt number."), field="receipt")
    if len(receipt) > RECEIPT_MAX:
        raise ServiceError(_l("Keep the receipt number to %(n)s characters or fewer.",
                              n=RECEIPT_MAX), field="receipt")
    buyer = (buyer or "").strip() or None
    if buyer is not None and len(buyer) > BUYER_MAX:
        raise ServiceError(_l("Keep the name to %(n)s characters or fewer.", n=BUYER_MAX),
                           field="buyer")
    line = _locked_line(rnd, item_id, units)
    used = _receipt_used(rnd.group_id, receipt)
    if used:
        raise ServiceError(_l("That receipt number is already recorded."), field="receipt")
    row = SpareDisposal(group_id=rnd.group_id, round_item_id=line.item.id, units=units,
                        kind="sold", unit_pence=unit_pence, cash_pence=units * unit_pence,
                        buyer=buyer, receipt_number=receipt, recorded_by_id=actor.id,
                        recorded_at=now)
    # The same receipt recorded at the same moment elsewhere meets the unique index.
    writes.add_or_refuse(row, _l("That receipt number is already recorded."),
                         field="receipt")
    audit.record("spare.sold", actor=actor, group_id=rnd.group_id, subject=row,
                 round_id=rnd.id, round_item_id=line.item.id, units=units,
                 unit_pence=unit_pence, cash_pence=row.cash_pence, receipt_number=receipt,
                 buyer=buyer, left_after=line.left - units)
    return row


def give_away(rnd: Round, item_id: int, units: int, reason: str | None, *, actor: User,
              now: datetime) -> SpareDisposal:
    """Record `units` spare units of one of the round's products (or of its substitute)
    given away, saying why and to whom ("to the food bank"). Refused (ServiceError,
    nothing written; fields "units", "reason") for no units, more than are left, no
    reason, and for a round not delivered; the round is locked as for `sell`.
    Audited."""
    if units < 1:
        raise ServiceError(_l("Enter how many were given away, 1 or more."), field="units")
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(_l("Say why they are given away, and to whom."), field="reason")
    if len(reason) > REASON_MAX:
        raise ServiceError(_l("Keep the reason to %(n)s characters or fewer.", n=REASON_MAX),
                           field="reason")
    line = _locked_line(rnd, item_id, units)
    row = SpareDisposal(group_id=rnd.group_id, round_item_id=line.item.id, units=units,
                        kind="given_away", reason=reason, recorded_by_id=actor.id,
                        recorded_at=now)
    db.session.add(row)
    db.session.flush()
    audit.record("spare.given_away", actor=actor, group_id=rnd.group_id, subject=row,
                 round_id=rnd.id, round_item_id=line.item.id, units=units, reason=reason,
                 left_after=line.left - units)
    return row


def _locked_line(rnd: Round, item_id: int, units: int) -> SpareLine:
    """Lock the round (so two staff dealing with the same spare units go one after the
    other), check it is delivered, and return the item's spare line with `units` left
    at least; else refused."""
    _lock_round(rnd)
    if rnd.status == RoundStatus.COMPLETE:
        raise ServiceError(_l("This round is finished: its spare units can no longer be "
                              "changed."))
    if rnd.status != RoundStatus.DELIVERED:
        raise ServiceError(_l("Spare units are sold or given away only once the delivery "
                              "has come in."))
    line = next((line for line in spare_list(rnd) if line.item.id == item_id), None)
    if line is None or line.left == 0:
        raise ServiceError(_l("There are no spare units of that left."))
    if units > line.left:
        raise ServiceError(_l("There are only %(n)s spare left.", n=line.left), field="units")
    return line


def _lock_round(rnd: Round) -> None:
    """Hold the round's row until the transaction ends, and read it afresh.

    PostgreSQL: SELECT ... FOR UPDATE, which saving a delivery's guarded UPDATE of the
    round waits for too. SQLite ignores FOR UPDATE, and Python's sqlite3 opens its
    transaction only at the first write, so a read before it could be stale by the time
    of the write: the write lock is taken first (BEGIN IMMEDIATE), and a second writer
    waits for the first to commit before it reads what is left."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        if not raw.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
    db.session.scalars(select(Round).where(Round.id == rnd.id).with_for_update()
                       .execution_options(populate_existing=True)).one()


def _receipt_used(group_id: int, receipt: str) -> bool:
    """Whether the group used this receipt number already, for a spare sale or for cash a
    household paid (one receipt book)."""
    return db.session.scalar(select(SpareDisposal.id).where(
        SpareDisposal.group_id == group_id, SpareDisposal.receipt_number == receipt)
        .limit(1)) is not None or db.session.scalar(select(CashPayment.id).where(
            CashPayment.group_id == group_id, CashPayment.receipt_number == receipt)
            .limit(1)) is not None
