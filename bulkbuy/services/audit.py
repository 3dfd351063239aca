"""Writing the audit log."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

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
