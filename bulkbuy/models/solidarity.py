"""The solidarity pot of a group: its ledger, its rule, and the households it supports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bulkbuy.extensions import db
from bulkbuy.models.accounts import Household
from bulkbuy.models.types import UTCDateTime, utcnow

#: donation: money given to the pot (a grant, a gift); round_help: what the pot paid
#: towards a supported household's bill at close (negative); help_given_back: that help
#: back in the pot (the round was cancelled after it closed); gift: a household's gift
#: with a card charge or cash (card_payment_id or cash_payment_id, once per payment);
#: gift_given_back: that gift back out (its money went back); write_off: what the pot paid
#: of a bill an organiser wrote off (negative).
POT_REASONS = ("donation", "round_help", "help_given_back", "gift", "gift_given_back",
               "write_off")


class SolidarityEntry(db.Model):
    """One entry of a group's solidarity pot (positive in, negative out); the balance
    (their sum) is never negative: money only goes out by a write that re-checks the
    balance while the group's row is locked."""

    __tablename__ = "solidarity_entries"
    __table_args__ = (
        CheckConstraint("amount_pence <> 0", name="amount_not_zero"),
        CheckConstraint(f"reason IN ({', '.join(repr(r) for r in POT_REASONS)})",
                        name="reason_known"),
        CheckConstraint("reason <> 'donation' OR amount_pence > 0", name="donation_in"),
        CheckConstraint("reason <> 'round_help' OR amount_pence < 0", name="help_out"),
        CheckConstraint("reason <> 'gift' OR amount_pence > 0", name="gift_in"),
        CheckConstraint("reason <> 'write_off' OR amount_pence < 0", name="write_off_out"),
        UniqueConstraint("card_payment_id", "reason"),
        UniqueConstraint("cash_payment_id", "reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    amount_pence: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(20))
    #: The bill the pot paid towards (round_help, help_given_back).
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("statements.id"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    #: The card charge or cash a gift came with (and its giving back): one each per payment.
    card_payment_id: Mapped[int | None] = mapped_column(ForeignKey("card_payments.id"))
    cash_payment_id: Mapped[int | None] = mapped_column(ForeignKey("cash_payments.id"))
    #: Where a donation came from, in the organiser's words ("Grant from the council").
    note: Mapped[str | None] = mapped_column(String(200))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    household: Mapped[Household | None] = relationship()


class SolidaritySettings(db.Model):
    """A group's rule for its pot (none yet: the pot pays fees only, no cap)."""

    __tablename__ = "solidarity_settings"
    __table_args__ = (
        CheckConstraint("goods_share_percent >= 0 AND goods_share_percent <= 100",
                        name="share_is_percent"),
        CheckConstraint("cap_pence IS NULL OR cap_pence >= 0", name="cap_non_negative"),
    )

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True)
    #: The most of a supported household's goods the pot pays, in whole percent.
    goods_share_percent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The most the pot pays one household in one round, fee included; None: no cap.
    cap_pence: Mapped[int | None] = mapped_column(Integer)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SupportedHousehold(db.Model):
    """A household the group's pot helps (while `unmarked_at` is empty). Private: only
    the group's staff and the household itself ever see it. One row per household: the
    audit log keeps every mark and unmark."""

    __tablename__ = "supported_households"
    __table_args__ = (UniqueConstraint("household_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    marked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    unmarked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
