"""A resident's round pages: the round page (and what its kept copy is checked against),
the choices for starting a round (rounds.start_round starts it), their drop-in PIN; and
whether a user sees the Organise link.

None of these commit: the request does (see bulkbuy/transactions.py).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import String, bindparam, cast, func, or_, select
from sqlalchemy.orm import joinedload

from bulkbuy.domain import statuses
from bulkbuy.extensions import db
from bulkbuy.models import (
    DropInSession,
    Group,
    Household,
    LastCall,
    Membership,
    PledgeLine,
    Product,
    Round,
    RoundItem,
    Supplier,
    User,
    utcnow,
)
from bulkbuy.services import (
    accounts,
    catalogue,
    drop_ins,
    last_call,
    round_view,
    statements,
    tablet,
)

# --- the round page and its kept copy -------------------------------------------------------

#: The round statuses whose page is kept rendered between changes (see fragment_cache).
CACHEABLE_STATUSES = ("draft", "pending_approval", "open")

#: How many drop-in times the round page lists.
ROUND_PAGE_DROP_INS = 3

#: The round's last calls, counted: a last call is inserted once per product and never
#: changed (what it says is worked out again from the pledges), so a new one changes it.
_LAST_CALL_COUNT = (
    select(func.count(LastCall.id)).where(LastCall.round_id == Round.id)
    .correlate(Round).scalar_subquery().label("last_calls")
)

#: What the round page's kept copy is keyed by (resident.routes._page_key): the version
#: numbers the database bumps whenever anything the page shows changes (the round and its
#: products and supplier, its pledges, its group), the round's last calls, and who is
#: looking (the round, the member and their role and household). The status only says
#: whether a copy is kept. The key ends with the drop-in times the page lists (see
#: `page_drop_ins`): worked out from the group's drop-in sessions as they are now, so a
#: drop-in added or removed, or one listed that has ended, makes a new key.
PAGE_KEY_FIELDS = (
    Round.id, Round.status, Round.version, Round.pledge_version, Group.settings_version,
    Membership.id, Membership.role, Membership.household_id, Round.group_id,
    Round.closes_at, _LAST_CALL_COUNT,
)


def page_drop_ins(group_id: int, status: str, closes_at: datetime,
                  now: datetime) -> list[drop_ins.DropInTime]:
    """The drop-in times an unfinished round's page lists: for an open round, the next
    ones before its deadline (where to order in person or pay in cash); none otherwise.
    One query for an open round, none for another."""
    if status != statuses.RoundStatus.OPEN:
        return []
    return drop_ins.upcoming(group_id, now, until=closes_at, limit=ROUND_PAGE_DROP_INS)


def shares_products(values: tuple) -> bool:
    """Whether the page with these key values (PAGE_KEY_FIELDS and drop-in times) is put
    together from a shared part and a per-viewer part (`split_key`): an open round seen
    by a member with a household (the product cards with a form in each)."""
    return values[1] == statuses.RoundStatus.OPEN and values[7] is not None


def split_key(values: tuple) -> tuple[tuple, tuple]:
    """A page key's values cut in two: the shared part's (the round's versions, its last
    calls and drop-in times: the same for every household) and the part around it's (the
    same without pledge_version and last calls, which show only in the shared part; with
    the member)."""
    (round_id, status, version, pledge_version, settings_version, member_id, role,
     household_id, group_id, closes_at, last_calls, times) = values
    shared = (round_id, status, version, pledge_version, settings_version, last_calls, times)
    around = (round_id, status, version, settings_version, member_id, role, household_id,
              group_id, closes_at, times)
    return shared, around


def page_values(rnd: Round, member: Membership, contents: RoundContents) -> tuple:
    """PAGE_KEY_FIELDS read from loaded objects (the same values `kept_page_values`
    reads), then the drop-in times shown, without a query: the round must have its group
    loaded, and `contents` is what its page was rendered from."""
    return (rnd.id, rnd.status, rnd.version, rnd.pledge_version, rnd.group.settings_version,
            member.id, member.role, member.household_id, rnd.group_id, rnd.closes_at,
            contents.last_call_count, tuple(contents.drop_ins))


#: The group's drop-in sessions, read with the key (one row each; one row of NULLs with
#: none): the page lists the times they make (`page_drop_ins`).
_DROP_IN_FIELDS = (
    Group.timezone, DropInSession.place, DropInSession.starts, DropInSession.ends,
    DropInSession.weekday, DropInSession.on_date, DropInSession.note,
)


#: The member's household's pledges in the round, read with the key ("item:quantity:
#: tolerance" joined by commas; NULL with none): what the shared part's slots are filled
#: with. "+ 0": searched by the household, never by the round (see round_view).
_MY_PLEDGES = (
    select(func.aggregate_strings(
        cast(PledgeLine.round_item_id, String) + ":" + cast(PledgeLine.quantity, String)
        + ":" + cast(PledgeLine.tolerance, String), ","))
    .where(PledgeLine.household_id == Membership.household_id,
           (PledgeLine.round_id + 0) == Round.id)
    .correlate(Round, Membership).scalar_subquery().label("mine")
)


@functools.cache
def _page_values_query():
    """PAGE_KEY_FIELDS of one round for one member, with its household's pledges and the
    group's drop-in sessions, built once (it runs on every reload)."""
    return (
        select(*PAGE_KEY_FIELDS, _MY_PLEDGES, *_DROP_IN_FIELDS)
        .join(Group, Group.id == Round.group_id)
        .join(
            Membership,
            (Membership.group_id == Round.group_id)
            & (Membership.user_id == bindparam("user_id")),
        )
        .outerjoin(
            DropInSession,
            (DropInSession.group_id == Round.group_id)
            & DropInSession.removed_at.is_(None)
            & or_(DropInSession.on_date.is_(None),
                  DropInSession.on_date >= bindparam("oldest")),
        )
        .where(Round.id == bindparam("round_id"))
    )


@dataclass(frozen=True)
class KeptPage:
    """What the kept round page is checked against and filled with (`kept_page_values`)."""

    #: PAGE_KEY_FIELDS, then the drop-in times the page lists.
    values: tuple
    #: The member's household's pledges in the round: {item id: (quantity, tolerance)}.
    mine: dict[int, tuple[int, int]]


def _pledges_read(text: str | None) -> dict[int, tuple[int, int]]:
    """_MY_PLEDGES' answer, summed per product."""
    mine: dict[int, tuple[int, int]] = {}
    for line in (text or "").split(","):
        if line:
            item_id, quantity, tolerance = (int(part) for part in line.split(":"))
            q, t = mine.get(item_id, (0, 0))
            mine[item_id] = (q + quantity, t + tolerance)
    return mine


def kept_page_values(round_id: int, user_id: int, now: datetime) -> KeptPage | None:
    """PAGE_KEY_FIELDS of the round for this user's membership of its group, then the
    drop-in times its page lists at `now`, and the household's pledges, with one prebuilt
    query; None when the user is no member of its group, there is no such round, or its
    page is not kept (its status is not in CACHEABLE_STATUSES)."""
    rows = db.session.execute(
        _page_values_query(),
        {"round_id": round_id, "user_id": user_id, "oldest": drop_ins.oldest_date(now)},
    ).all()
    if not rows or rows[0].status not in CACHEABLE_STATUSES:
        return None
    first = rows[0]
    times: list[drop_ins.DropInTime] = []
    if first.status == statuses.RoundStatus.OPEN:
        sessions = [row for row in rows if row.place is not None]
        times = drop_ins.next_from(sessions, first.timezone, now, until=first.closes_at,
                                   limit=ROUND_PAGE_DROP_INS)
    return KeptPage(values=(*tuple(first)[:len(PAGE_KEY_FIELDS)], tuple(times)),
                    mine=_pledges_read(first.mine))


@dataclass(frozen=True)
class KnownParts:
    """What `kept_page_values` already read that `round_contents` need not read again."""

    drop_ins: list[drop_ins.DropInTime]
    last_call_count: int
    #: The household's pledges ({item id: (quantity, tolerance)}).
    mine: dict[int, tuple[int, int]] | None = None


def known_parts(kept: KeptPage) -> KnownParts:
    """The drop-in times, last-call count and pledges in `kept_page_values`' answer."""
    return KnownParts(drop_ins=list(kept.values[-1]), last_call_count=kept.values[-2],
                      mine=kept.mine)


def round_with_membership(round_id: int, user_id: int) -> tuple[Round, Membership | None] | None:
    """The round (with its group and supplier) and the user's membership of its group (None
    when not a member), in one query; None when there is no such round. Who may see it
    is the caller's check."""
    row = db.session.execute(
        select(Round, Membership)
        .options(joinedload(Round.group), joinedload(Round.supplier))
        .outerjoin(
            Membership,
            (Membership.group_id == Round.group_id) & (Membership.user_id == user_id),
        )
        .where(Round.id == round_id)
    ).first()
    if row is None:
        return None
    return row[0], row[1]


@dataclass(frozen=True)
class RoundContents:
    """What the round page shows below the round's own details."""

    #: The round is finished (FINISHED_ROUNDS): a statement instead of products.
    finished: bool
    #: The household's statement of a finished round, if it has one.
    own_statement: statements.ExplainedStatement | None
    #: Every product with its case fill and the household's pledge (unfinished rounds).
    items: list[round_view.ItemView]
    #: The drop-in times to show: before the deadline of an open round (`page_drop_ins`);
    #: the next ones when the household still owes for a finished round.
    drop_ins: list[drop_ins.DropInTime] = field(default_factory=list)
    #: An open round's boxes called out as nearly full and still short now.
    last_calls: list[PageLastCall] = field(default_factory=list)
    #: How many last calls the round has had (part of the kept copy's key).
    last_call_count: int = 0


@dataclass(frozen=True)
class PageLastCall:
    """A box called out as nearly full (services/last_call), as the round page says it:
    how many units it needs now, worked out from the pledges as they are."""

    item_id: int
    product: str
    unit: str
    units_short: int
    saving_per_unit_pence: int


def _last_calls(rnd: Round, items: list[round_view.ItemView]) -> tuple[list[PageLastCall], int]:
    """The open round's last calls still short now, in the products' order, and how many
    it has had. One query."""
    called = {
        item_id: (saving, max_cases)
        for item_id, saving, max_cases in db.session.execute(
            select(LastCall.round_item_id, LastCall.saving_per_unit_pence,
                   RoundItem.max_cases)
            .join(RoundItem, RoundItem.id == LastCall.round_item_id)
            .where(LastCall.round_id == rnd.id)
        )
    }
    shown = []
    for view in items:
        if view.item.id not in called:
            continue
        saving, max_cases = called[view.item.id]
        short = last_call.units_short(view.item.case_size, view.total_quantity,
                                      view.total_tolerance, max_cases)
        if short > 0:
            shown.append(PageLastCall(item_id=view.item.id, product=view.item.name,
                                      unit=view.item.unit_description, units_short=short,
                                      saving_per_unit_pence=saving))
    return shown, len(called)


def round_contents(rnd: Round, household_id: int | None, now: datetime | None = None,
                   known: KnownParts | None = None) -> RoundContents:
    """The round page's products (an unfinished round) or the household's statement (a
    finished one), and the drop-in times and last calls it shows: a fixed number of
    queries, however many pledges. `known` is what the kept copy's key read just before
    (`known_parts`): its drop-in times and the household's pledges are used, and with no
    last calls they are not looked for."""
    now = now or utcnow()
    finished = rnd.status in statuses.FINISHED_ROUNDS
    own_statement = None
    items: list[round_view.ItemView] = []
    times: list[drop_ins.DropInTime] = []
    calls: list[PageLastCall] = []
    call_count = 0
    if finished:
        if household_id is not None:
            own_statement = next(iter(statements.statements_for(rnd, household_id)), None)
        if (own_statement is not None
                and own_statement.statement.payment_status in statuses.OPEN_TO_PAYMENT):
            # Money still to pay: where to pay it in cash.
            times = drop_ins.upcoming(rnd.group_id, now, limit=ROUND_PAGE_DROP_INS)
    else:
        if known is not None and known.mine is not None:
            mine = known.mine
        else:
            mine = round_view.household_pledges(household_id, [rnd.id]).by_round[rnd.id]
        items = round_view.household_board(rnd, mine).views
        if known is not None:
            times = known.drop_ins
        else:
            times = page_drop_ins(rnd.group_id, rnd.status, rnd.closes_at, now)
        if rnd.status == statuses.RoundStatus.OPEN and (
                known is None or known.last_call_count > 0):
            calls, call_count = _last_calls(rnd, items)
    return RoundContents(finished=finished, own_statement=own_statement, items=items,
                         drop_ins=times, last_calls=calls, last_call_count=call_count)


def round_item(rnd: Round, item_id: int) -> RoundItem | None:
    """The product with this id if it is one of the round's, else None."""
    item = db.session.get(RoundItem, item_id)
    return item if item is not None and item.round_id == rnd.id else None


# --- a resident's own round -----------------------------------------------------------------


@dataclass(frozen=True)
class NewRoundChoices:
    """What a resident chooses from to start a round."""

    #: The group's suppliers, by name.
    suppliers: list[Supplier]
    #: The supplier asked for, when it is one of them.
    supplier: Supplier | None
    #: That supplier's active products, by name (empty without a supplier).
    products: list[Product]
    #: How many there are and what was searched for (None without a supplier).
    listed: catalogue.ProductList | None = None


def new_round_choices(group_id: int, supplier_id: int | None,
                      search: str | None = None) -> NewRoundChoices:
    """The group's suppliers and, when `supplier_id` is one of them, its active products
    (those matching `search`, at most catalogue.MAX_PRODUCTS_ON_FORM: see `listed`)."""
    suppliers = list(db.session.scalars(
        select(Supplier).where(Supplier.group_id == group_id).order_by(Supplier.name)
    ))
    supplier = next((s for s in suppliers if s.id == supplier_id), None)
    listed = None
    if supplier is not None:
        listed = catalogue.product_list(supplier, search=search, active_only=True,
                                        per_page=catalogue.MAX_PRODUCTS_ON_FORM)
    return NewRoundChoices(suppliers=suppliers, supplier=supplier,
                           products=listed.products if listed else [], listed=listed)


# --- the drop-in PIN ------------------------------------------------------------------------


def change_household_pin(household: Household, new_pin: str | None, password: str, *,
                         user: User, now: datetime) -> bool:
    """Check `password` is the user's; when it is and `new_pin` is given, make it the
    household's PIN (audited). Returns whether the password was right."""
    if accounts.authenticate(user.email, password) is None:
        return False
    if new_pin is not None:
        tablet.set_pin(household, new_pin, actor=user, now=now)
    return True


# --- the Organise link ----------------------------------------------------------------------

_ORGANISER_LINK_SECONDS = 60
_organiser_link: dict[int, tuple[float, bool]] = {}


def organises_a_group(user) -> bool:
    """Whether to show `user` the Organise link: they organise a group, or are a site admin.

    Only decides a link (every organiser page checks the role itself), so the
    answer is kept for a minute per user rather than asked on every page.
    """
    if not user.is_authenticated:
        return False
    if user.is_site_admin:
        return True
    now = time.monotonic()
    known = _organiser_link.get(user.id)
    if known is not None and now - known[0] < _ORGANISER_LINK_SECONDS:
        return known[1]
    answer = accounts.organises_any_group(user.id)
    if len(_organiser_link) > 10_000:
        _organiser_link.clear()
    _organiser_link[user.id] = (now, answer)
    return answer


def forget_organiser_links() -> None:
    """Forget every kept answer of `organises_a_group` (tests; after bulk data changes)."""
    _organiser_link.clear()
