"""What each closed round did, kept for the impact report (bulkbuy.services.impact):
written when the round closes, brought up to date when what arrived is saved and when
the round is cancelled after closing, so the report never adds up pledge lines."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bulkbuy.extensions import db
from bulkbuy.models.types import UTCDateTime, utcnow

#: ran: the round went ahead (closed, ordered, delivered or complete); failed: it did not
#: reach its minimum order at close; cancelled: an organiser cancelled it after it closed.
IMPACT_OUTCOMES = ("ran", "failed", "cancelled")
#: Why a round did not go ahead.
FAILED_REASONS = ("below_minimum", "cancelled_after_close")


class RoundImpact(db.Model):
    """One closed round's totals (pence exact; household counts are households that
    had a bill, or for a failed round that had asked for something)."""

    __tablename__ = "round_impact"
    __table_args__ = (
        CheckConstraint(f"outcome IN ({', '.join(repr(o) for o in IMPACT_OUTCOMES)})",
                        name="outcome_known"),
        CheckConstraint("failed_reason IS NULL OR failed_reason IN "
                        f"({', '.join(repr(r) for r in FAILED_REASONS)})",
                        name="failed_reason_known"),
        CheckConstraint("households >= 0 AND new_households >= 0 AND "
                        "new_households <= households AND assisted_households >= 0 AND "
                        "assisted_households <= households", name="counts_ok"),
        CheckConstraint("goods_pence >= 0 AND fees_pence >= 0 AND pot_pence >= 0 AND "
                        "time_credit_pence >= 0", name="money_non_negative"),
        Index("ix_round_impact_group_id_closed_at", "group_id", "closed_at"),
    )

    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    #: One of IMPACT_OUTCOMES.
    outcome: Mapped[str] = mapped_column(String(12))
    #: One of FAILED_REASONS when the round did not go ahead.
    failed_reason: Mapped[str | None] = mapped_column(String(30))
    #: When the round closed (the report's period is of this).
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Households with a bill (failed: households that had asked for something).
    households: Mapped[int] = mapped_column(Integer)
    #: Of those, households whose first round in the group (that was not cancelled) this is.
    new_households: Mapped[int] = mapped_column(Integer)
    #: Of those, households whose order a helper outside the household typed (the tablet).
    assisted_households: Mapped[int] = mapped_column(Integer)
    #: What the bills come to now: goods and delivery-fee shares.
    goods_pence: Mapped[int] = mapped_column(Integer)
    fees_pence: Mapped[int] = mapped_column(Integer)
    #: Saved against shop prices over the products that have one (bulkbuy.domain.savings);
    #: may be below 0 when the shops were cheaper.
    saving_pence: Mapped[int] = mapped_column(Integer)
    #: Products got that had no shop price (the saving may be more).
    unpriced_lines: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: What the solidarity pot paid towards the bills, and what time credits took off.
    pot_pence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    time_credit_pence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
