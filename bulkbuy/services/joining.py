"""Joining a group with a new account, without the page saying whether an address
already has one.

The join form answers every address the same way: "We have sent you an e-mail".
A new address gets a link that makes the account and its household (once, within
a day); an address that already has an account gets a note saying so, and how to
join with it. So nobody learns from the join page which addresses are ours: only
the owner of an address, from their own inbox.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from bulkbuy.extensions import db
from bulkbuy.models import Group, PendingJoin, User
from bulkbuy.services import ServiceError, accounts, audit, notifications

#: How long the link in the e-mail works.
LINK_LIFE = timedelta(hours=24)
LINK_GONE = _l("This link has expired or was used already. Open your group's invite link "
               "and join again.")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ask_to_join(group: Group, *, email: str, name: str, household_label: str,
                password: str, now: datetime) -> None:
    """Someone without an account asks to join `group`: e-mail them a link that makes
    the account (or, when the address already has one, a note saying so). Either
    way the same answer, and the same work (the password is hashed for both).

    Refuses, before anything is sent, only what the form can say without knowing
    the address: not one address, a short password, a household name already on
    the group's list or with a word mixing alphabets.
    """
    email = accounts.one_email_address(email)
    accounts.check_new_password(password)
    label = accounts.clean_household_label(household_label, field="household")
    if accounts.find_household(group, label) is not None:
        raise ServiceError(
            _l("That name is already on the list. Add your name, like 'Flat 12 (Amina)', "
               "or ask an organiser to add you to it."), field="household")
    accounts.refuse_mixed_alphabets(label, field="household")
    password_hash = accounts.hash_secret(password)
    owner = accounts.find_user(email)
    audit.record("group.join_asked", actor=None, group_id=group.id)
    if owner is not None:
        notifications.queue_join_existing(group, owner, _join_url(group), now)
        return
    token = secrets.token_urlsafe(32)
    pending = PendingJoin(group_id=group.id, email=email, name=name, household_label=label,
                          password_hash=password_hash, token_hash=_hash(token),
                          created_at=now, expires_at=now + LINK_LIFE)
    db.session.add(pending)
    db.session.flush()
    notifications.queue_join_link(group, pending, _confirm_url(token), now)


def waiting_join(token: str, now: datetime) -> PendingJoin | None:
    """The request to join this link is for, while it is unused and in date; else None."""
    if not token or len(token) > 100:
        return None
    pending = db.session.scalar(
        select(PendingJoin).where(PendingJoin.token_hash == _hash(token)))
    if pending is None or pending.used_at is not None or pending.expires_at <= now:
        return None
    return pending


def finish_joining(token: str, now: datetime) -> tuple[User, Group]:
    """Follow the e-mailed link: make the account and its household, once. Returns the
    new user (to sign in) and the group.

    Refuses a link unknown, used or out of date; an address that got an account
    meanwhile; a household name taken meanwhile (the caller's transaction is then
    undone, and the link can be followed again after the name is sorted out).
    """
    pending = waiting_join(token, now)
    if pending is None:
        raise ServiceError(LINK_GONE)
    used = db.session.execute(
        update(PendingJoin)
        .where(PendingJoin.id == pending.id, PendingJoin.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False))
    if used.rowcount != 1:  # followed twice at the same moment
        raise ServiceError(LINK_GONE)
    group = pending.group
    if accounts.find_user(pending.email) is not None:
        raise ServiceError(_l("There is already an account with this address. Sign in, "
                              "then open your group's invite link."))
    user = accounts.add_user(pending.email, pending.name, pending.password_hash)
    accounts.join_group(group, user, pending.household_label)
    return user, group


def _base() -> str:
    return current_app.config.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/")


def _confirm_url(token: str) -> str:
    return f"{_base()}/join/confirm/{token}"


def _join_url(group: Group) -> str:
    return f"{_base()}/join/{group.invite_code}"
