"""How long the audit log is kept: entries older than AUDIT_RETENTION_DAYS are deleted.

Nothing that adds up money reads the audit log (statements, payments, credits and
settlement have their own rows), so deleting old entries changes no figure.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry

#: The default when the setting is absent (two years).
DEFAULT_DAYS = 730
#: Entries deleted per unit of work, so one sweep never holds a long lock.
BATCH = 1000


def cutoff(now: datetime, days: int) -> datetime:
    """Entries logged before this time are past keeping."""
    return now - timedelta(days=days)


def delete_old_audit_entries(now: datetime, days: int, *, batch: int = BATCH) -> int:
    """Delete up to `batch` audit entries older than `days` days, oldest first; returns
    how many (0: nothing left to delete). The caller commits."""
    if days <= 0:
        return 0  # a zero or negative setting would empty the log: never
    ids = list(db.session.scalars(
        select(AuditEntry.id).where(AuditEntry.at < cutoff(now, days))
        .order_by(AuditEntry.id).limit(batch)))
    if not ids:
        return 0
    db.session.execute(delete(AuditEntry).where(AuditEntry.id.in_(ids))
                       .execution_options(synchronize_session=False))
    return len(ids)
