"""What the organiser area reads and changes that belongs to no narrower service: the
groups a person organises, a group's dashboard and settings, its households and its
drop-in (tablet) sessions as staff see them.

Like every service, nothing here commits: the request does (bulkbuy.transactions).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from bulkbuy.domain.labels import natural_key
from bulkbuy.extensions import db
from bulkbuy.models import Group, Household, Membership, Round, Supplier, TabletSession, User
from bulkbuy.services import ServiceError, audit, catalogue, recovery, rounds, writes

#: How many drop-in sessions the sessions page lists (newest first).
RECENT_TABLET_SESSIONS = 50


def organised_groups(user: User) -> list[Group]:
    """The groups `user` may organise, by name: every group for a site admin, else those
    where they are an organiser (empty when none)."""
    query = select(Group).order_by(Group.name)
    if not user.is_site_admin:
        query = query.join(Membership, Membership.group_id == Group.id).where(
            Membership.user_id == user.id, Membership.role == "organiser"
        )
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class Dashboard:
    """What an organiser's dashboard lists for a group."""

    #: The group's rounds, the latest deadline first.
    rounds: list[Round]
    #: The group's suppliers, by name.
    suppliers: list[Supplier]

    @property
    def waiting(self) -> list[Round]:
        """The rounds waiting for an organiser's approval, earliest deadline first."""
        return sorted((r for r in self.rounds if r.status == "pending_approval"),
                      key=lambda r: (r.closes_at, r.id))


def dashboard(group: Group) -> Dashboard:
    """The group's rounds and suppliers for its dashboard (two reads, no writes)."""
    return Dashboard(rounds=rounds.rounds_of_group(group.id),
                     suppliers=catalogue.suppliers_of(group.id))


def update_group_settings(group: Group, *, require_round_approval: bool, actor: User,
                          name: str | None = None, require_two_step: bool | None = None
                          ) -> bool:
    """Save the group's settings: its name (when `name` is given), whether residents'
    rounds need an organiser's approval before they open, and (when given) whether its
    staff must use two-step sign-in. Returns whether anything
    changed; each change is audited ("group.settings_changed", with the setting and its
    values before and after), saving the same values again writes nothing.

    Group names are unique across the site whatever their case: a name another group
    has (even "OAK ESTATE" for "Oak Estate") is refused with a ServiceError (field
    "name") and nothing changes; the same name at the same moment is refused by the
    database with the same words."""
    changed = False
    if name is not None and name != group.name:
        taken = _l("There is already a group with that name.")
        clash = db.session.scalar(select(Group.id).where(
            func.lower(Group.name) == name.lower(), Group.id != group.id))
        if clash is not None:
            raise ServiceError(taken, field="name")
        before_name = group.name
        group.name = name
        writes.add_or_refuse(group, taken, field="name")
        audit.record(
            "group.settings_changed", actor=actor, group_id=group.id, subject=group,
            setting="name", before=before_name, after=name,
        )
        changed = True
    if require_two_step is not None and bool(require_two_step) != group.require_two_step:
        # Its staff without two-step sign-in are then sent to set it up (access.py).
        audit.record(
            "group.settings_changed", actor=actor, group_id=group.id, subject=group,
            setting="require_two_step", before=bool(group.require_two_step),
            after=bool(require_two_step),
        )
        group.require_two_step = bool(require_two_step)
        changed = True
    before = bool(group.require_round_approval)
    after = bool(require_round_approval)
    if before == after:
        return changed
    group.require_round_approval = after
    audit.record(
        "group.settings_changed", actor=actor, group_id=group.id, subject=group,
        setting="require_round_approval", before=before, after=after,
    )
    return True


#: Households on one page of the organiser's list (a big estate is searched, not scrolled).
HOUSEHOLDS_PER_PAGE = 50


@dataclass(frozen=True)
class HouseholdList:
    """One page of a group's households, and how many match in all."""

    households: list[Household]
    total: int
    page: int
    pages: int
    search: str
    #: Per household shown: its members staff may send a password reset link.
    members: dict[int, list[User]]


def household_list(group: Group, *, search: str | None = None, page: int = 1,
                   per_page: int = HOUSEHOLDS_PER_PAGE) -> HouseholdList:
    """Page `page` (from 1; past the end gives the last) of the group's households whose
    name or block contains `search` (any case, spaces as typed or not), numbers in number
    order ("Flat 2" before "Flat 10")."""
    search = " ".join((search or "").split())[:60]
    wanted = search.casefold()
    homes = db.session.scalars(select(Household).where(Household.group_id == group.id,
                                                       Household.removed_at.is_(None)))
    matching = sorted(
        (h for h in homes
         if not wanted or wanted in " ".join(h.label.split()).casefold()
         or wanted in " ".join((h.block or "").split()).casefold()),
        key=lambda h: (natural_key(h.label), h.id))
    pages = max(1, -(-len(matching) // per_page))
    page = min(max(1, page), pages)
    shown = matching[(page - 1) * per_page:page * per_page]
    return HouseholdList(shown, len(matching), page, pages, search,
                         recovery.household_members(group, shown))


def household_of_group(group: Group, household_id: int) -> Household | None:
    """The household with this id if it is in `group`, else None."""
    household = db.session.get(Household, household_id)
    return household if household is not None and household.group_id == group.id else None


def recent_tablet_sessions(group: Group) -> list[TabletSession]:
    """The group's latest drop-in sessions, newest first (at most RECENT_TABLET_SESSIONS)."""
    return list(db.session.scalars(
        select(TabletSession).where(TabletSession.group_id == group.id)
        .order_by(TabletSession.started_at.desc()).limit(RECENT_TABLET_SESSIONS)
    ))


def tablet_session_of_group(group: Group, session_id: int) -> TabletSession | None:
    """The drop-in session with this id if it was the group's, else None."""
    found = db.session.get(TabletSession, session_id)
    return found if found is not None and found.group_id == group.id else None
