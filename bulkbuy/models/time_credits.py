"""Time credits of a group: each household's ledger of time given and credits used, and
the group's rule turning credits into pence off a delivery-fee share."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bulkbuy.extensions import db
from bulkbuy.models.accounts import Household, User
from bulkbuy.models.types import UTCDateTime, utcnow

#: Time given (credits in): dropin_helper: a worker's drop-in on the tablet, logged when
#: the session ends; packing: packing on delivery day, entered by staff; other: other
#: help, entered by staff. used: credits taken off a bill's fee share at close
#: (negative); given_back: those credits back (the round was cancelled after closing).
EARNED_REASONS = ("dropin_helper", "packing", "other")
#: correction: staff take back credits entered by mistake (negative, never below 0 in all).
TIME_CREDIT_REASONS = (*EARNED_REASONS, "used", "given_back", "correction")


class TimeCreditEntry(db.Model):
    """One line of a household's time-credit ledger (credits: + earned, − used). Its
    balance (their sum) is never negative: credits are only used by a write that locks
    the household's entries and reads the balance again. An entry of time given may earn
    0 credits: its minutes are carried (`carried_minutes`) to the next one."""

    __tablename__ = "time_credit_entries"
    __table_args__ = (
        CheckConstraint(f"reason IN ({', '.join(repr(r) for r in TIME_CREDIT_REASONS)})",
                        name="reason_known"),
        CheckConstraint("reason <> 'used' OR credits < 0", name="used_out"),
        CheckConstraint("reason IN ('used', 'correction') OR credits >= 0", name="others_in"),
        CheckConstraint("reason <> 'correction' OR credits < 0", name="correction_out"),
        CheckConstraint("minutes IS NULL OR minutes > 0", name="minutes_positive"),
        CheckConstraint("carried_minutes >= 0", name="carried_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    credits: Mapped[int] = mapped_column(Integer)
    #: Minutes given (time given only).
    minutes: Mapped[int | None] = mapped_column(Integer)
    #: Minutes given so far that did not yet make a whole credit, after this entry.
    carried_minutes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: One of TIME_CREDIT_REASONS.
    reason: Mapped[str] = mapped_column(String(20))
    #: The drop-in the time was given at (dropin_helper): once per session.
    tablet_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("tablet_sessions.id"), unique=True)
    #: The bill the credits were taken off (used, given_back).
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("statements.id"), index=True)
    #: Who gave the time and what they did, in staff's words ("Sam packed bags").
    note: Mapped[str | None] = mapped_column(String(200))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    household: Mapped[Household] = relationship()
    recorded_by: Mapped[User | None] = relationship()


class TimeCreditSettings(db.Model):
    """A group's rule for time credits (none yet: 60 minutes a credit, worth nothing)."""

    __tablename__ = "time_credit_settings"
    __table_args__ = (
        CheckConstraint("minutes_per_credit >= 1", name="minutes_positive"),
        CheckConstraint("pence_per_credit >= 0", name="pence_non_negative"),
        CheckConstraint("most_per_round_pence IS NULL OR most_per_round_pence >= 0",
                        name="most_non_negative"),
    )

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True)
    minutes_per_credit: Mapped[int] = mapped_column(Integer, default=60, server_default="60")
    #: Pence one credit takes off a household's delivery-fee share; 0: the rule is off.
    pence_per_credit: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The most taken off one household's fee share in one round; None: its whole share.
    most_per_round_pence: Mapped[int | None] = mapped_column(Integer)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
