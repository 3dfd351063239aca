"""A resident's round pages: the round page (and what its kept copy is checked against),
the choices for starting a round (rounds.start_round starts it), their drop-in PIN; and
whether a user sees the Organise link.

None of these commit: the request does (see bulkbuy/transactions.py).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from bulkbuy.domain import statuses
from bulkbuy.extensions import db
from bulkbuy.models import (
    Group,
    Household,
    Membership,
    Product,
    Round,
    RoundItem,
    Supplier,
    User,
)
from bulkbuy.services import accounts, catalogue, round_view, statements, tablet

# --- the round page and its kept copy -------------------------------------------------------

#: The round statuses whose page is kept rendered between changes (see fragment_cache).
CACHEABLE_STATUSES = ("draft", "pending_approval", "open")

#: What the round page's kept copy is keyed by (resident.routes._page_key): the version
#: numbers the database bumps whenever anything the page shows changes (the round and its
#: products and supplier, its pledges, its group), and who is looking (the round, the
#: member and their role and household). The status only says whether a copy is kept.
PAGE_KEY_FIELDS = (
    Round.id, Round.status, Round.version, Round.pledge_version, Group.settings_version,
    Membership.id, Membership.role, Membership.household_id,
)


def page_values(rnd: Round, member: Membership) -> tuple:
    """PAGE_KEY_FIELDS read from loaded objects (the same values `kept_page_values`
    reads), without a query: the round must have its group loaded."""
    return (rnd.id, rnd.status, rnd.version, rnd.pledge_version, rnd.group.settings_version,
            member.id, member.role, member.household_id)


@functools.cache
def _page_values_query():
    """PAGE_KEY_FIELDS of one round for one member, built once (it runs on every reload)."""
    return (
        select(*PAGE_KEY_FIELDS)
        .join(Group, Group.id == Round.group_id)
        .join(
            Membership,
            (Membership.group_id == Round.group_id)
            & (Membership.user_id == bindparam("user_id")),
        )
        .where(Round.id == bindparam("round_id"))
    )


def kept_page_values(round_id: int, user_id: int) -> tuple | None:
    """PAGE_KEY_FIELDS of the round for this user's membership of its group, with one
    prebuilt query; None when the user is no member of its group, there is no such
    round, or its page is not kept (its status is not in CACHEABLE_STATUSES)."""
    values = db.session.execute(
        _page_values_query(), {"round_id": round_id, "user_id": user_id}
    ).first()
    if values is None or values.status not in CACHEABLE_STATUSES:
        return None
    return tuple(values)


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


def round_contents(rnd: Round, household_id: int | None) -> RoundContents:
    """The round page's products (an unfinished round) or the household's statement (a
    finished one): a fixed number of queries, however many pledges."""
    finished = rnd.status in statuses.FINISHED_ROUNDS
    own_statement = None
    items: list[round_view.ItemView] = []
    if finished:
        if household_id is not None:
            own_statement = next(iter(statements.statements_for(rnd, household_id)), None)
    else:
        mine = round_view.household_pledges(household_id, [rnd.id]).by_round[rnd.id]
        items = round_view.household_board(rnd, mine).views
    return RoundContents(finished=finished, own_statement=own_statement, items=items)


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
