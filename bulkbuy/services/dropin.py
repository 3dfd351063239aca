"""The drop-in tablet's use cases: what each page of bulkbuy.tablet does, one function a
page (the sessions, turns and PINs they are made of are in services.tablet).

None commits: the request is the transaction (bulkbuy.transactions). A refusal is a
ServiceError whose `field` names the form field it is about; the page runs the use case
inside `undone_on_error()`, so a refused one leaves nothing written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import aliased, contains_eager, joinedload

from bulkbuy.access import STAFF_ROLES
from bulkbuy.domain import statuses
from bulkbuy.domain.savings import Saving
from bulkbuy.extensions import db
from bulkbuy.models import (
    CashPayment,
    CashReturn,
    Group,
    Household,
    HouseholdCredit,
    Membership,
    Round,
    RoundItem,
    Statement,
    StatementLine,
    TabletSession,
    TabletVisit,
    User,
)
from bulkbuy.services import (
    ServiceError,
    accounts,
    audit,
    credits,
    delivery,
    drop_ins,
    home,
    last_call,
    pledges,
    round_view,
    slips,
    statements,
    tablet,
)
from bulkbuy.services.payments import cash
from bulkbuy.services.round_view import ItemView
from bulkbuy.validation import clean_text, optional_pounds, parse_pounds

NOT_THE_HELPER = _l("That is not the helper's password.")


# --- the worker starts and leaves ----------------------------------------------------------


def staff_groups(user: User) -> list[Group]:
    """The groups whose drop-in `user` may start (they are its worker or organiser), by
    name; empty for anyone else."""
    return list(db.session.scalars(
        select(Group).join(Membership, Membership.group_id == Group.id)
        .where(Membership.user_id == user.id, Membership.role.in_(STAFF_ROLES))
        .order_by(Group.name)))


@dataclass(frozen=True)
class StartScreen:
    """The tablet's start screen: the groups `user` may start it for, and per group its
    boxes still short (last calls) and its next drop-in times."""

    groups: list[Group]
    last_calls: dict[int, list[last_call.OpenLastCall]]
    drop_ins: dict[int, list[drop_ins.DropInTime]]


def start_screen(user: User, now: datetime) -> StartScreen:
    """What the start screen shows (`staff_groups`, with last calls and drop-ins)."""
    groups = staff_groups(user)
    return StartScreen(
        groups=groups,
        last_calls={g.id: last_call.open_last_calls(g.id, now) for g in groups},
        drop_ins={g.id: drop_ins.upcoming(g.id, now) for g in groups},
    )


def leave_tablet(session: TabletSession, password: str, now: datetime) -> None:
    """The worker leaves tablet mode: given the worker's own password, the session ends
    with any resident's turn still open in it (audited). A wrong password is refused
    (ServiceError, field "password") and ends nothing."""
    if accounts.authenticate(session.worker.email, password or "") is None:
        raise ServiceError(NOT_THE_HELPER, field="password")
    tablet.end_session(session, now)


# --- the pledge screen ---------------------------------------------------------------------


# Built once (asked on every load of the pledge screen: building a statement costs about as
# much as SQLite takes to answer it).
#: The versions the open rounds' part of the pledge screen is kept by: the group's, and
#: each open round's (one row with NULLs when none is open).
_FINISHED = aliased(Round)
_OWES = (
    select(Statement.id).join(_FINISHED, Statement.round_id == _FINISHED.id)
    .where(Statement.household_id == bindparam("household_id"),
           Statement.payment_status.in_(statuses.OWED),
           _FINISHED.status.in_(statuses.FINISHED_ROUNDS))
    .exists())
#: Rounds whose goods are on their way or have come: the tablet says when, and where to
#: collect them, to each household that gets some (paid for or not).
_ON_ITS_WAY = (statuses.RoundStatus.ORDERED, statuses.RoundStatus.DELIVERED)
_GETS_SOME = (
    select(StatementLine.id)
    .where(StatementLine.statement_id == Statement.id, StatementLine.units > 0)
    .exists())
_COMING = aliased(Round)
_EXPECTS = (
    select(Statement.id).join(_COMING, Statement.round_id == _COMING.id)
    .where(Statement.household_id == bindparam("household_id"),
           _COMING.status.in_(_ON_ITS_WAY), _GETS_SOME)
    .exists())
#: The group holds cash for the household from a short delivery (any round).
_HOLDS = (
    select(Statement.id)
    .where(Statement.household_id == bindparam("household_id"),
           Statement.owed_back_pence > 0)
    .exists())
#: The household's credit (credits.balance, in the same statement).
_CREDIT = (
    select(func.coalesce(func.sum(HouseholdCredit.amount_pence), 0))
    .where(HouseholdCredit.household_id == bindparam("household_id"))
    .scalar_subquery())
#: The household has a bill of a round closed, ordered or delivered (goods or none).
_CLOSED = aliased(Round)
_HAS_CLOSED = (
    select(Statement.id).join(_CLOSED, Statement.round_id == _CLOSED.id)
    .where(Statement.household_id == bindparam("household_id"),
           _CLOSED.status.in_(statuses.COLLECTING_ROUNDS))
    .exists())
_SCREEN_VERSIONS = (
    select(Group.settings_version, Group.households_version, Round.id, Round.version,
           Round.pledge_version, _OWES, _EXPECTS, _HOLDS, _CREDIT, _HAS_CLOSED)
    .select_from(Group)
    .outerjoin(Round, (Round.group_id == Group.id) & (Round.status == "open")
               & (Round.closes_at > bindparam("now")))
    .where(Group.id == bindparam("group_id"))
    .order_by(Round.closes_at, Round.id))
# The group comes along for its time zone.
_OPEN_ROUNDS = (
    select(Round).options(joinedload(Round.group))
    .where(Round.group_id == bindparam("group_id"), Round.status == "open",
           Round.closes_at > bindparam("now"))
    .order_by(Round.closes_at, Round.id))
_OWED = (
    select(Statement).options(contains_eager(Statement.round))
    .join(Round, Statement.round_id == Round.id)
    .where(Statement.household_id == bindparam("household_id"),
           Statement.payment_status.in_(statuses.OWED),
           Round.status.in_(statuses.FINISHED_ROUNDS))
    .order_by(Statement.id))
_DELIVERIES = (
    select(Statement).options(contains_eager(Statement.round))
    .join(Round, Statement.round_id == Round.id)
    .where(Statement.household_id == bindparam("household_id"),
           Round.status.in_(_ON_ITS_WAY), _GETS_SOME)
    .order_by(Round.expected_delivery_on.is_(None), Round.expected_delivery_on, Round.id))
_HELD = (
    select(Statement).options(contains_eager(Statement.round))
    .join(Round, Statement.round_id == Round.id)
    .where(Statement.household_id == bindparam("household_id"),
           Statement.owed_back_pence > 0)
    .order_by(Statement.id))


@dataclass(frozen=True)
class OpenRounds:
    """The open rounds of the pledge screen, as one household sees them."""

    #: Each open round of the group, soonest deadline first, with its products as this
    #: household sees them (round_view.household_board).
    rounds: list[tuple[Round, list[ItemView]]]
    #: Item id: names of the helpers (people outside the household) who entered any of it.
    helpers: dict[int, list[str]]
    #: How many products the household wants some of.
    item_count: int
    #: The most the household can be asked to pay, over all the open rounds.
    most_pence: int


@dataclass(frozen=True)
class PledgeScreen:
    """What the pledge screen shows a resident during their turn."""

    household: Household
    #: What the open rounds' part is kept by: the household, the group's versions, and each
    #: open round's (id, version, pledge_version); all bumped by the database on change.
    key: tuple
    #: The household's bills still owed, of rounds that have finished.
    owed: list[Statement]
    #: The household's statements, paid or not, of ordered or delivered rounds that give
    #: it at least one unit: one a round, the day expected soonest first (see the round).
    deliveries: list[Statement]
    #: The household's statements, of any round, on which the group holds cash it paid
    #: beyond its bill after a short delivery (owed_back_pence > 0).
    held: list[Statement]
    #: Statement id (of the deliveries and `held`): what changed when its delivery came,
    #: as delivery.changes_by_statement says it; only statements with changes.
    changes: dict[int, list[tuple[str, int]]]
    #: The household's credit, in pence (credits.balance).
    credit_pence: int
    #: Whole seconds since the server last noted the resident there (the page's idle
    #: count starts from the same moment).
    seen_ago: int
    now: datetime
    #: Statement id (of `owed` and the deliveries): what it saved compared with
    #: shop prices (statements.savings_of).
    savings: dict[int, Saving] = field(default_factory=dict)
    #: The household's statements of rounds closed, ordered or delivered, latest close
    #: first, each with its lines and their products: what it gets, and whether it is
    #: paid (the closed part of the resident's My orders: home.closed_statements).
    closed: list[Statement] = field(default_factory=list)

    @property
    def closed_by_id(self) -> dict[int, Statement]:
        return {s.id: s for s in self.closed}

    @property
    def closed_apart(self) -> list[Statement]:
        """The statements of `closed` not among the deliveries nor `held` (shown on their
        own): of rounds closed and not yet ordered, or that give the household nothing."""
        shown = {s.id for s in (*self.deliveries, *self.held)}
        return [s for s in self.closed if s.id not in shown]

    @property
    def owed_pence(self) -> int:
        """What the household still owes, over its bills of finished rounds."""
        return sum(s.total_pence - s.paid_pence for s in self.owed)

    @property
    def held_apart(self) -> list[Statement]:
        """The statements of `held` not among the deliveries (shown on their own)."""
        shown = {s.id for s in self.deliveries}
        return [s for s in self.held if s.id not in shown]

    def open_rounds(self) -> OpenRounds:
        """The open rounds' part, worked out afresh (when no copy is kept under `key`):
        the rounds, this household's pledges and who helped enter them (one query each),
        and each round's products and totals (round_view.round_board: kept per version)."""
        household = self.household
        rounds = list(db.session.scalars(
            _OPEN_ROUNDS, {"group_id": household.group_id, "now": self.now}))
        pledged = round_view.household_pledges(household.id, [r.id for r in rounds])
        shown = []
        item_count = most = 0
        for rnd in rounds:
            board = round_view.household_board(rnd, pledged.by_round[rnd.id])
            shown.append((rnd, board.views))
            item_count += sum(1 for v in board.views if v.my_quantity)
            most += board.most_pence
        return OpenRounds(rounds=shown, helpers=pledged.helpers, item_count=item_count,
                          most_pence=most)


def pledge_screen(turn: TabletVisit, now: datetime) -> PledgeScreen:
    """The turn's household's pledge screen: the versions its open rounds' part is kept by
    (that part itself is PledgeScreen.open_rounds), its bills still owed, its goods of
    ordered or delivered rounds (PledgeScreen.deliveries), the cash the group holds for it
    after a short delivery (held), what changed when its deliveries came, its credit, and
    its bills of rounds closed, ordered or delivered with what each gives it and whether
    it is paid (closed: home.closed_statements, as My orders has them).

    Notes the resident is still there (tablet.touch: a write at most every few seconds,
    left to the end so the row is held only for the commit). One statement whatever the
    number of pledges (the versions, whether any bill is owed, any goods are on their way
    or any cash is held, and the credit), and one more each for the bills, the deliveries
    and the cash held when there are some, two for the closed rounds' bills and their
    lines when there are some, for what changed when a delivery came, and for what those
    bills saved compared with shop prices.
    """
    household = turn.household
    rows = db.session.execute(
        _SCREEN_VERSIONS, {"group_id": household.group_id, "household_id": household.id,
                           "now": now}).all()
    key = (household.id, rows[0][0], rows[0][1],
           tuple((r[2], r[3], r[4]) for r in rows if r[2] is not None))
    owed = []
    if rows[0][5]:  # the bills themselves only when there are some (seldom)
        owed = list(db.session.scalars(_OWED, {"household_id": household.id}))
    deliveries = []
    if rows[0][6]:  # only while a round it gets goods from is ordered or delivered
        deliveries = list(db.session.scalars(_DELIVERIES, {"household_id": household.id}))
    held = []
    if rows[0][7]:  # the group holds cash for it: seldom, and only after a short delivery
        held = list(db.session.scalars(_HELD, {"household_id": household.id}))
    closed = []
    if rows[0][9]:  # a round it ordered in has closed: what it gets, paid or not
        closed = [s for s in home.closed_statements([household.id])[1]
                  if s.round.status in statuses.COLLECTING_ROUNDS]
    # Changes are written only when a delivery is recorded, which makes the round delivered.
    changed = {s.id for s in (*deliveries, *closed)
               if s.round.status == statuses.RoundStatus.DELIVERED}
    changes = delivery.changes_by_statement(sorted(changed | {s.id for s in held}))
    savings = statements.savings_of(sorted({s.id for s in (*owed, *deliveries, *closed)}))
    tablet.touch(turn, now)
    # The server counts idleness from its last write (touch writes at most every few
    # seconds); the page counts from the same moment, so neither ends the turn first.
    seen_ago = max(0, math.ceil((now - turn.last_seen_at).total_seconds()))
    return PledgeScreen(household=household, key=key, owed=owed, deliveries=deliveries,
                        held=held, changes=dict(changes), credit_pence=max(0, rows[0][8] or 0),
                        seen_ago=seen_ago, now=now, savings=savings, closed=closed)


#: How long after Done its summary may be shown (once, on the thank-you page).
SUMMARY_FOR = timedelta(minutes=1)


@dataclass(frozen=True)
class TurnSummary:
    """What a household ordered, shown once when its turn ends on Done."""

    #: Each open round with products the household wants some of, and those products.
    rounds: list[tuple[Round, list[ItemView]]]
    #: Whether any round is open at all (else there was nothing to order).
    any_open: bool
    #: The most the household can be asked to pay for those orders.
    most_pence: int
    #: The household's bills still owed, of rounds that have finished.
    owed: list[Statement]
    #: The rounds a slip of the household's can be printed for (turn_slip): those it
    #: ordered in above, then those closed, ordered or delivered it has a bill in.
    slip_rounds: list[Round] = field(default_factory=list)

    @property
    def owed_pence(self) -> int:
        return sum(s.total_pence - s.paid_pence for s in self.owed)


def turn_summary(session: TabletSession, visit_id: int | None, now: datetime
                 ) -> TurnSummary | None:
    """The summary of the turn `visit_id` of this tablet session, if it ended on Done
    less than SUMMARY_FOR ago; else None (nothing of a household for anyone later)."""
    visit = db.session.get(TabletVisit, visit_id) if visit_id else None
    if (visit is None or visit.tablet_session_id != session.id or visit.ended_at is None
            or visit.end_reason != "done" or now - visit.ended_at > SUMMARY_FOR):
        return None
    household = visit.household
    owed = list(db.session.scalars(_OWED, {"household_id": household.id}))
    screen = PledgeScreen(household=household, key=(), owed=owed, deliveries=[], held=[],
                          changes={}, credit_pence=0, seen_ago=0, now=now)
    shown = screen.open_rounds()
    ordered = [(rnd, [v for v in views if v.my_quantity]) for rnd, views in shown.rounds]
    rounds = [(rnd, views) for rnd, views in ordered if views]
    closed = [s.round for s in home.closed_statements([household.id])[1]
              if s.round.status in statuses.COLLECTING_ROUNDS]
    return TurnSummary(rounds=rounds, any_open=bool(shown.rounds),
                       most_pence=shown.most_pence, owed=owed,
                       slip_rounds=[rnd for rnd, _views in rounds] + closed)


#: How long after Done the household's slip may still be printed at the tablet: long
#: enough to press Print, short enough that the next person at the tablet cannot open it.
SLIP_FOR = timedelta(minutes=2)


@dataclass(frozen=True)
class TurnSlip:
    """A household's slip for one round, printed at the tablet (slips/print.html)."""

    slip: slips.Slip
    timezone: str


def turn_slip(session: TabletSession, turn: TabletVisit | None, done_visit_id: int | None,
              round_id: int, now: datetime) -> TurnSlip:
    """The slip (services.slips.household_slip) for one round of the household whose turn
    it is on this tablet (`turn`, open) or whose turn here ended on Done less than
    SLIP_FOR ago (`done_visit_id`, which the page remembers only until the next person
    starts). Raises slips.NotFound (404) for anything else: no such turn, another
    tablet's, one ended otherwise or too long ago, or a round without the household."""
    visit = turn
    if visit is None and done_visit_id:
        visit = db.session.get(TabletVisit, done_visit_id)
        if (visit is None or visit.ended_at is None or visit.end_reason != "done"
                or now - visit.ended_at > SLIP_FOR):
            visit = None
    if visit is None or visit.tablet_session_id != session.id:
        raise slips.NotFound(_l("There is no slip to print here."))
    household = visit.household
    slip = slips.household_slip(household.group_id, household.id, round_id, now)
    return TurnSlip(slip=slip, timezone=session.group.timezone)


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
        raise ServiceError(_l("We could not find that product."), field="item_id")
    if quantity is None or not 0 <= quantity <= max_units:
        raise ServiceError(_l("You can have from 0 to %(n)s.", n=max_units), field="quantity")
    tolerance = round_view.household_tolerance(item, household.id)
    with audit.context(tablet_session_id=turn.tablet_session_id):
        pledges.set_pledge(item, household, quantity, tolerance,
                           entered_by=turn.tablet_session.worker, now=now,
                           max_units=max_units)
    tablet.touch(turn, now)
    return item


def take_more_at_tablet(turn: TabletVisit, item_id: int, tolerance: int | None, *,
                        max_units: int, now: datetime) -> RoundItem:
    """The "I'll take up to N more to fill a case" − or + tap: the turn's household would
    now take up to exactly `tolerance` more of the product (its quantity kept), entered by
    the tablet's worker on its behalf (pledges.set_pledge, audited with the tablet
    session), and the resident is noted as still there. Returns the product.

    Refuses as pledge_at_tablet does (a product not of the household's group, field
    "item_id"; a number missing or outside 0 to `max_units`, field "tolerance"; a round
    no longer open, pledges.RoundNotOpenError).
    """
    household = turn.household
    item = db.session.get(RoundItem, item_id)
    if item is None or item.round.group_id != household.group_id:
        raise ServiceError(_l("We could not find that product."), field="item_id")
    if tolerance is None or not 0 <= tolerance <= max_units:
        raise ServiceError(_l("You can have from 0 to %(n)s.", n=max_units),
                           field="tolerance")
    mine = round_view.household_pledges(household.id, [item.round_id]).by_round
    quantity, _tolerance = mine.get(item.round_id, {}).get(item.id, (0, 0))
    with audit.context(tablet_session_id=turn.tablet_session_id):
        pledges.set_pledge(item, household, quantity, tolerance,
                           entered_by=turn.tablet_session.worker, now=now,
                           max_units=max_units)
    tablet.touch(turn, now)
    return item


def cash_at_tablet(turn: TabletVisit, statement_id: int, password: str, amount: str,
                   receipt: str, now: datetime, gift: str = "") -> CashPayment:
    """The worker takes cash from the turn's household for one of its bills, confirming
    with the worker's own password: recorded as taken by the worker at this tablet
    (cash.record_cash, audited with the tablet session), and the resident noted as
    still there. `amount`, `receipt` and `gift` (a gift to the solidarity pot handed
    over as well, optional) are as typed. Returns the payment.

    Refuses with ServiceError, in this order: a bill not the household's (field
    "statement_id"); a wrong password ("password"); an amount that is not one
    ("amount"); a missing or unusable receipt number ("receipt"); a gift that is not an
    amount ("gift"); and whatever record_cash refuses (more than is owed, a receipt
    number already recorded, a gift over the cap, ...).
    """
    statement = db.session.get(Statement, statement_id)
    if statement is None or statement.household_id != turn.household_id:
        raise ServiceError(_l("We could not find that bill."), field="statement_id")
    worker = turn.tablet_session.worker
    if accounts.authenticate(worker.email, password or "") is None:
        raise ServiceError(NOT_THE_HELPER, field="password")
    try:
        amount_pence = parse_pounds(amount or "")
    except ValueError as error:
        raise ServiceError(str(error), field="amount") from None
    try:
        receipt_number = clean_text(receipt, _l("Receipt number"), max_length=40)
    except ValueError as error:
        raise ServiceError(str(error), field="receipt") from None
    try:
        gift_pence = optional_pounds(gift) or 0
    except ValueError as error:
        raise ServiceError(str(error), field="gift") from None
    with audit.context(tablet_session_id=turn.tablet_session_id):
        payment = cash.record_cash(statement, amount_pence, receipt_number, actor=worker,
                                   now=now, gift_pence=gift_pence)
    tablet.touch(turn, now)
    return payment


#: What a household may do with cash the group holds for it (owed_back_at_tablet).
OWED_BACK_CHOICES = ("cash", "credit")


def owed_back_at_tablet(turn: TabletVisit, statement_id: int, choice: str, password: str,
                        now: datetime) -> CashReturn | HouseholdCredit:
    """The household chooses, with the worker, what happens to the cash the group holds
    for it on one of its bills after a short delivery, the worker confirming with their
    own password: `choice` "cash" is handed back now (credits.hand_back), "credit" is kept
    off its next bill (credits.keep_as_credit); either recorded as done by the worker at
    this tablet (audited with the tablet session), and the resident noted as still there.
    Returns the cash return or the credit entry.

    Refuses with ServiceError, in this order: a bill not the household's (field
    "statement_id"); a choice that is neither ("choice"); a wrong password ("password");
    and whatever credits refuses (nothing held on the bill, or someone just settled it).
    """
    statement = db.session.get(Statement, statement_id)
    if statement is None or statement.household_id != turn.household_id:
        raise ServiceError(_l("We could not find that bill."), field="statement_id")
    if choice not in OWED_BACK_CHOICES:
        raise ServiceError(_l("Choose cash back now, or keep it for the next order."),
                           field="choice")
    worker = turn.tablet_session.worker
    if accounts.authenticate(worker.email, password or "") is None:
        raise ServiceError(NOT_THE_HELPER, field="password")
    with audit.context(tablet_session_id=turn.tablet_session_id):
        if choice == "cash":
            done = credits.hand_back(statement, actor=worker, now=now)
        else:
            done = credits.keep_as_credit(statement, actor=worker, now=now)
    tablet.touch(turn, now)
    return done
