"""Single-use, expiring invite links: to a group's staff (a worker or organiser), or
into one existing household (a person gets an account that joins it).

The link carries a random token; only its SHA-256 is stored (a database leak gives no
working link). A link works once, until it expires or is revoked. The code that makes
and follows a kind of invite (services.staff, services.household_admin) builds on
these few functions.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from bulkbuy.extensions import db
from bulkbuy.models import Group, Household, Invite, User
from bulkbuy.services import ServiceError

#: How long an invite link works.
INVITE_LIFE = timedelta(days=7)
LINK_GONE = _l("This invite link has expired, was used already or was withdrawn. Ask the "
               "person who invited you for a new one.")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(group: Group, *, kind: str, actor: User, now: datetime, role: str | None = None,
           household: Household | None = None, email: str | None = None,
           life: timedelta = INVITE_LIFE) -> tuple[Invite, str]:
    """A new invite and its token (shown or e-mailed once; never stored). `kind` is
    "staff" (with `role` "worker" or "organiser") or "household" (with `household`)."""
    token = secrets.token_urlsafe(32)
    invite = Invite(group_id=group.id, kind=kind, role=role,
                    household_id=household.id if household else None, email=email,
                    token_hash=_hash(token), created_by_id=actor.id, created_at=now,
                    expires_at=now + life)
    db.session.add(invite)
    db.session.flush()
    return invite, token


def waiting(token: str, now: datetime, *, kind: str | None = None) -> Invite | None:
    """The invite of this token while it can still be used (unused, unrevoked, in date,
    of `kind` when given); else None."""
    if not token or len(token) > 100:
        return None
    invite = db.session.scalar(select(Invite).where(Invite.token_hash == _hash(token)))
    if (invite is None or invite.used_at is not None or invite.revoked_at is not None
            or invite.expires_at <= now or (kind is not None and invite.kind != kind)):
        return None
    return invite


def use(token: str, user: User, now: datetime, *, kind: str) -> Invite:
    """Mark the invite of `token` used by `user`, once: two people following the same
    link at the same moment get one success. Raises ServiceError(LINK_GONE) otherwise."""
    invite = waiting(token, now, kind=kind)
    if invite is None:
        raise ServiceError(LINK_GONE)
    claimed = db.session.execute(
        update(Invite).where(Invite.id == invite.id, Invite.used_at.is_(None),
                             Invite.revoked_at.is_(None))
        .values(used_at=now, used_by_id=user.id)
        .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        raise ServiceError(LINK_GONE)
    db.session.refresh(invite)
    return invite


def revoke(invite: Invite, now: datetime) -> None:
    """Withdraw an unused invite (its link stops working)."""
    if invite.used_at is None and invite.revoked_at is None:
        invite.revoked_at = now


def open_invites(group: Group, now: datetime, *, kind: str) -> list[Invite]:
    """The group's invites of `kind` that can still be used, newest first."""
    return list(db.session.scalars(
        select(Invite).where(Invite.group_id == group.id, Invite.kind == kind,
                             Invite.used_at.is_(None), Invite.revoked_at.is_(None),
                             Invite.expires_at > now)
        .order_by(Invite.id.desc())))


def link(token: str, *, kind: str) -> str:
    """The full address of the page that follows an invite of `kind` ("staff":
    /invite/staff/<token>; "household": /invite/household/<token>)."""
    base = current_app.config.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    return f"{base}/invite/{kind}/{token}"
