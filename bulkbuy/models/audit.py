"""The audit log: who did what to money or to someone else's pledge, and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bulkbuy.extensions import db
from bulkbuy.models.types import UTCDateTime, utcnow


class AuditEntry(db.Model):
    __tablename__ = "audit_log"
    __table_args__ = (
        # The audit log page: a group's entries, newest first (migration 0021).
        Index("ix_audit_log_group_id_at", "group_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    #: The signed-in user who acted; None for the scheduler or a CLI command.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: The household acted for, when it is not the actor's own doing.
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"),
                                                     index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"), index=True)
    #: A short dotted verb: "pledge.changed", "round.opened", "round.cancelled".
    action: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[int | None]
    #: JSON text with the details (before/after figures).
    details: Mapped[str | None] = mapped_column(Text)
