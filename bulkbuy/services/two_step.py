"""Two-step sign-in: a code from an authenticator app (TOTP), or a recovery code.

A person sets it up by scanning a secret and typing a code from it; from then on
signing in needs a code after the password. An app code is accepted once (its time
step is kept in `User.totp_last_step`); each recovery code works once. Codes are only
ever kept as SHA-256 hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, or_, select, update

from bulkbuy.extensions import db
from bulkbuy.models import RecoveryCode, User
from bulkbuy.services import ServiceError, accounts, audit

ISSUER = "bulkbuy"
RECOVERY_CODE_COUNT = 10
#: Letters only, none easily misread (no i, l, o).
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz"
_RECOVERY_LENGTH = 12

NOT_THE_CODE = _l("That code did not work. Type the newest 6-digit code from your app, "
                  "or one of your recovery codes.")
USED_CODE = _l("That code was used already. Wait for the next code in your app.")
NO_CODE = _l("Type the 6-digit code from your app.")
SETUP_NOT_THE_CODE = _l("That code did not work. Type the newest 6-digit code from your "
                        "app. If it still does not work, check the time on your phone.")


def is_on(user: User) -> bool:
    """Whether the person signs in with a code after the password."""
    return user.totp_enabled_at is not None


def provisioning_uri(user: User) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def secret_in_groups(secret: str) -> str:
    """The secret in groups of 4 characters, for typing into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def start_setup(user: User) -> str:
    """A new secret for `user`, kept but not in use until `confirm_setup`. Refused when
    two-step sign-in is already on (turn it off first)."""
    if is_on(user):
        raise ServiceError(_l("Two-step sign-in is already on."))
    user.totp_secret = pyotp.random_base32()
    return user.totp_secret


def confirm_setup(user: User, code: str, now: datetime) -> list[str]:
    """Turn two-step sign-in on, given a current code from the secret of `start_setup`;
    returns 10 new recovery codes (shown once: only their hashes are kept). Audited."""
    if is_on(user) or not user.totp_secret:
        raise ServiceError(_l("Start again: choose Set up two-step sign-in."))
    _accept_app_code(user, _digits(code), now, wrong=SETUP_NOT_THE_CODE)
    user.totp_enabled_at = now
    codes = _new_recovery_codes(user, now)
    audit.record("account.two_step_on", actor=user, group_id=None, subject=user)
    return codes


def turn_off(user: User, password: str, code: str, now: datetime) -> None:
    """Turn two-step sign-in off, given the person's password and a code (from the app or
    a recovery code); the secret and recovery codes are dropped. Audited."""
    if not is_on(user):
        raise ServiceError(_l("Two-step sign-in is already off."))
    if not accounts.check_secret(user.password_hash, password or ""):
        raise ServiceError(_l("That is not your password. Try again."), field="password")
    check_code(user, code, now)
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    audit.record("account.two_step_off", actor=user, group_id=None, subject=user)


def renew_recovery_codes(user: User, code: str, now: datetime) -> list[str]:
    """Replace every recovery code with 10 new ones, given a code; the old ones stop
    working. Returns the new codes (shown once). Audited."""
    if not is_on(user):
        raise ServiceError(_l("Turn on two-step sign-in first."))
    check_code(user, code, now)
    codes = _new_recovery_codes(user, now)
    audit.record("account.recovery_codes_renewed", actor=user, group_id=None, subject=user)
    return codes


def recovery_codes_left(user: User) -> int:
    """How many of the person's recovery codes are not used yet."""
    return db.session.scalar(select(func.count(RecoveryCode.id)).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


def check_code(user: User, code: str, now: datetime) -> str:
    """Accept a code for `user`: 6 digits are checked as an app code (the current one, or
    the one just before or after, and never one accepted before), anything else as a
    recovery code (each works once; using one is audited). Returns "app" or "recovery";
    ServiceError (field "code") otherwise, with nothing used up."""
    typed = (code or "").strip()
    if not typed:
        raise ServiceError(NO_CODE, field="code")
    digits = typed.replace(" ", "")
    if digits.isdigit():
        _accept_app_code(user, digits, now)
        return "app"
    _use_recovery_code(user, typed, now)
    return "recovery"


def _digits(code: str) -> str:
    digits = (code or "").replace(" ", "").strip()
    if not digits:
        raise ServiceError(NO_CODE, field="code")
    return digits


def _accept_app_code(user: User, digits: str, now: datetime, *,
                     wrong=NOT_THE_CODE) -> None:
    totp = pyotp.TOTP(user.totp_secret)
    if (not digits.isdigit() or len(digits) != totp.digits
            or not totp.verify(digits, for_time=now, valid_window=1)):
        raise ServiceError(wrong, field="code")
    current = totp.timecode(now)
    step = next(current + offset for offset in (-1, 0, 1)
                if hmac.compare_digest(totp.generate_otp(current + offset), digits))
    # One conditional UPDATE: of two sign-ins sending the same code at once, one wins.
    taken = db.session.execute(
        update(User).where(User.id == user.id, or_(User.totp_last_step.is_(None),
                                                   User.totp_last_step < step))
        .values(totp_last_step=step).execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        raise ServiceError(USED_CODE, field="code")
    db.session.refresh(user, ["totp_last_step"])


def _use_recovery_code(user: User, typed: str, now: datetime) -> None:
    found = db.session.scalar(select(RecoveryCode.id).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None),
        RecoveryCode.code_hash == _hash(typed)))
    used = None
    if found is not None:
        used = db.session.execute(
            update(RecoveryCode).where(RecoveryCode.id == found, RecoveryCode.used_at.is_(None))
            .values(used_at=now).execution_options(synchronize_session=False))
    if used is None or used.rowcount != 1:
        raise ServiceError(NOT_THE_CODE, field="code")
    audit.record("account.recovery_code_used", actor=user, group_id=None, subject=user,
                 left=recovery_codes_left(user))


def _new_recovery_codes(user: User, now: datetime) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        letters = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        code = "-".join(letters[i:i + 4] for i in range(0, _RECOVERY_LENGTH, 4))
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash(code), created_at=now))
        codes.append(code)
    db.session.flush()
    return codes


def _hash(code: str) -> str:
    """A recovery code's hash, whatever its case, spaces or dashes."""
    letters = "".join(ch for ch in code.lower() if ch.isalnum())
    return hashlib.sha256(letters.encode()).hexdigest()
