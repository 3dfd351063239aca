"""What a resident sees of a round: products, how full each case is, their own pledge.

The round page costs the same few queries with ten pledges or ten
thousand (aggregates are done by the database). The "My orders" estimate
reads only the household's own lines: "likely" means allocating the whole
round, which is kept per pledge_version, and each product of it per the product's
own pledge_version, so a pledge makes only its product be worked out again
(round_likely).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import bindparam, func, select

from bulkbuy import formatting, fragment_cache
from bulkbuy.domain.allocation import PledgeLine as DomainLine
from bulkbuy.domain.money import format_shown_unit_price, shown_unit_price
from bulkbuy.domain.outcome import (
    ItemInput,
    ItemOutcome,
    combine_items,
    consented_maximum,
    work_out_item,
)
from bulkbuy.domain.progress import CaseFill, case_fill
from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, Membership, PledgeLine, Product, Round, RoundItem, User


@dataclass(frozen=True)
class ItemFacts:
    """A product of a round, as plain values (what the pages show of it)."""

    id: int
    round_id: int
    name: str
    unit_description: str
    case_size: int
    case_price_pence: int
    #: The product's picture (products.picture, a stored name; bulkbuy.services.pictures).
    picture: str | None = None


@dataclass(frozen=True)
class ItemView:
    """One product as a household sees it: the whole group's box fill and its own pledge."""

    item: ItemFacts
    unit_price: str
    total_quantity: int
    total_tolerance: int
    fill: CaseFill
    my_quantity: int
    my_tolerance: int


@dataclass(frozen=True)
class RoundBoard:
    """A round's products, in name order, with the whole group's pledges summed."""

    items: tuple[ItemFacts, ...]
    #: Each product's unit price as (pence, exact) (domain.money.shown_unit_price): kept as
    #: numbers, put in words in the reader's language by household_board.
    unit_prices: tuple[tuple[int, bool], ...]
    totals: dict[int, tuple[int, int]]  # item id: (quantity, tolerance)


def round_totals(round_id: int) -> dict[int, tuple[int, int]]:
    """Every household's pledges in a round, summed per product: (quantity, tolerance)."""
    return {
        item_id: (int(q), int(t))
        for item_id, q, t in db.session.execute(_ROUND_TOTALS, {"round_id": round_id})
    }


# Built once (asked whenever a round's versions are new).
_ROUND_ITEMS = (
    select(RoundItem.id, RoundItem.round_id, RoundItem.name, RoundItem.unit_description,
           RoundItem.case_size, RoundItem.case_price_pence, Product.picture)
    .outerjoin(Product, Product.id == RoundItem.product_id)
    .where(RoundItem.round_id == bindparam("round_id")).order_by(RoundItem.name, RoundItem.id))
_ROUND_TOTALS = (
    select(PledgeLine.round_item_id, func.sum(PledgeLine.quantity),
           func.sum(PledgeLine.tolerance))
    .where(PledgeLine.round_id == bindparam("round_id"))
    .group_by(PledgeLine.round_item_id))


def round_board(rnd: Round) -> RoundBoard:
    """The round's products and totals, kept in this process per (round, version,
    pledge_version): every pledge bumps pledge_version, and the database bumps version on
    any change to the round or its products (migration 0008), each in the writer's own
    transaction, so a board kept under those numbers is never older than them (it may be
    a moment newer: it is read after them)."""
    key = (rnd.id, rnd.version, rnd.pledge_version)
    board = fragment_cache.round_boards.get(key)
    if board is not None:
        return board
    items = tuple(ItemFacts(*row) for row in db.session.execute(
        _ROUND_ITEMS, {"round_id": rnd.id}))
    board = board_of(list(items), round_totals(rnd.id))
    fragment_cache.round_boards.put(key, board)
    return board


@dataclass(frozen=True)
class HouseholdBoard:
    """A round as one household sees it: every product with the group's box fill and the
    household's own pledge, and the most the household can be asked to pay."""

    views: list[ItemView]
    most_pence: int


def board_of(items: list[ItemFacts], totals: dict[int, tuple[int, int]]) -> RoundBoard:
    """A round's board from products and totals already read (My orders reads every
    pledge line anyway)."""
    return RoundBoard(
        items=tuple(items),
        unit_prices=tuple(shown_unit_price(i.case_price_pence, i.case_size) for i in items),
        totals=totals)


def household_board(rnd: Round, mine: dict[int, tuple[int, int]],
                    board: RoundBoard | None = None) -> HouseholdBoard:
    """The one way a round's products, totals, box fill and a household's maximum are
    worked out, for the round page, the tablet's pledge screen and My orders.

    `mine` is the household's pledges in the round, {item id: (quantity, tolerance)}
    (household_pledges' by_round); the products and totals are round_board's unless
    `board` is given (board_of).
    """
    board = board or round_board(rnd)
    views = []
    wanted: dict[int, tuple[int, int, int]] = {}
    for item, (price, exact) in zip(board.items, board.unit_prices, strict=True):
        q, t = board.totals.get(item.id, (0, 0))
        my_q, my_t = mine.get(item.id, (0, 0))
        unit_price = format_shown_unit_price(price, exact, money=formatting.pence,
                                             gettext=_)
        views.append(ItemView(item=item, unit_price=unit_price, total_quantity=q,
                              total_tolerance=t, fill=case_fill(item.case_size, q, t),
                              my_quantity=my_q, my_tolerance=my_t))
        if item.id in mine:
            wanted[item.id] = (my_q + my_t, item.case_size, item.case_price_pence)
    most = consented_maximum(wanted, rnd.delivery_fee_pence, fee_mode=rnd.fee_split,
                             min_order_pence=rnd.min_order_pence)
    return HouseholdBoard(views=views, most_pence=most)


# Built once: the tablet's pledge screen asks it on every load, and building a statement
# costs about as much as SQLite takes to answer it.
_HOUSEHOLD_PLEDGES = (
    select(PledgeLine.round_id, PledgeLine.round_item_id, PledgeLine.quantity,
           PledgeLine.tolerance, User.name, Membership.id)
    .outerjoin(User, PledgeLine.entered_by_id == User.id)
    .outerjoin(Membership, (Membership.user_id == PledgeLine.entered_by_id)
               & (Membership.household_id == PledgeLine.household_id))
    # "+ 0": search by the household (a few lines), never by the round. SQLite without
    # ANALYZE statistics would otherwise walk every line of the round (#18).
    .where(PledgeLine.household_id == bindparam("household_id"),
           (PledgeLine.round_id + 0).in_(bindparam("round_ids", expanding=True))))


@dataclass(frozen=True)
class HouseholdPledges:
    """One household's pledges in some rounds, as the pages show them."""

    #: round id: {item id: (quantity, tolerance)}
    by_round: dict[int, dict[int, tuple[int, int]]]
    #: item id: names of helpers (people outside the household) who entered any of it
    helpers: dict[int, list[str]]


def household_pledges(household_id: int | None, round_ids: list[int]) -> HouseholdPledges:
    """The household's pledges in these rounds, summed per product, and who outside the
    household entered them (entered_by_helpers' answer): one query (none without a
    household)."""
    by_round: dict[int, dict[int, tuple[int, int]]] = {r: {} for r in round_ids}
    helpers: dict[int, set[str]] = {}
    if round_ids and household_id is not None:
        for round_id, item_id, quantity, tolerance, name, member in db.session.execute(
                _HOUSEHOLD_PLEDGES, {"household_id": household_id,
                                     "round_ids": list(round_ids)}):
            q, t = by_round[round_id].get(item_id, (0, 0))
            by_round[round_id][item_id] = (q + quantity, t + tolerance)
            if name is not None and member is None:
                helpers.setdefault(item_id, set()).add(name)
    return HouseholdPledges(by_round=by_round,
                            helpers={i: sorted(names) for i, names in helpers.items()})


@dataclass(frozen=True)
class HouseholdEstimate:
    """For one round: the most the household can be asked to pay and the likely amount."""

    round: Round
    lines: list[tuple[ItemFacts, int, int, int]]  # item, quantity, tolerance, likely units
    most_pence: int
    likely_pence: int
    #: Pence of orders the round still needs to reach its minimum (0 when it goes ahead).
    short_pence: int = 0


@dataclass(frozen=True)
class RoundLikely:
    """What a round would come to if it closed now (every household's pledges allocated
    by the round's own rules), as much as My orders shows of it."""

    #: household id: (pence it would owe, {item id: units it would get, where any}).
    households: dict[int, tuple[int, dict[int, int]]]
    #: Pence of goods ordered: cases × case price over every product.
    goods_total: int


# Built once: a round's products with their outcome's inputs and pledge_version (bumped
# by the database on any change to the product's lines), in the board's order.
_ROUND_ITEM_STATES = (
    select(RoundItem.id, RoundItem.round_id, RoundItem.name, RoundItem.unit_description,
           RoundItem.case_size, RoundItem.case_price_pence, Product.picture,
           RoundItem.max_cases, RoundItem.pledge_version)
    .outerjoin(Product, Product.id == RoundItem.product_id)
    .where(RoundItem.round_id == bindparam("round_id")).order_by(RoundItem.name, RoundItem.id))
# The pledge lines of some of a round's products, as plain rows.
_ITEM_LINES = (
    select(PledgeLine.round_item_id, PledgeLine.household_id, PledgeLine.queue_pos,
           PledgeLine.quantity, PledgeLine.tolerance)
    .where(PledgeLine.round_item_id.in_(bindparam("item_ids", expanding=True))))


@dataclass(frozen=True)
class _ItemLikely:
    """One product of an open round worked out alone (domain.outcome.work_out_item), and
    its pledges summed: (quantity, tolerance)."""

    outcome: ItemOutcome
    totals: tuple[int, int]


def _items_likely(rnd: Round, rows) -> list[_ItemLikely]:
    """Each product of `rows` (_ROUND_ITEM_STATES') worked out alone, kept in this
    process per (product, its pledge_version, the round's version): a pledge changes one
    product's number, so only that product's lines are read again (one query for all the
    products whose kept part is gone, none when every part is kept)."""
    keys = [("item", row.id, row.pledge_version, rnd.version) for row in rows]
    kept = [fragment_cache.item_outcomes.get(key) for key in keys]
    missing = [row.id for row, part in zip(rows, kept, strict=True) if part is None]
    lines: dict[int, list[DomainLine]] = defaultdict(list)
    if missing:
        for item_id, household_id, queue_pos, quantity, tolerance in db.session.execute(
                _ITEM_LINES, {"item_ids": missing}):
            lines[item_id].append(DomainLine(household_id, queue_pos, quantity, tolerance))
    parts = []
    for row, key, part in zip(rows, keys, kept, strict=True):
        if part is None:
            own = lines.get(row.id, [])
            part = _ItemLikely(
                outcome=work_out_item(ItemInput(row.id, row.case_size, row.case_price_pence,
                                                own, row.max_cases), rnd.allocation_mode),
                totals=(sum(line.quantity for line in own),
                        sum(line.tolerance for line in own)))
            fragment_cache.item_outcomes.put(key, part)
        parts.append(part)
    return parts


def round_likely(rnd: Round) -> tuple[RoundBoard, RoundLikely]:
    """The round's board (round_board's) and what it would come to if it closed now, kept
    in this process per (round, version, pledge_version) like the board: the outcome
    depends only on the pledges and on the round and its products, whose changes bump
    those numbers. Put together from each product worked out alone (_items_likely: only
    the products pledged for since are worked out again) and the fee shared over the
    round (domain.outcome.combine_items: the same as the close's work_out_round)."""
    key = ("likely", rnd.id, rnd.version, rnd.pledge_version)
    likely = fragment_cache.round_boards.get(key)
    if likely is not None:
        return round_board(rnd), likely
    rows = db.session.execute(_ROUND_ITEM_STATES, {"round_id": rnd.id}).all()
    parts = _items_likely(rnd, rows)
    outcome = combine_items([part.outcome for part in parts], rnd.delivery_fee_pence,
                            fee_mode=rnd.fee_split)
    units: dict[int, dict[int, int]] = defaultdict(dict)
    for item_id, allocation in outcome.allocations.items():
        for household_id, got in allocation.units.items():
            if got:
                units[household_id][item_id] = got
    likely = RoundLikely(
        households={h: (outcome.household_total(h), units.get(h, {})) for h in outcome.goods},
        goods_total=outcome.goods_total)
    fragment_cache.round_boards.put(key, likely)
    board_key = (rnd.id, rnd.version, rnd.pledge_version)
    board = fragment_cache.round_boards.get(board_key)
    if board is None:  # read in the same order as round_board's, so it is the same board
        board = board_of(
            [ItemFacts(row.id, row.round_id, row.name, row.unit_description, row.case_size,
                       row.case_price_pence, row.picture) for row in rows],
            {row.id: part.totals for row, part in zip(rows, parts, strict=True)
             if part.outcome.positions})
        fragment_cache.round_boards.put(board_key, board)
    return board, likely


def household_estimates(rounds: list[Round], household_id: int,
                        pledges: HouseholdPledges | None = None) -> list[HouseholdEstimate]:
    """Estimates for every given round in which the household has a pledge, earliest
    deadline first.

    "Likely" is what the household would owe if the round closed now (the whole
    queue allocated: round_likely's, worked out once per version and shared by every
    viewer); the products, the household's own pledges and "most" (the consented
    maximum: all units incl. tolerance, and the largest fee share it could bear) are
    household_board's, as on the round page and the tablet. Reads only the household's
    own lines (`pledges`, household_pledges' answer for these rounds, or one query), so
    it costs the same however many lines the rounds have, once their figures are kept.
    """
    if not rounds:
        return []
    if pledges is None:
        pledges = household_pledges(household_id, [r.id for r in rounds])
    estimates = []
    for rnd in sorted((r for r in rounds if pledges.by_round.get(r.id)),
                      key=lambda r: (r.closes_at, r.id)):
        mine = pledges.by_round[rnd.id]
        board, likely = round_likely(rnd)
        view = household_board(rnd, mine, board)
        likely_pence, units = likely.households.get(household_id, (0, {}))
        own_lines = sorted((
            (v.item, v.my_quantity, v.my_tolerance, units.get(v.item.id, 0))
            for v in view.views if v.my_quantity or v.my_tolerance),
            key=lambda line: (line[0].name, line[0].id))  # by name, as My orders always was
        estimates.append(
            HouseholdEstimate(
                round=rnd,
                lines=own_lines,
                most_pence=view.most_pence,
                likely_pence=likely_pence,
                short_pence=max((rnd.min_order_pence or 0) - likely.goods_total, 0),
            )
        )
    return estimates


def household_maximum(rnd: Round, household_id: int) -> int:
    """The most this household can be asked to pay for the round as its pledges stand now
    (household_board's answer)."""
    mine = household_pledges(household_id, [rnd.id]).by_round[rnd.id]
    return household_board(rnd, mine).most_pence


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
