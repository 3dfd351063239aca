"""A resident's own overview pages: the home page's rounds, and My orders.

Each costs a fixed number of queries, however many rounds and pledges. My orders reads
only the household's own pledge lines; what each open round would come to if it closed
now is worked out once per pledge_version and kept (round_view.round_likely).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from bulkbuy.access import STAFF_ROLES
from bulkbuy.domain import statuses
from bulkbuy.domain.savings import Saving, saving
from bulkbuy.extensions import db
from bulkbuy.models import (
    Group,
    Membership,
    PledgeLine,
    Round,
    Statement,
    StatementLine,
    User,
    utcnow,
)
from bulkbuy.services import credits, delivery, drop_ins, round_view, solidarity
from bulkbuy.services.payments import saved_cards as cards


def memberships_of(user_id: int) -> list[Membership]:
    """The user's memberships, each with its group loaded."""
    return list(db.session.scalars(
        select(Membership)
        .options(joinedload(Membership.group))
        .where(Membership.user_id == user_id)
    ).all())


def owed_statements(household_ids: list[int]) -> list[Statement]:
    """The households' statements still owed for finished rounds, for the "Pay now" links,
    earliest deadline first (each with its round loaded)."""
    if not household_ids:
        return []
    return list(db.session.scalars(
        select(Statement)
        .options(joinedload(Statement.round))
        .join(Round, Statement.round_id == Round.id)
        .where(Statement.household_id.in_(household_ids),
               Statement.payment_status.in_(statuses.OWED),
               Round.status.in_(statuses.FINISHED_ROUNDS))
        .order_by(Round.closes_at)
    ))


@dataclass(frozen=True)
class HomeOverview:
    """What the home page lists for a user."""

    memberships: list[Membership]
    #: Open rounds of the user's groups, earliest deadline first.
    open_rounds: list[Round]
    #: The other rounds the user may see: listed ones, their own, and any their
    #: household ordered in (failed, cancelled and finished ones included).
    other_rounds: list[Round]
    #: Closed rounds taking payment, in the groups where the user is staff.
    payment_rounds: list[Round]
    #: The memberships in which the user is staff (organiser or worker).
    staff_groups: list[Membership]
    #: Statements the user's households still owe.
    to_pay: list[Statement]
    #: group id (of the groups where the user has a household): its next drop-in times
    #: (services/drop_ins.upcoming), where to order in person and pay in cash.
    drop_ins: dict[int, list[drop_ins.DropInTime]] = field(default_factory=dict)


def home_overview(user: User, now: datetime | None = None) -> HomeOverview:
    """The home page for `user`: their groups' rounds, the rounds staff take payment for,
    what their households owe, and their groups' next drop-in times (one query a group
    where they have a household)."""
    now = now or utcnow()
    memberships = memberships_of(user.id)
    group_ids = [m.group_id for m in memberships]
    household_ids = [m.household_id for m in memberships if m.household_id is not None]
    # Failed, cancelled and finished rounds stay listed for households that ordered
    # in them: that is how a household without e-mail learns what happened.
    ordered_in = select(PledgeLine.round_id).where(PledgeLine.household_id.in_(household_ids))
    visible = db.session.scalars(
        select(Round)
        .options(joinedload(Round.group))
        .where(
            Round.group_id.in_(group_ids),
            (Round.status.in_(statuses.LISTED_ROUNDS))
            | (Round.created_by_id == user.id)
            | Round.id.in_(ordered_in),
        )
        .order_by(Round.closes_at)
    ).all()
    staff_groups = [m.group_id for m in memberships if m.role in STAFF_ROLES]
    payment_rounds: list[Round] = []
    if staff_groups:
        # Workers and organisers take cash for closed rounds: one tap from here.
        payment_rounds = list(db.session.scalars(
            select(Round)
            .where(Round.group_id.in_(staff_groups),
                   Round.status.in_(statuses.COLLECTING_ROUNDS))
            .order_by(Round.closes_at.desc())
        ).all())
    return HomeOverview(
        memberships=memberships,
        open_rounds=[r for r in visible if r.status == "open"],
        other_rounds=[r for r in visible if r.status != "open"],
        payment_rounds=payment_rounds,
        staff_groups=[m for m in memberships if m.role in STAFF_ROLES],
        to_pay=owed_statements(household_ids),
        drop_ins={m.group_id: drop_ins.upcoming(m.group_id, now) for m in memberships
                  if m.household_id is not None},
    )


#: How many finished (complete) rounds My orders keeps showing.
FINISHED_SHOWN = 3


def closed_statements(household_ids: list[int]) -> tuple[list[Statement], list[Statement]]:
    """The households' statements of finished rounds, as (to pay, closed): to pay are those
    still owed (earliest deadline first, as owed_statements); closed are those of rounds
    closed and not yet complete, then of the last FINISHED_SHOWN complete rounds, latest
    close first. Each has its round, group and lines (with their products) loaded: what the
    close wrote, no allocation worked out again. One query, and one more for the lines if
    there are any, however many rounds."""
    if not household_ids:
        return [], []
    last_complete = (
        select(Statement.round_id)
        .join(Round, Statement.round_id == Round.id)
        .where(Statement.household_id.in_(household_ids),
               Round.status == statuses.RoundStatus.COMPLETE)
        .order_by(Round.closes_at.desc(), Round.id.desc())
        .limit(FINISHED_SHOWN)
    )
    rows = list(db.session.scalars(
        select(Statement)
        .options(joinedload(Statement.round).joinedload(Round.group),
                 selectinload(Statement.lines).joinedload(StatementLine.item))
        .join(Round, Statement.round_id == Round.id)
        .where(Statement.household_id.in_(household_ids),
               Round.status.in_(statuses.FINISHED_ROUNDS),
               Round.status.in_(statuses.COLLECTING_ROUNDS)
               | Statement.payment_status.in_(statuses.OWED)
               | Statement.round_id.in_(last_complete.scalar_subquery()))
        .order_by(Round.closes_at.desc(), Statement.id)
    ).unique())
    to_pay = sorted((s for s in rows if s.payment_status in statuses.OWED),
                    key=lambda s: s.round.closes_at)
    collecting = [s for s in rows if s.round.status in statuses.COLLECTING_ROUNDS]
    complete = [s for s in rows if s.round.status == statuses.RoundStatus.COMPLETE]
    return to_pay, collecting + complete[:FINISHED_SHOWN]


@dataclass(frozen=True)
class MyOrders:
    """What My orders shows: each household's pledges in open rounds, and what is owed."""

    #: Per open round the household ordered in: the most it can be asked and the likely sum.
    estimates: list[round_view.HouseholdEstimate]
    #: round id: paying by card for that round (cards.card_choice's answer).
    choices: dict[int, dict]
    #: (household id, item id): names of helpers who entered any of that order.
    helpers: dict[tuple[int, int], list[str]]
    #: group id: the user's household in that group.
    household_of: dict[int, int]
    #: The latest changes helpers made to the households' orders.
    helper_changes: list[round_view.HelperChange]
    #: The groups in which the user has a household (each may set its drop-in PIN).
    pin_groups: list[Group]
    #: Statements the households still owe.
    to_pay: list[Statement]
    #: The households' closed rounds (see closed_statements), each statement with its lines.
    closed: list[Statement]
    #: statement id: what changed when its delivery came, in words, with pence.
    changes: dict[int, list[tuple[str, int]]]
    #: household id: its credit (kept from a short delivery), only where it has some.
    credit: dict[int, int]
    #: statement id (of `closed`): what it saved compared with shop prices.
    savings: dict[int, Saving]
    #: group id (of `pin_groups`): its next drop-in times (services/drop_ins.upcoming).
    drop_ins: dict[int, list[drop_ins.DropInTime]] = field(default_factory=dict)
    #: group id (of `pin_groups`): its solidarity pot's totals, only where the pot has had
    #: money (sums only: never who was helped).
    pots: dict[int, solidarity.PotTotals] = field(default_factory=dict)


def my_orders(user: User, config: Mapping, now: datetime | None = None) -> MyOrders:
    """My orders for `user`, over every group where they have a household, with each
    group's next drop-in times."""
    now = now or utcnow()
    memberships = [m for m in memberships_of(user.id) if m.household_id is not None]
    estimates: list[round_view.HouseholdEstimate] = []
    helpers: dict[tuple[int, int], list[str]] = {}
    for member in memberships:
        open_rounds = list(db.session.scalars(
            select(Round).where(Round.group_id == member.group_id, Round.status == "open")
        ).all())
        # Only the household's own lines; the round-wide figures are kept per version.
        mine = round_view.household_pledges(member.household_id, [r.id for r in open_rounds])
        estimates += round_view.household_estimates(open_rounds, member.household_id, mine)
        helpers.update({(member.household_id, item_id): names
                        for item_id, names in mine.helpers.items()})
    household_of = {m.group_id: m.household_id for m in memberships}
    choices = {e.round.id: cards.card_choice(config, e.round, household_of[e.round.group_id])
               for e in estimates}
    helper_changes = [change for member in memberships
                      for change in round_view.helper_changes(member.household_id)]
    to_pay, closed = closed_statements([m.household_id for m in memberships])
    return MyOrders(
        estimates=estimates,
        choices=choices,
        helpers=helpers,
        household_of=household_of,
        helper_changes=helper_changes,
        pin_groups=[m.group for m in memberships],
        to_pay=to_pay,
        closed=closed,
        changes=delivery.changes_by_statement([st.id for st in closed]),
        credit=credits.balances(m.household_id for m in memberships),
        # From the lines and products already loaded with the statements: no query.
        savings={st.id: saving((line.units, line.amount_pence, line.item.retail_price_pence)
                               for line in st.lines) for st in closed},
        drop_ins={m.group_id: drop_ins.upcoming(m.group_id, now) for m in memberships},
        pots=solidarity.totals_of(m.group_id for m in memberships),
    )
