"""Getting back into an account, and changing its password or e-mail address.

The links we e-mail are signed with the app's SECRET_KEY (itsdangerous), not stored:

- a password reset link carries the user's id and a fingerprint of their password's
  hash, so it stops working once the password changes (it works once), and after
  an hour;
- an e-mail change link carries the user's id, the new and the old address, so it
  stops working once the address changed (it works once), and after a day.

The "forgot password" form answers every address the same way, and does the same
work for an unknown one (signs a link and writes the e-mail, but queues nothing):
nobody learns from it which addresses have an account.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import NamedTuple

import flask_babel
from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bulkbuy.extensions import db
from bulkbuy.models import Group, Household, Membership, User
from bulkbuy.services import ServiceError, accounts, audit, emails, notifications, writes
from bulkbuy.validation import MAX_ID

#: How long a password reset link works.
RESET_LINK_LIFE = timedelta(hours=1)
#: How long the link confirming a new e-mail address works.
EMAIL_LINK_LIFE = timedelta(hours=24)
RESET_SALT = "password-reset"
EMAIL_SALT = "email-change"
LINK_GONE = _l("This link has expired or was used already. Ask for a new one.")
_MAX_TOKEN = 500
_UNKNOWN_HASH = "scrypt:no-account"  # fingerprinted for an unknown address


class EmailChange(NamedTuple):
    """What an e-mail change link asks: this user's address becomes `new_email`."""

    user: User
    new_email: str


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def _fingerprint(password_hash: str) -> str:
    """Part of a hash of the password's hash: it changes whenever the password does
    (even to the same words: each hash has its own salt), and says nothing of it."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _loads(token: str, salt: str, life: timedelta) -> dict | None:
    """The signed content of a link in date, or None (unsigned, changed, too old)."""
    if not token or len(token) > _MAX_TOKEN:
        return None
    try:
        content = _serializer(salt).loads(token, max_age=int(life.total_seconds()))
    except BadData:
        return None
    return content if isinstance(content, dict) else None


def _live_user(user_id: object) -> User | None:
    if not isinstance(user_id, int) or not 0 < user_id <= MAX_ID:
        return None
    user = accounts.user_by_id(user_id)
    return user if user is not None and user.erased_at is None else None


def _base() -> str:
    return current_app.config.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/")


def _key(kind: str, user_id: int) -> str:
    # Each e-mail of these kinds is news of its own (asked twice: sent twice).
    return f"{kind}:{user_id}:{secrets.token_hex(8)}"


# --- Password reset ---------------------------------------------------------------------------

def _render_for(user: User | None, template: str, **values) -> tuple[str, str]:
    """An e-mail to `user` in their language (notifications.person_language: theirs,
    else the request's)."""
    with flask_babel.force_locale(notifications.person_language(user)):
        return emails.render_email(template, **values)


def _reset_mail(user: User | None, name: str, user_id: int,
                password_hash: str) -> tuple[str, str]:
    token = _serializer(RESET_SALT).dumps({"u": user_id, "p": _fingerprint(password_hash)})
    return _render_for(user, "password_reset", name=name,
                       url=f"{_base()}/password/reset/{token}")


def ask_password_reset(email: str, now: datetime) -> None:
    """Someone forgot their password: when `email` is an account's address, e-mail it a
    reset link (working once, for an hour). The same work and no answer either way."""
    user = accounts.find_user(email)
    if user is not None and user.erased_at is not None:
        user = None
    subject, body = (_reset_mail(user, user.name, user.id, user.password_hash) if user
                     else _reset_mail(None, "", 0, _UNKNOWN_HASH))  # the same work either way
    # Both answers write (the log entry always; the e-mail only to an account), so the
    # time taken tells no more than the page does.
    audit.record("account.reset_asked", actor=None, group_id=None, subject=user)
    if user is not None:
        notifications._queue(_key("password-reset", user.id), user.email, subject, body, now)


def send_reset_link(user: User, now: datetime, *, actor: User | None,
                    group_id: int | None = None, household_id: int | None = None) -> None:
    """Queue a password reset link to `user`'s address (asked by them: `actor` None, or
    sent by staff of `group_id`); audited."""
    subject, body = _reset_mail(user, user.name, user.id, user.password_hash)
    notifications._queue(_key("password-reset", user.id), user.email, subject, body, now)
    audit.record("account.reset_link_sent", actor=actor, group_id=group_id,
                 household_id=household_id, subject=user)


def user_for_reset(token: str) -> User | None:
    """The user this reset link is for, while it is in date and their password is the
    one it was made for; else None."""
    content = _loads(token, RESET_SALT, RESET_LINK_LIFE)
    if content is None:
        return None
    user = _live_user(content.get("u"))
    if user is None or not hmac.compare_digest(
            str(content.get("p", "")), _fingerprint(user.password_hash)):
        return None
    return user


def _check_new_password(password: str, again: str, *, field: str, again_field: str) -> None:
    try:
        accounts.check_new_password(password)
    except ServiceError as error:
        raise ServiceError(error.text, field=field) from None
    if not hmac.compare_digest(password.encode(), again.encode()):
        raise ServiceError(_l("The two passwords are not the same. Type the new password "
                              "in both boxes."), field=again_field)


def _set_password(user: User, password: str, *, reason: str, now: datetime) -> None:
    """Set the password, if it is still the one read (else LINK_GONE: changed meanwhile),
    end every session of the account and tell its owner."""
    old_hash = user.password_hash
    changed = db.session.execute(
        update(User).where(User.id == user.id, User.password_hash == old_hash)
        .values(password_hash=accounts.hash_secret(password))
        .execution_options(synchronize_session=False))
    if changed.rowcount != 1:  # the same link followed twice at the same moment
        raise ServiceError(LINK_GONE)
    db.session.refresh(user, ["password_hash"])
    accounts.end_sessions(user, reason=reason)
    audit.record(f"account.{reason}", actor=user, group_id=None, subject=user)
    subject, body = _render_for(user, "password_changed", name=user.name)
    notifications._queue(_key("password-changed", user.id), user.email, subject, body, now)


def reset_password(token: str, password: str, again: str, now: datetime) -> User:
    """Follow a reset link: the account's password becomes `password` (typed twice),
    every session of the account ends, and its owner is told by e-mail. Refuses a link
    out of date, used or changed (ServiceError without a field: LINK_GONE), and a short
    or mistyped password (fields password, password_again)."""
    user = user_for_reset(token)
    if user is None:
        raise ServiceError(LINK_GONE)
    _check_new_password(password, again, field="password", again_field="password_again")
    _set_password(user, password, reason="password_reset", now=now)
    return user


def change_password(user: User, current: str, password: str, again: str,
                    now: datetime) -> None:
    """The signed-in `user` changes their password, giving the current one: every session
    of the account ends (the caller signs this one in again) and its owner is told by
    e-mail. Refuses a wrong current password (field current_password), a short or
    mistyped new one (new_password, new_password_again)."""
    if not accounts.check_secret(user.password_hash, current):
        raise ServiceError(_l("That is not your password now. Type the password you sign "
                              "in with."), field="current_password")
    _check_new_password(password, again, field="new_password",
                        again_field="new_password_again")
    _set_password(user, password, reason="password_changed", now=now)


# --- E-mail address change --------------------------------------------------------------------

def ask_email_change(user: User, password: str, new_email: str, now: datetime) -> None:
    """The signed-in `user` asks for their address to become `new_email`, giving their
    password: the new address is sent a link (working once, for a day) that makes the
    change, the old one a note that a change was asked. Nothing changes until the link
    is followed.

    Refuses a wrong password (field email_password), not one address or the address
    in use now (field new_email). An address that already has another account is not
    refused here (that would tell whose it is) and gets no link."""
    if not accounts.check_secret(user.password_hash, password):
        raise ServiceError(_l("That is not your password. Type the password you sign "
                              "in with."), field="email_password")
    try:
        new_email = accounts.one_email_address(new_email)
    except ServiceError as error:
        raise ServiceError(error.text, field="new_email") from None
    if new_email == user.email:
        raise ServiceError(_l("That is the address you use now. Type the new one."),
                           field="new_email")
    token = _serializer(EMAIL_SALT).dumps({"u": user.id, "new": new_email, "old": user.email})
    subject, body = _render_for(
        user, "email_change_confirm", name=user.name,
        url=f"{_base()}/account/email/confirm/{token}")
    if accounts.find_user(new_email) is None:
        notifications._queue(_key("email-change-confirm", user.id), new_email, subject, body,
                             now)
    subject, body = _render_for(user, "email_change_asked", name=user.name)
    notifications._queue(_key("email-change-asked", user.id), user.email, subject, body, now)
    audit.record("account.email_change_asked", actor=user, group_id=None, subject=user)


def email_change_for(token: str) -> EmailChange | None:
    """What this e-mail change link asks, while it is in date and the account's address
    is still the one it was made from; else None."""
    content = _loads(token, EMAIL_SALT, EMAIL_LINK_LIFE)
    if content is None:
        return None
    user = _live_user(content.get("u"))
    new_email = content.get("new")
    if user is None or not isinstance(new_email, str) or user.email != content.get("old"):
        return None
    return EmailChange(user, new_email)


def confirm_email_change(token: str, now: datetime) -> User:
    """Follow the link sent to the new address: the account's address becomes it, once.
    Refuses a link out of date, used or changed (LINK_GONE), and an address that got an
    account meanwhile."""
    change = email_change_for(token)
    if change is None:
        raise ServiceError(LINK_GONE)
    user, old_email = change.user, change.user.email
    taken = _l("There is already an account with this address, so it cannot be yours "
               "too. Nothing has changed.")
    if accounts.find_user(change.new_email) is not None:
        raise ServiceError(taken)
    try:
        with writes.savepoint():
            changed = db.session.execute(
                update(User).where(User.id == user.id, User.email == old_email)
                .values(email=change.new_email)
                .execution_options(synchronize_session=False))
    except IntegrityError:  # taken at the same moment
        raise ServiceError(taken) from None
    if changed.rowcount != 1:  # followed twice at the same moment
        raise ServiceError(LINK_GONE)
    db.session.refresh(user, ["email"])
    audit.record("account.email_changed", actor=user, group_id=None, subject=user)
    return user


# --- Staff: a reset link for a household's member -----------------------------------------------

def household_members(group: Group, households) -> dict[int, list[User]]:
    """For each of these households of `group`: its members who could be sent a reset
    link (an account with an e-mail, not a site admin, not erased), by name. One query."""
    ids = [h.id for h in households]
    if not ids:
        return {}
    members: dict[int, list[User]] = {}
    for household_id, user in db.session.execute(
        select(Membership.household_id, User)
        .join(User, Membership.user_id == User.id)
        .where(Membership.group_id == group.id, Membership.household_id.in_(ids),
               User.is_site_admin.is_(False), User.erased_at.is_(None))
        .order_by(User.name, User.id)
    ):
        members.setdefault(household_id, []).append(user)
    return members


def member_of_household(group: Group, household: Household, user_id: int) -> User | None:
    """The household's member with this id who could be sent a reset link, else None."""
    if household.group_id != group.id or household.removed_at is not None:
        return None
    found = household_members(group, [household])
    return next((u for u in found.get(household.id, []) if u.id == user_id), None)
