"""A group's staff: organisers and community workers.

Organisers invite staff with a single-use link (services.invites), e-mailed or shown
to copy; the person following it gets the role (a new account, or their own). Roles
are changed or taken away here, and a group always keeps at least one organiser:
every change that could leave it without one first locks the group's row, so two
organisers lowering each other at the same moment leave one of them.
"""

from __future__ import annotations

from datetime import datetime

import flask_babel
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from bulkbuy.extensions import db
from bulkbuy.models import Group, Household, Invite, Membership, OutboxMessage, User
from bulkbuy.models.people import STAFF_ROLES
from bulkbuy.services import ServiceError, accounts, audit, emails, invites, notifications

#: How high each role stands: an invite never lowers anyone.
_RANK = {"member": 0, "worker": 1, "organiser": 2}
ROLE_CHOICES = ("member", "worker", "organiser")

LAST_ORGANISER = _l("A group needs at least one organiser. Make someone else an "
                    "organiser first.")
SIGN_IN_FIRST = _l("There is already an account with this e-mail address. Sign in first, "
                   "then open this link again.")
NOT_ORGANISER = _l("Only an organiser of this group can do this.")


def staff_list(group: Group) -> list[Membership]:
    """The group's organisers, then its workers, each by name (with user and household)."""
    return list(db.session.scalars(
        select(Membership).join(User, Membership.user_id == User.id)
        .where(Membership.group_id == group.id, Membership.role.in_(STAFF_ROLES))
        .options(joinedload(Membership.user), joinedload(Membership.household))
        .order_by(Membership.role, func.lower(User.name), User.id)))  # organiser < worker


def membership_of(group: Group, user: User) -> Membership | None:
    """`user`'s own membership of the group (None for a site admin who has none)."""
    return db.session.scalar(select(Membership).where(
        Membership.user_id == user.id, Membership.group_id == group.id))


def staff_member(group: Group, membership_id: int) -> Membership | None:
    """The group's organiser or worker with this membership id, else None."""
    member = db.session.get(Membership, membership_id)
    if member is None or member.group_id != group.id or member.role not in STAFF_ROLES:
        return None
    return member


def open_invites(group: Group, now: datetime) -> list[Invite]:
    """The group's staff invites that can still be used, newest first."""
    return invites.open_invites(group, now, kind="staff")


def invite_of_group(group: Group, invite_id: int) -> Invite | None:
    """The group's staff invite with this id, else None."""
    invite = db.session.get(Invite, invite_id)
    if invite is None or invite.group_id != group.id or invite.kind != "staff":
        return None
    return invite


def invite(group: Group, *, role: str, email: str | None, actor: User,
           now: datetime) -> tuple[Invite, str]:
    """A new staff invite for `role` ("worker" or "organiser") and its link. With an
    e-mail address the link is queued to it; without, the caller shows it once."""
    if role not in STAFF_ROLES:
        raise ServiceError(_l("Choose community worker or organiser."), field="role")
    address = accounts.one_email_address(email) if email and email.strip() else None
    made, token = invites.create(group, kind="staff", role=role, email=address, actor=actor,
                                 now=now)
    url = invites.link(token, kind="staff")
    if address is not None:
        # In the language of the address's account if it has one, else the request's.
        with flask_babel.force_locale(
                notifications.person_language(accounts.find_user(address))):
            subject, body = emails.render_email(
                "staff_invite", group_name=group.name, inviter=actor.name, role=role,
                url=url, days=invites.INVITE_LIFE.days)
        db.session.add(OutboxMessage(key=f"staff-invite:{made.id}", to_address=address,
                                     subject=subject, body=body, created_at=now))
    audit.record("staff.invited", actor=actor, group_id=group.id, subject=made, role=role,
                 emailed=address is not None)
    return made, url


def withdraw(group: Group, invite: Invite, *, actor: User, now: datetime) -> None:
    """Withdraw an unused staff invite: its link stops working."""
    invites.revoke(invite, now)
    audit.record("staff.invite_withdrawn", actor=actor, group_id=group.id, subject=invite)


def accept(token: str, user: User, now: datetime) -> Membership:
    """`user` follows a staff invite: they get its role in its group (a new membership,
    or their membership raised, keeping their household; a role is never lowered).
    The link then stops working. Raises ServiceError(invites.LINK_GONE) when it is not
    (or no longer) usable, also when someone used it at the same moment."""
    waiting = invites.waiting(token, now, kind="staff")
    if waiting is None or not _may_still_invite(waiting.created_by_id, waiting.group_id,
                                                waiting.role):
        raise ServiceError(invites.LINK_GONE)
    used = invites.use(token, user, now, kind="staff")
    member = db.session.scalar(select(Membership).where(
        Membership.user_id == user.id, Membership.group_id == used.group_id))
    before = member.role if member is not None else None
    if member is None:
        member = Membership(user_id=user.id, group_id=used.group_id, role=used.role)
        db.session.add(member)
    elif _RANK[used.role] > _RANK[member.role]:
        member.role = used.role
    db.session.flush()
    audit.record("staff.joined", actor=user, group_id=used.group_id,
                 household_id=member.household_id, subject=member, invite_id=used.id,
                 role=member.role, before=before)
    return member


def join_with_new_account(token: str, *, name: str, email: str, password: str,
                          password_again: str, now: datetime) -> tuple[User, Membership]:
    """Someone without an account follows a staff invite: make their account with the
    password they chose, and give it the invite's role. Refuses an address that
    already has an account (they sign in first, then follow the link)."""
    if invites.waiting(token, now, kind="staff") is None:
        raise ServiceError(invites.LINK_GONE)
    name = name.strip()
    if not name:
        raise ServiceError(_l("Enter your name."), field="name")
    address = accounts.one_email_address(email)
    accounts.check_new_password(password)
    if password != password_again:
        raise ServiceError(_l("The two passwords are not the same. Type it again."),
                           field="password_again")
    if accounts.find_user(address) is not None:
        raise ServiceError(SIGN_IN_FIRST, field="email")
    user = accounts.add_user(address, name[:100], accounts.hash_secret(password))
    return user, accept(token, user, now)


def _may_still_invite(creator_id: int, group_id: int, role: str) -> bool:
    """Whether the person who made an invite may still give its role in its group: a
    site admin, or an organiser of the group (an organiser removed since cannot use
    their own old link to come back)."""
    creator = db.session.get(User, creator_id)
    if creator is None:
        return False
    if creator.is_site_admin:
        return True
    return db.session.scalar(select(Membership.role).where(
        Membership.user_id == creator_id, Membership.group_id == group_id)) == "organiser"


def _withdraw_invites_of(user: User, group: Group, now: datetime) -> None:
    """Every open invite `user` made in `group` stops working (their role was lowered)."""
    db.session.execute(
        update(Invite).where(Invite.created_by_id == user.id, Invite.group_id == group.id,
                             Invite.used_at.is_(None), Invite.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False))


def _locked_group(group: Group) -> Group:
    """The group's row, locked until the transaction ends (PostgreSQL; SQLite writes
    one at a time anyway): role changes of one group wait for each other."""
    return db.session.scalar(select(Group).where(Group.id == group.id).with_for_update()
                             .execution_options(populate_existing=True))


def _organisers(group: Group) -> int:
    return db.session.scalar(select(func.count(Membership.id)).where(
        Membership.group_id == group.id, Membership.role == "organiser"))


def change_role(group: Group, member: Membership, new_role: str, *, actor: User,
                now: datetime) -> Membership | None:
    """Give a staff member another role: "organiser", "worker", or "member" (they stay
    in their household and lose the staff role; without a household the membership
    ends, and None is returned). The group's last organiser is never lowered. A role
    lowered ends that person's sessions on every device."""
    if new_role not in ROLE_CHOICES:
        raise ServiceError(_l("Choose a role."), field="role")
    _locked_group(group)
    # Read again after the lock: another change may have been made while we waited.
    member = db.session.scalar(select(Membership).where(
        Membership.id == member.id, Membership.group_id == group.id)
        .execution_options(populate_existing=True))
    if member is None or member.role not in STAFF_ROLES:
        raise ServiceError(_l("They are no longer staff of this group."))
    if not actor.is_site_admin and db.session.scalar(select(Membership.role).where(
            Membership.user_id == actor.id, Membership.group_id == group.id)) != "organiser":
        raise ServiceError(NOT_ORGANISER)
    before = member.role
    if new_role == before:
        return member
    if before == "organiser" and _organisers(group) <= 1:
        raise ServiceError(LAST_ORGANISER)
    user = member.user
    household_id = member.household_id
    if new_role == "member" and household_id is None:
        db.session.delete(member)
        kept: Membership | None = None
    else:
        member.role = new_role
        kept = member
    db.session.flush()
    audit.record("staff.role_changed" if kept is not None else "staff.removed",
                 actor=actor, group_id=group.id, household_id=household_id, subject=user,
                 before=before, after=new_role if kept is not None else None)
    if _RANK[new_role] < _RANK[before]:
        accounts.end_sessions(user, reason="role_changed")
        _withdraw_invites_of(user, group, now)
    return kept


def remove(group: Group, member: Membership, *, actor: User, now: datetime) -> None:
    """Take away a staff member's role: they stay a member of their household if they
    have one, otherwise they leave the group (see change_role)."""
    change_role(group, member, "member", actor=actor, now=now)


def add_own_household(group: Group, user: User, label: str) -> Household:
    """A staff member without a home in the group adds their own household (a new name,
    as residents joining do), so they can order for it."""
    member = membership_of(group, user)
    if member is None or member.role not in STAFF_ROLES:
        raise ServiceError(_l("Only staff of this group can add their home here."))
    if member.household_id is not None:
        raise ServiceError(_l("You already order for a household in this group."),
                           field="household")
    member = accounts.join_group(group, user, label)
    return member.household


def create_group_with_invite(name: str, timezone: str, email: str | None, *, actor: User,
                             now: datetime) -> tuple[Group, Invite, str]:
    """A site admin's new group, with no organiser yet, and an invite (role organiser)
    for its first one: e-mailed when an address is given, else the link to show."""
    group = accounts.create_group_without_organiser(name, timezone, actor=actor)
    made, url = invite(group, role="organiser", email=email, actor=actor, now=now)
    return group, made, url
