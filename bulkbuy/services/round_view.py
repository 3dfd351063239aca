"""What a resident sees of a round: products, how full each case is, their own pledge.

The round page costs the same few queries with ten pledges or ten
thousand (aggregates are done by the database). The "My orders" estimate
also costs a fixed number of queries, but reads every pledge line of the
rounds it covers, since "likely" means allocating the whole round.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select

from bulkbuy import fragment_cache
from bulkbuy.domain.allocation import PledgeLine as DomainLine
from bulkbuy.domain.money import format_unit_price
from bulkbuy.domain.outcome import consented_maximum
from bulkbuy.domain.progress import CaseFill, case_fill
from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, Membership, PledgeLine, Round, RoundItem, User
from bulkbuy.services.closing import outcome_if_closed


@dataclass(frozen=True)
class ItemView:
    item: RoundItem
    unit_price: str
    total_quantity: int
    total_tolerance: int
    fill: CaseFill
    my_quantity: int
    my_tolerance: int


def round_totals(round_id: int) -> dict[int, tuple[int, int]]:
    """Every household's pledges in a round, summed per product: (quantity, tolerance)."""
    return {
        item_id: (int(q), int(t))
        for item_id, q, t in db.session.execute(
            select(PledgeLine.round_item_id, func.sum(PledgeLine.quantity),
                   func.sum(PledgeLine.tolerance))
            .where(PledgeLine.round_id == round_id)
            .group_by(PledgeLine.round_item_id))
    }


def item_views(rnd: Round, household_id: int | None) -> list[ItemView]:
    """Every product of the round with its case fill and this household's pledge."""
    items = db.session.scalars(
        select(RoundItem).where(RoundItem.round_id == rnd.id).order_by(RoundItem.name)
    ).all()
    totals = round_totals(rnd.id)
    mine: dict[int, tuple[int, int]] = {}
    if household_id is not None:
        mine = {
            item_id: (q, t)
            for item_id, q, t in db.session.execute(
                select(
                    PledgeLine.round_item_id,
                    func.sum(PledgeLine.quantity),
                    func.sum(PledgeLine.tolerance),
                )
                .where(PledgeLine.round_id == rnd.id, PledgeLine.household_id == household_id)
                .group_by(PledgeLine.round_item_id)
            )
        }
    views = []
    for item in items:
        q, t = (int(v) for v in totals.get(item.id, (0, 0)))
        my_q, my_t = (int(v) for v in mine.get(item.id, (0, 0)))
        views.append(
            ItemView(
                item=item,
                unit_price=format_unit_price(item.case_price_pence, item.case_size),
                total_quantity=q,
                total_tolerance=t,
                fill=case_fill(item.case_size, q, t),
                my_quantity=my_q,
                my_tolerance=my_t,
            )
        )
    return views


@dataclass(frozen=True)
class ItemFacts:
    """A product of an open round, as plain values (fixed from the moment it opens)."""

    id: int
    round_id: int
    name: str
    unit_description: str
    case_size: int
    case_price_pence: int


@dataclass(frozen=True)
class RoundBoard:
    """An open round's products, in name order, with the whole group's pledges summed."""

    items: tuple[ItemFacts, ...]
    unit_prices: tuple[str, ...]
    totals: dict[int, tuple[int, int]]  # item id: (quantity, tolerance)


def round_board(rnd: Round) -> RoundBoard:
    """The round's products and totals, kept in this process per (round, pledge_version).

    Only for an open round: its products no longer change, and every pledge bumps
    pledge_version in the pledge's own transaction, so a board kept under a version is
    never older than that version (it may be a moment newer: it is read after it).
    """
    key = (rnd.id, rnd.pledge_version, rnd.opens_at)
    board = fragment_cache.round_boards.get(key)
    if board is not None:
        return board
    items = tuple(
        ItemFacts(*row) for row in db.session.execute(
            select(RoundItem.id, RoundItem.round_id, RoundItem.name,
                   RoundItem.unit_description, RoundItem.case_size,
                   RoundItem.case_price_pence)
            .where(RoundItem.round_id == rnd.id).order_by(RoundItem.name)))
    board = RoundBoard(
        items=items,
        unit_prices=tuple(format_unit_price(i.case_price_pence, i.case_size) for i in items),
        totals=round_totals(rnd.id))
    fragment_cache.round_boards.put(key, board)
    return board


# Built once: the tablet's pledge screen asks it on every load, and building a statement
# costs about as much as SQLite takes to answer it.
_HOUSEHOLD_PLEDGES = (
    select(PledgeLine.round_id, PledgeLine.round_item_id, PledgeLine.quantity,
           PledgeLine.tolerance, User.name, Membership.id)
    .outerjoin(User, PledgeLine.entered_by_id == User.id)
    .outerjoin(Membership, (Membership.user_id == PledgeLine.entered_by_id)
               & (Membership.household_id == PledgeLine.household_id))
    .where(PledgeLine.household_id == bindparam("household_id"),
           PledgeLine.round_id.in_(bindparam("round_ids", expanding=True))))


@dataclass(frozen=True)
class HouseholdPledges:
    """One household's pledges in some rounds, as the pledge screen shows them."""

    #: round id: {item id: (quantity, tolerance)}
    by_round: dict[int, dict[int, tuple[int, int]]]
    #: item id: names of helpers (people outside the household) who entered any of it
    helpers: dict[int, list[str]]


def household_pledges(household_id: int, round_ids: list[int]) -> HouseholdPledges:
    """The household's pledges in these rounds, summed per product, and who outside the
    household entered them (entered_by_helpers' answer): one query."""
    by_round: dict[int, dict[int, tuple[int, int]]] = {r: {} for r in round_ids}
    helpers: dict[int, set[str]] = {}
    if round_ids:
        for round_id, item_id, quantity, tolerance, name, member in db.session.execute(
                _HOUSEHOLD_PLEDGES, {"household_id": household_id,
                                     "round_ids": list(round_ids)}):
            q, t = by_round[round_id].get(item_id, (0, 0))
            by_round[round_id][item_id] = (q + quantity, t + tolerance)
            if name is not None and member is None:
                helpers.setdefault(item_id, set()).add(name)
    return HouseholdPledges(by_round=by_round,
                            helpers={i: sorted(names) for i, names in helpers.items()})


def board_views(board: RoundBoard, mine: dict[int, tuple[int, int]]) -> list[ItemView]:
    """item_views' answer from a board and one household's pledges (item: ItemFacts)."""
    views = []
    for item, unit_price in zip(board.items, board.unit_prices, strict=True):
        q, t = board.totals.get(item.id, (0, 0))
        my_q, my_t = mine.get(item.id, (0, 0))
        views.append(ItemView(item=item, unit_price=unit_price, total_quantity=q,
                              total_tolerance=t, fill=case_fill(item.case_size, q, t),
                              my_quantity=my_q, my_tolerance=my_t))
    return views


def board_maximum(rnd: Round, board: RoundBoard, mine: dict[int, tuple[int, int]]) -> int:
    """household_maximum's answer from a board and the household's pledges."""
    wanted = {item.id: (sum(mine[item.id]), item.case_size, item.case_price_pence)
              for item in board.items if item.id in mine}
    return consented_maximum(wanted, rnd.delivery_fee_pence, fee_mode=rnd.fee_split,
                             min_order_pence=rnd.min_order_pence)


@dataclass(frozen=True)
class HouseholdEstimate:
    """For one round: the most the household can be asked to pay and the likely amount."""

    round: Round
    lines: list[tuple[RoundItem, int, int, int]]  # item, quantity, tolerance, likely units
    most_pence: int
    likely_pence: int


def household_estimates(rounds: list[Round], household_id: int) -> list[HouseholdEstimate]:
    """Estimates for every given round in which the household has a pledge.

    "Likely" is what the household would owe if the round closed now;
    "most" is the consented maximum (all units incl. tolerance, and the
    largest fee share it could bear).
    """
    if not rounds:
        return []
    by_id = {r.id: r for r in rounds}
    rows = db.session.execute(
        select(PledgeLine, RoundItem)
        .join(RoundItem, PledgeLine.round_item_id == RoundItem.id)
        .where(PledgeLine.round_id.in_(by_id))
    ).all()
    mine_rounds = {line.round_id for line, _ in rows if line.household_id == household_id}
    lines_by_item: dict[int, list[DomainLine]] = defaultdict(list)
    items: dict[int, RoundItem] = {}
    for line, item in rows:
        if line.round_id in mine_rounds:
            items[item.id] = item
            lines_by_item[item.id].append(
                DomainLine(line.household_id, line.queue_pos, line.quantity, line.tolerance)
            )
    estimates = []
    for round_id in sorted(mine_rounds, key=lambda rid: by_id[rid].closes_at):
        rnd = by_id[round_id]
        round_items = [i for i in items.values() if i.round_id == round_id]
        outcome = outcome_if_closed(rnd, round_items, lines_by_item)
        own_lines = []
        wanted = {}
        for item in sorted(round_items, key=lambda i: i.name):
            q = sum(x.quantity for x in lines_by_item[item.id] if x.household_id == household_id)
            t = sum(x.tolerance for x in lines_by_item[item.id] if x.household_id == household_id)
            if q or t:
                units = outcome.allocations[item.id].units.get(household_id, 0)
                own_lines.append((item, q, t, units))
                wanted[item.id] = (q + t, item.case_size, item.case_price_pence)
        estimates.append(
            HouseholdEstimate(
                round=rnd,
                lines=own_lines,
                most_pence=consented_maximum(
                    wanted, rnd.delivery_fee_pence, fee_mode=rnd.fee_split,
                    min_order_pence=rnd.min_order_pence,
                ),
                likely_pence=outcome.household_total(household_id),
            )
        )
    return estimates


def household_maximum(rnd: Round, household_id: int) -> int:
    """The most this household can be asked to pay for the round as its pledges stand now.

    Reads only the household's own pledge lines (the consented maximum does not
    depend on anyone else's).
    """
    wanted: dict[int, tuple[int, int, int]] = {}
    for line, item in db.session.execute(
        select(PledgeLine, RoundItem)
        .join(RoundItem, PledgeLine.round_item_id == RoundItem.id)
        .where(PledgeLine.round_id == rnd.id, PledgeLine.household_id == household_id)
    ):
        units, _, _ = wanted.get(item.id, (0, 0, 0))
        wanted[item.id] = (units + line.quantity + line.tolerance, item.case_size,
                           item.case_price_pence)
    return consented_maximum(wanted, rnd.delivery_fee_pence, fee_mode=rnd.fee_split,
                             min_order_pence=rnd.min_order_pence)


def household_tolerance(item: RoundItem, household_id: int) -> int:
    """The extra units the household said it would take of this product (kept by − and +)."""
    return db.session.scalar(
        select(func.coalesce(func.sum(PledgeLine.tolerance), 0)).where(
            PledgeLine.round_item_id == item.id, PledgeLine.household_id == household_id)
    ) or 0


@dataclass(frozen=True)
class HelperChange:
    """One change a helper (someone outside the household) made to its order."""

    at: datetime
    helper: str
    product: str
    round: Round
    before: int
    after: int


def helper_changes(household_id: int, limit: int = 20) -> list[HelperChange]:
    """The latest changes people outside the household made to its orders (a helper at
    the drop-in), newest first, from the audit log: raising, lowering, taking away."""
    own = select(Membership.user_id).where(Membership.household_id == household_id)
    rows = db.session.execute(
        select(AuditEntry, User.name, RoundItem)
        .join(User, AuditEntry.actor_id == User.id)
        .join(RoundItem, (AuditEntry.subject_type == "RoundItem")
              & (AuditEntry.subject_id == RoundItem.id))
        .where(AuditEntry.action == "pledge.changed",
               AuditEntry.household_id == household_id,
               AuditEntry.actor_id.not_in(own))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
    ).all()
    changes = []
    for entry, name, item in rows:
        details = json.loads(entry.details or "{}")
        changes.append(HelperChange(
            at=entry.at, helper=name, product=item.name, round=item.round,
            before=int(details.get("before", {}).get("quantity", 0)),
            after=int(details.get("after", {}).get("quantity", 0))))
    return changes


def entered_by_helpers(household_id: int, round_ids: list[int]) -> dict[int, list[str]]:
    """For each product, the names of people outside the household (helpers at the
    drop-in) who entered any of its order: the household sees who ordered for it."""
    if not round_ids:
        return {}
    own = select(Membership.user_id).where(Membership.household_id == household_id)
    rows = db.session.execute(
        select(PledgeLine.round_item_id, User.name)
        .join(User, PledgeLine.entered_by_id == User.id)
        .where(PledgeLine.household_id == household_id, PledgeLine.round_id.in_(round_ids),
               PledgeLine.entered_by_id.not_in(own))
        .distinct()
    ).all()
    names: dict[int, list[str]] = {}
    for item_id, name in rows:
        names.setdefault(item_id, []).append(name)
    return {item_id: sorted(found) for item_id, found in names.items()}
