"""Invites to a group (staff, or a person joining an existing household), two-step
sign-in recovery codes, and households' requests to be erased."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bulkbuy.extensions import db
from bulkbuy.models.accounts import Group, Household, User
from bulkbuy.models.types import UTCDateTime, utcnow

INVITE_KINDS = ("staff", "household")
STAFF_ROLES = ("worker", "organiser")


class Invite(db.Model):
    """A single-use, expiring link: `staff` makes its holder a worker or organiser of the
    group; `household` gives its holder an account in that existing household. Only a
    hash of the link's token is kept."""

    __tablename__ = "invites"
    __table_args__ = (
        CheckConstraint("(kind = 'staff' AND role IN ('worker', 'organiser') "
                        "AND household_id IS NULL) OR (kind = 'household' AND role IS NULL "
                        "AND household_id IS NOT NULL)", name="kind_fits"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    role: Mapped[str | None] = mapped_column(String(16))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    #: Where the link was e-mailed; None when it was shown to copy or print.
    email: Mapped[str | None] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    group: Mapped[Group] = relationship()
    household: Mapped[Household | None] = relationship()
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    used_by: Mapped[User | None] = relationship(foreign_keys=[used_by_id])


class RecoveryCode(db.Model):
    """One of a person's two-step sign-in recovery codes (hashed); each works once."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ErasureRequest(db.Model):
    """A household member asked for the household's personal data to be erased; staff
    decide (erased, or refused with a reason such as money still owed either way)."""

    __tablename__ = "erasure_requests"
    __table_args__ = (
        CheckConstraint("outcome IS NULL OR outcome IN ('erased', 'refused')",
                        name="outcome_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))

    household: Mapped[Household] = relationship()
