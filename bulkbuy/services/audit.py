"""Writing the audit log."""

import json

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, User


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
        details=json.dumps(details, sort_keys=True, default=str) if details else None,
    )
    db.session.add(entry)
    return entry
