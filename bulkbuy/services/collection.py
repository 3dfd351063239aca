"""Collection day: staff hand each household its bag of a delivered round, take any cash
still owed in the same step, and set aside (or give away) bags nobody came for.

A bag is a household's statement lines with units in a round. A bag with no
`BagHandover` row is waiting. Goods are never withheld for money: a household that
still owes can collect, and the page shows what it owes. Collected and given away are
final; a bag kept for later may still be collected or given away.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from bulkbuy.domain.labels import label_key, natural_key
from bulkbuy.domain.statuses import OPEN_TO_PAYMENT, OWED, RoundStatus
from bulkbuy.extensions import db
from bulkbuy.formatting import when
from bulkbuy.models import (
    BagHandover,
    CashPayment,
    Household,
    Round,
    RoundItem,
    Statement,
    StatementLine,
    User,
)
from bulkbuy.models.collection import NAME_MAX, REASON_MAX
from bulkbuy.services import ServiceError, audit, writes
from bulkbuy.services.payments import cash as cash_service

#: Rounds whose collection page can be seen; bags change only while delivered.
SHOWN_ROUNDS = (RoundStatus.DELIVERED, RoundStatus.COMPLETE)


@dataclass(frozen=True)
class BagLine:
    name: str
    unit_description: str
    units: int


@dataclass(frozen=True)
class Bag:
    """One household's bag: what is in it, its money, and what happened to it."""

    household: Household
    statement: Statement
    lines: tuple[BagLine, ...]
    handover: BagHandover | None
    handled_by: User | None

    @property
    def state(self) -> str:
        """'waiting', or the handover's status."""
        return "waiting" if self.handover is None else self.handover.status

    @property
    def owed_pence(self) -> int:
        """What the household still has to pay for the round (0: paid or nothing due)."""
        if self.statement.payment_status not in OWED:
            return 0
        return self.statement.total_pence - self.statement.paid_pence

    @property
    def cash_can_be_taken(self) -> bool:
        """Money is owed and cash may be taken now (not while a card is being charged)."""
        return self.owed_pence > 0 and self.statement.payment_status in OPEN_TO_PAYMENT


@dataclass(frozen=True)
class CollectionBoard:
    """A round's bags by what happened to them, each list in natural order of flat."""

    round: Round
    waiting: list[Bag]
    kept: list[Bag]
    collected: list[Bag]
    given_away: list[Bag]
    #: Bags in the round, and of them not collected yet (waiting or kept), whatever
    #: the search.
    total: int
    left: int
    search: str

    @property
    def shown(self) -> int:
        return len(self.waiting) + len(self.kept) + len(self.collected) + len(self.given_away)


def board(rnd: Round, search: str | None = None) -> CollectionBoard:
    """Every household of the round with something in its bag: waiting first, then kept
    for later, collected and given away, each in natural order of flat ("Flat 2" before
    "Flat 10"); only flats whose name contains `search` when given (compared as names
    are). Four queries, however many households. Writes nothing."""
    rows = db.session.execute(
        select(Statement, Household).join(Household, Statement.household_id == Household.id)
        .where(Statement.round_id == rnd.id)
    ).all()
    lines: dict[int, list[BagLine]] = {}
    if rows:
        for line, item in db.session.execute(
            select(StatementLine, RoundItem)
            .join(RoundItem, StatementLine.round_item_id == RoundItem.id)
            .join(Statement, StatementLine.statement_id == Statement.id)
            .where(Statement.round_id == rnd.id, StatementLine.units > 0)
            .order_by(RoundItem.name, RoundItem.id)
        ):
            lines.setdefault(line.statement_id, []).append(
                BagLine(item.name, item.unit_description, line.units))
    handovers = {
        handover.household_id: (handover, user)
        for handover, user in db.session.execute(
            select(BagHandover, User).join(User, BagHandover.handled_by_id == User.id)
            .where(BagHandover.round_id == rnd.id)
        )
    }
    bags = [
        Bag(household, statement, tuple(lines[statement.id]),
            *handovers.get(household.id, (None, None)))
        for statement, household in rows if statement.id in lines
    ]
    bags.sort(key=lambda bag: (natural_key(bag.household.label), bag.household.id))
    total = len(bags)
    left = sum(1 for bag in bags if bag.state in ("waiting", "kept"))
    text = (search or "").strip()
    if text:
        wanted = label_key(text)
        bags = [bag for bag in bags if wanted in label_key(bag.household.label)]
    by_state: dict[str, list[Bag]] = {"waiting": [], "kept": [], "collected": [],
                                      "given_away": []}
    for bag in bags:
        by_state[bag.state].append(bag)
    return CollectionBoard(rnd, by_state["waiting"], by_state["kept"],
                           by_state["collected"], by_state["given_away"], total, left, text)


@dataclass(frozen=True)
class Collected:
    handover: BagHandover
    household: Household
    cash: CashPayment | None


def collect(
    rnd: Round,
    household_id: int,
    *,
    neighbour_name: str | None,
    cash: tuple[int, str] | None,
    actor: User,
    now: datetime,
) -> Collected:
    """Tick a household's bag collected — by the household (`neighbour_name` None) or by
    a named neighbour for it — from waiting or kept for later, and record `cash`
    (pence, receipt number) taken for its statement in the same step, through the one
    cash use case (never more than is owed). A household that still owes may collect.

    Once: two workers ticking the same bag at once tick it once (a unique index and a
    guarded UPDATE); the second is refused with who collected it and when. When any part
    is refused (the cash too) the caller undoes the whole step (`undone_on_error`): the
    bag is not ticked. Audited, with the household."""
    if neighbour_name is not None:
        neighbour_name = neighbour_name.strip()
        if not neighbour_name:
            raise ServiceError(_l("Enter the neighbour's name."), field="neighbour_name")
        if len(neighbour_name) > NAME_MAX:
            raise ServiceError(_l("Keep the name to %(n)s characters or fewer.", n=NAME_MAX),
                               field="neighbour_name")
    statement, household = _bag_of(rnd, household_id)
    handover, was_kept = _move(
        rnd, household, "collected", actor=actor, now=now,
        values={"collected_by_name": neighbour_name},
    )
    payment = None
    if cash is not None:
        amount_pence, receipt_number = cash
        payment = cash_service.record_cash(statement, amount_pence, receipt_number,
                                           actor=actor, now=now)
    audit.record(
        "bag.collected", actor=actor, group_id=rnd.group_id, household_id=household.id,
        subject=handover, round_id=rnd.id, collected_by_name=neighbour_name,
        was_kept=was_kept, cash_payment_id=payment.id if payment else None,
        cash_pence=payment.amount_pence if payment else 0,
        still_owed_pence=(statement.total_pence - statement.paid_pence
                          if statement.payment_status in OWED else 0),
    )
    return Collected(handover, household, payment)


def keep(rnd: Round, household_id: int, reason: str, *, actor: User,
         now: datetime) -> BagHandover:
    """Set a waiting bag aside for later, saying why. It can still be collected or given
    away. Once (a unique index). Audited, with the household."""
    reason = _reason(reason, _l("Say why the bag is kept for later."))
    _statement, household = _bag_of(rnd, household_id)
    handover, _was_kept = _move(rnd, household, "kept", actor=actor, now=now,
                                values={"reason": reason, "kept_at": now})
    audit.record("bag.kept", actor=actor, group_id=rnd.group_id, household_id=household.id,
                 subject=handover, round_id=rnd.id, reason=reason)
    return handover


def give_away(rnd: Round, household_id: int, reason: str, *, actor: User,
              now: datetime) -> BagHandover:
    """Give away a bag nobody collected (waiting or kept for later), saying why ("not
    collected after 2 weeks: given to the food bank"). Final. What the household owes
    is not changed by this. Once (a unique index, a guarded UPDATE). Audited."""
    reason = _reason(reason, _l("Say why the bag is given away."))
    _statement, household = _bag_of(rnd, household_id)
    handover, was_kept = _move(rnd, household, "given_away", actor=actor, now=now,
                               values={"reason": reason})
    audit.record("bag.given_away", actor=actor, group_id=rnd.group_id,
                 household_id=household.id, subject=handover, round_id=rnd.id,
                 reason=reason, was_kept=was_kept)
    return handover


#: Where a bag may go from: None is waiting (no row yet).
_FROM = {"collected": (None, "kept"), "kept": (None,), "given_away": (None, "kept")}


def _move(rnd: Round, household: Household, status: str, *, actor: User, now: datetime,
          values: dict) -> tuple[BagHandover, bool]:
    """Move the household's bag to `status` (a new row from waiting, or a guarded UPDATE
    from kept); refuse, saying what happened to it, when another worker got there first.
    Returns the row and whether it was kept for later before."""
    found = _handover(rnd.id, household.id)
    if found is None and None in _FROM[status]:
        row = BagHandover(round_id=rnd.id, household_id=household.id, status=status,
                          handled_by_id=actor.id, handled_at=now, **values)
        if writes.inserted(row):
            return row, False
        found = _handover(rnd.id, household.id)  # ticked elsewhere at the same moment
        if found is None:
            raise ServiceError(_l("This changed a moment ago. Look at it again."))
    elif found is not None and found.status in _FROM[status]:
        moved = db.session.execute(
            update(BagHandover)
            .where(BagHandover.id == found.id, BagHandover.status == found.status)
            .values(status=status, handled_by_id=actor.id, handled_at=now, **values)
            .execution_options(synchronize_session=False)
        )
        db.session.refresh(found)
        if moved.rowcount == 1:
            return found, True
    raise _already(rnd, household, found)


def _already(rnd: Round, household: Household, handover: BagHandover) -> ServiceError:
    """What the worker is told when the bag was dealt with already, by whom and when."""
    at = when(handover.handled_at, rnd.group.timezone)
    worker = db.session.get(User, handover.handled_by_id).name
    if handover.status == "collected" and handover.collected_by_name:
        return ServiceError(_l(
            "Already collected by %(name)s for %(household)s at %(when)s (ticked by "
            "%(worker)s). Nothing was changed.", name=handover.collected_by_name,
            household=household.label, when=at, worker=worker))
    if handover.status == "collected":
        return ServiceError(_l(
            "Already collected by %(household)s at %(when)s (ticked by %(worker)s). "
            "Nothing was changed.", household=household.label, when=at, worker=worker))
    if handover.status == "kept":
        return ServiceError(_l(
            "%(household)s's bag was already kept for later by %(worker)s at %(when)s. "
            "Nothing was changed.", household=household.label, when=at, worker=worker))
    return ServiceError(_l(
        "%(household)s's bag was already given away by %(worker)s at %(when)s. Nothing "
        "was changed.", household=household.label, when=at, worker=worker))


def _handover(round_id: int, household_id: int) -> BagHandover | None:
    return db.session.scalar(select(BagHandover).where(
        BagHandover.round_id == round_id, BagHandover.household_id == household_id))


def _bag_of(rnd: Round, household_id: int) -> tuple[Statement, Household]:
    """The household's statement in the round, when the round's bags may change and the
    household has something in its bag; else refused."""
    if rnd.status == RoundStatus.COMPLETE:
        raise ServiceError(_l("This round is complete: its bags can no longer be changed."))
    if rnd.status != RoundStatus.DELIVERED:
        raise ServiceError(_l("Bags are handed out only once the delivery has come in."))
    found = db.session.execute(
        select(Statement, Household).join(Household, Statement.household_id == Household.id)
        .where(Statement.round_id == rnd.id, Statement.household_id == household_id)
    ).first()
    has_units = found is not None and db.session.scalar(
        select(StatementLine.id).where(StatementLine.statement_id == found[0].id,
                                       StatementLine.units > 0).limit(1)) is not None
    if not has_units:
        raise ServiceError(_l("That household has no bag in this round."))
    return found[0], found[1]


def _reason(reason: str | None, missing) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(missing, field="reason")
    if len(reason) > REASON_MAX:
        raise ServiceError(_l("Keep the reason to %(n)s characters or fewer.", n=REASON_MAX),
                           field="reason")
    return reason
