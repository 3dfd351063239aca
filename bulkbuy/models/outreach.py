"""Reaching households away from the screen: the group's drop-in times and places, and
the one "last call to fill a box" a round item gets before its round closes."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bulkbuy.extensions import db
from bulkbuy.models.accounts import Group
from bulkbuy.models.rounds import RoundItem
from bulkbuy.models.types import UTCDateTime, utcnow


class DropInSession(db.Model):
    """A time and place where a community worker takes orders and cash on the tablet:
    weekly (`weekday`, 0 = Monday) or once (`on_date`), never both; `starts` and `ends`
    are clock times in the group's time zone. A removed one (`removed_at`) is no longer
    shown but stays for what was printed with it."""

    __tablename__ = "drop_in_sessions"
    __table_args__ = (
        CheckConstraint("(weekday IS NULL) <> (on_date IS NULL)", name="weekly_or_once"),
        CheckConstraint("weekday IS NULL OR (weekday >= 0 AND weekday <= 6)",
                        name="weekday_known"),
        CheckConstraint("ends > starts", name="ends_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    place: Mapped[str] = mapped_column(String(200))
    weekday: Mapped[int | None] = mapped_column(Integer)
    on_date: Mapped[date | None] = mapped_column(Date)
    starts: Mapped[time] = mapped_column(Time)
    ends: Mapped[time] = mapped_column(Time)
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    group: Mapped[Group] = relationship()


class LastCall(db.Model):
    """A box one or two units short a day before its round closes, called out once: on the
    tablet's start screen and to the households that ordered the product or said they
    would take more. The unique round item is what makes it once."""

    __tablename__ = "last_calls"
    __table_args__ = (
        CheckConstraint("units_short > 0", name="units_short_positive"),
        CheckConstraint("saving_per_unit_pence >= 0", name="saving_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    round_item_id: Mapped[int] = mapped_column(ForeignKey("round_items.id"), unique=True)
    units_short: Mapped[int] = mapped_column(Integer)
    #: What each unit saves everyone when the box fills (the round page's saving per unit).
    saving_per_unit_pence: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    item: Mapped[RoundItem] = relationship()
