"""Shared-tablet sessions: a worker's signed-in tablet, and each resident's turn on it.

Both are found by a random token whose SHA-256 is stored (never the token),
so ending a row on the server ends it everywhere, whatever a browser kept.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bulkbuy.extensions import db
from bulkbuy.models.accounts import Group, Household, User
from bulkbuy.models.types import UTCDateTime, utcnow

VISIT_END_REASONS = ("done", "idle", "replaced", "session_ended")


class TabletSession(db.Model):
    """A community worker's drop-in session on a shared tablet, for one group."""

    __tablename__ = "tablet_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    group: Mapped[Group] = relationship()
    worker: Mapped[User] = relationship()


class TabletVisit(db.Model):
    """One resident's turn on the tablet: from PIN (or a helper's word) to Done or idle."""

    __tablename__ = "tablet_visits"
    __table_args__ = (
        CheckConstraint("verified_by IN ('pin', 'worker')", name="verified_by_known"),
        CheckConstraint(
            "end_reason IS NULL OR end_reason IN ('done', 'idle', 'replaced', 'session_ended')",
            name="end_reason_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tablet_session_id: Mapped[int] = mapped_column(ForeignKey("tablet_sessions.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    verified_by: Mapped[str] = mapped_column(String(10))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(20))
    #: The language the resident picked for this turn (bulkbuy.i18n); it ends with the turn.
    locale: Mapped[str | None] = mapped_column(String(8))

    household: Mapped[Household] = relationship()
    tablet_session: Mapped[TabletSession] = relationship()
