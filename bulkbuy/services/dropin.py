"""The drop-in tablet's use cases: what each page of bulkbuy.tablet does, one function a
page (the sessions, turns and PINs they are made of are in services.tablet).

None commits: the request is the transaction (bulkbuy.transactions). A refusal is a
ServiceError whose `field` names the form field it is about; the page runs the use case
inside `undone_on_error()`, so a refused one leaves nothing written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import contains_eager, joinedload

from bulkbuy.access import STAFF_ROLES
from bulkbuy.domain import statuses
from bulkbuy.domain.money import parse_pounds
from bulkbuy.extensions import db
from bulkbuy.models import (
    CashPayment,
    Group,
    Household,
    Membership,
    Round,
    RoundItem,
    Statement,
    TabletSession,
    TabletVisit,
    User,
)
from bulkbuy.services import ServiceError, accounts, audit, payments, pledges, round_view, tablet
from bulkbuy.services.round_view import ItemView
from bulkbuy.validation import clean_text

NOT_THE_HELPER = "That is not the helper's password."


# --- the worker starts and leaves ----------------------------------------------------------


def staff_groups(user: User) -> list[Group]:
    """The groups whose drop-in `user` may start (they are its worker or organiser), by
    name; empty for anyone else."""
    return list(db.session.scalars(
        select(Group).join(Membership, Membership.group_id == Group.id)
        .where(Membership.user_id == user.id, Membership.role.in_(STAFF_ROLES))
        .order_by(Group.name)))


def leave_tablet(session: TabletSession, password: str, now: datetime) -> None:
    """The worker leaves tablet mode: given the worker's own password, the session ends
    with any resident's turn still open in it (audited). A wrong password is refused
    (ServiceError, field "password") and ends nothing."""
    if accounts.authenticate(session.worker.email, password or "") is None:
        raise ServiceError(NOT_THE_HELPER, field="password")
    tablet.end_session(session, now)


# --- the pledge screen ---------------------------------------------------------------------


# Built once (asked on every load of the pledge screen: building a statement costs about as
# much as SQLite takes to answer it); the group comes along for its time zone.
_OPEN_ROUNDS = (
    select(Round).options(joinedload(Round.group))
    .where(Round.group_id == bindparam("group_id"), Round.status == "open",
           Round.closes_at > bindparam("now"))
    .order_by(Round.closes_at))
_OWED = (
    select(Statement).options(contains_eager(Statement.round))
    .join(Round, Statement.round_id == Round.id)
    .where(Statement.household_id == bindparam("household_id"),
           Statement.payment_status.in_(statuses.OWED),
           Round.status.in_(statuses.FINISHED_ROUNDS))
    .order_by(Statement.id))


@dataclass(frozen=True)
class PledgeScreen:
    """What the pledge screen shows a resident during their turn."""

    household: Household
    #: Each open round of the group, soonest deadline first: the round, its products as
    #: this household sees them, and the most the household can be asked to pay for it.
    rounds: list[tuple[Round, list[ItemView], int]]
    #: The household's bills still owed, of rounds that have finished.
    owed: list[Statement]
    #: Item id: names of the helpers (people outside the household) who entered any of it.
    helpers: dict[int, list[str]]
    #: Whole seconds since the server last noted the resident there (the page's idle
    #: count starts from the same moment).
    seen_ago: int

    @property
    def item_count(self) -> int:
        """How many products the household wants some of."""
        return sum(1 for _r, views, _m in self.rounds for v in views if v.my_quantity)

    @property
    def most_pence(self) -> int:
        """The most the household can be asked to pay, over all the open rounds."""
        return sum(most for _r, _v, most in self.rounds)


def pledge_screen(turn: TabletVisit, now: datetime) -> PledgeScreen:
    """The turn's household's pledge screen: every open round of its group with its
    products (kept per round and pledge_version, see round_view.round_board), this
    household's quantities and who helped enter them, and its bills still owed.

    Notes the resident is still there (tablet.touch: a write at most every few seconds,
    left to the end so the row is held only for the commit). A fixed number of
    statements whatever the number of pledges: the open rounds, the household's
    pledges, its bills, and a round's products and totals when its version is new.
    """
    household = turn.household
    open_rounds = list(db.session.scalars(
        _OPEN_ROUNDS, {"group_id": household.group_id, "now": now}))
    pledged = round_view.household_pledges(household.id, [r.id for r in open_rounds])
    rounds = []
    for rnd in open_rounds:
        board = round_view.round_board(rnd)
        mine = pledged.by_round[rnd.id]
        rounds.append((rnd, round_view.board_views(board, mine),
                       round_view.board_maximum(rnd, board, mine)))
    owed = list(db.session.scalars(_OWED, {"household_id": household.id}))
    tablet.touch(turn, now)
    # The server counts idleness from its last write (touch writes at most every few
    # seconds); the page counts from the same moment, so neither ends the turn first.
    seen_ago = max(0, math.ceil((now - turn.last_seen_at).total_seconds()))
    return PledgeScreen(household=household, rounds=rounds, owed=owed,
                        helpers=pledged.helpers, seen_ago=seen_ago)


def pledge_at_tablet(turn: TabletVisit, item_id: int, quantity: int | None, *,
                     max_units: int, now: datetime) -> RoundItem:
    """A + or − tap: the turn's household now wants exactly `quantity` of the product
    (its tolerance kept), entered by the tablet's worker on its behalf (audited with the
    tablet session), and the resident is noted as still there. Returns the product.

    Refuses with ServiceError, in this order: a product not of the household's group
    (field "item_id"); a quantity missing or outside 0 to `max_units` (field
    "quantity"); a round no longer open (pledges.RoundNotOpenError).
    """
    household = turn.household
    item = db.session.get(RoundItem, item_id)
    if item is None or item.round.group_id != household.group_id:
        raise ServiceError("We could not find that product.", field="item_id")
    if quantity is None or not 0 <= quantity <= max_units:
        raise ServiceError(f"You can have from 0 to {max_units}.", field="quantity")
    tolerance = round_view.household_tolerance(item, household.id)
    with audit.context(tablet_session_id=turn.tablet_session_id):
        pledges.set_pledge(item, household, quantity, tolerance,
                           entered_by=turn.tablet_session.worker, now=now,
                           max_units=max_units)
    tablet.touch(turn, now)
    return item


def cash_at_tablet(turn: TabletVisit, statement_id: int, password: str, amount: str,
                   receipt: str, now: datetime) -> CashPayment:
    """The worker takes cash from the turn's household for one of its bills, confirming
    with the worker's own password: recorded as taken by the worker at this tablet
    (payments.record_cash, audited with the tablet session), and the resident noted as
    still there. `amount` and `receipt` are as typed. Returns the payment.

    Refuses with ServiceError, in this order: a bill not the household's (field
    "statement_id"); a wrong password ("password"); an amount that is not one
    ("amount"); a missing or unusable receipt number ("receipt"); and whatever
    record_cash refuses (more than is owed, a receipt number already recorded, ...).
    """
    statement = db.session.get(Statement, statement_id)
    if statement is None or statement.household_id != turn.household_id:
        raise ServiceError("We could not find that bill.", field="statement_id")
    worker = turn.tablet_session.worker
    if accounts.authenticate(worker.email, password or "") is None:
        raise ServiceError(NOT_THE_HELPER, field="password")
    try:
        amount_pence = parse_pounds(amount or "")
    except ValueError as error:
        raise ServiceError(str(error), field="amount") from None
    try:
        receipt_number = clean_text(receipt, "Receipt number", max_length=40)
    except ValueError as error:
        raise ServiceError(str(error), field="receipt") from None
    with audit.context(tablet_session_id=turn.tablet_session_id):
        payment = payments.record_cash(statement, amount_pence, receipt_number, actor=worker,
                                       now=now)
    tablet.touch(turn, now)
    return payment
