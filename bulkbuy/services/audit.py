"""Writing the audit log."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import insert

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, User

#: Details added to every entry recorded within `context` (e.g. the tablet session).
_context: ContextVar[dict | None] = ContextVar("audit_context", default=None)


@contextmanager
def context(**details) -> Iterator[None]:
    """Within the block, every entry also carries `details` (where it was done)."""
    token = _context.set({**(_context.get() or {}), **details})
    try:
        yield
    finally:
        _context.reset(token)


def record(
    action: str,
    *,
    actor: User | None,
    group_id: int | None,
    household_id: int | None = None,
    subject: object | None = None,
    **details,
) -> AuditEntry:
    """Add one audit entry to the session (the caller commits it with the change)."""
    entry = AuditEntry(
        action=action,
        actor_id=actor.id if actor is not None else None,
        group_id=group_id,
        household_id=household_id,
        subject_type=type(subject).__name__ if subject is not None else None,
        subject_id=getattr(subject, "id", None),
        details=(json.dumps({**(_context.get() or {}), **details}, sort_keys=True,
                            default=str)
                 if details or _context.get() else None),
    )
    db.session.add(entry)
    return entry


def record_many(entries: list[dict], *, group_id: int | None) -> None:
    """Add many entries with no actor (a sweep's or a save's own bookkeeping) in one bulk
    INSERT. Each entry is a dict of `action`, `household_id`, optionally `subject`, and
    the details, written as `record` writes them."""
    if not entries:
        return
    context = _context.get() or {}
    rows = []
    for entry in entries:
        details = dict(entry)
        action = details.pop("action")
        household_id = details.pop("household_id", None)
        subject = details.pop("subject", None)
        rows.append({
            "action": action, "actor_id": None, "group_id": group_id,
            "household_id": household_id,
            "subject_type": type(subject).__name__ if subject is not None else None,
            "subject_id": getattr(subject, "id", None),
            "details": json.dumps({**context, **details}, sort_keys=True, default=str)
            if details or context else None,
        })
    db.session.execute(insert(AuditEntry.__table__), rows)
