"""Hashes of passwords and PINs: Argon2id by default, at OWASP's minimum (19 MiB of
memory, 2 passes, 1 lane: about 30 ms of CPU here; docs/performance.md, "Password and PIN
hashing"). Hashes made earlier with Werkzeug's scrypt still verify, and are made again
with today's method the next time their secret is given right (services.accounts).

A method is spelled as PASSWORD_HASH_METHOD is: "argon2id:<memory KiB>:<passes>:<lanes>",
or any method Werkzeug's generate_password_hash takes ("scrypt:32768:8:1").
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app, has_app_context
from werkzeug.security import check_password_hash, generate_password_hash

#: PASSWORD_HASH_METHOD's default (config.py), also used outside an app.
DEFAULT_METHOD = "argon2id:19456:2:1"


def method() -> str:
    """The method new hashes are made with: the app's PASSWORD_HASH_METHOD (the default
    outside an app)."""
    if has_app_context():
        return current_app.config.get("PASSWORD_HASH_METHOD") or DEFAULT_METHOD
    return DEFAULT_METHOD


@functools.lru_cache(maxsize=8)
def _argon2(spelled: str) -> PasswordHasher | None:
    """The Argon2id hasher a method spells, or None for a Werkzeug method. A malformed
    argon2id method raises ValueError (at the first hash, with the setting's name)."""
    if not spelled.startswith("argon2id"):
        return None
    try:
        _name, memory, passes, lanes = spelled.split(":")
        return PasswordHasher(memory_cost=int(memory), time_cost=int(passes),
                              parallelism=int(lanes), type=Type.ID)
    except ValueError:
        raise ValueError(f"PASSWORD_HASH_METHOD {spelled!r}: write argon2id:<memory KiB>:"
                         "<passes>:<lanes>, e.g. argon2id:19456:2:1") from None


def make(secret: str, spelled: str | None = None) -> str:
    """A new hash of `secret` with `spelled` (today's method when None)."""
    spelled = spelled or method()
    hasher = _argon2(spelled)
    return hasher.hash(secret) if hasher else generate_password_hash(secret, method=spelled)


def verify(secret_hash: str, secret: str) -> bool:
    """True when `secret` matches `secret_hash`, whichever method made it (the hash
    carries its own parameters)."""
    if secret_hash.startswith("$argon2"):
        try:
            return _argon2(DEFAULT_METHOD).verify(secret_hash, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
    return check_password_hash(secret_hash, secret)


def outdated(secret_hash: str) -> bool:
    """True when the hash was made with another method or other parameters than today's
    (it is then made again when its secret is next given right)."""
    spelled = method()
    hasher = _argon2(spelled)
    if hasher is not None:
        return not secret_hash.startswith("$argon2id$") or hasher.check_needs_rehash(
            secret_hash)
    return secret_hash.split("$", 1)[0] != _dummy(spelled).split("$", 1)[0]


@functools.lru_cache(maxsize=8)
def _dummy(spelled: str) -> str:
    return make("not-a-real-password", spelled)


def dummy() -> str:
    """A hash made with today's method, to check a secret against when there is no
    account, so a miss costs as long as a hit."""
    return _dummy(method())
