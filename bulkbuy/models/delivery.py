"""What delivery day writes: what arrived of each product, each statement's changes, and
money owed back to a household (handed back in cash, or kept as a credit)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bulkbuy.extensions import db
from bulkbuy.models.closing import Statement
from bulkbuy.models.rounds import RoundItem
from bulkbuy.models.types import UTCDateTime, utcnow


class ItemReceipt(db.Model):
    """What arrived of one product of a round, in units, and how many of those came
    damaged (not handed over)."""

    __tablename__ = "item_receipts"
    __table_args__ = (
        CheckConstraint("arrived_units >= 0", name="arrived_non_negative"),
        CheckConstraint("damaged_units >= 0 AND damaged_units <= arrived_units",
                        name="damaged_within_arrived"),
        CheckConstraint("case_price_pence IS NULL OR case_price_pence >= 0",
                        name="case_price_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_item_id: Mapped[int] = mapped_column(ForeignKey("round_items.id"), unique=True)
    arrived_units: Mapped[int] = mapped_column(Integer)
    damaged_units: Mapped[int] = mapped_column(Integer)
    #: The case price on the supplier's invoice when it differs from the round's (a
    #: price rise or cut), in pence; None: as ordered.
    case_price_pence: Mapped[int | None] = mapped_column(Integer)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    item: Mapped[RoundItem] = relationship()

    @property
    def usable_units(self) -> int:
        """Units that can be handed over."""
        return self.arrived_units - self.damaged_units


class StatementAdjustment(db.Model):
    """One change to a statement when what arrived was saved: a product's units and
    pence before and after (round_item_id None: the delivery fee share)."""

    __tablename__ = "statement_adjustments"
    __table_args__ = (
        CheckConstraint("units_before >= 0 AND units_after >= 0 AND pence_before >= 0 "
                        "AND pence_after >= 0", name="counts_ok"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id"), index=True)
    round_item_id: Mapped[int | None] = mapped_column(ForeignKey("round_items.id"))
    #: The round's delivery_version this change was made by.
    delivery_version: Mapped[int] = mapped_column(Integer)
    units_before: Mapped[int] = mapped_column(Integer)
    units_after: Mapped[int] = mapped_column(Integer)
    pence_before: Mapped[int] = mapped_column(Integer)
    pence_after: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    statement: Mapped[Statement] = relationship()
    item: Mapped[RoundItem | None] = relationship()

    @property
    def change_pence(self) -> int:
        """What the change did to the bill: negative is less to pay."""
        return self.pence_after - self.pence_before


#: owed_back: money the group held for the household, kept for its next round; used:
#: taken off a later statement.
CREDIT_REASONS = ("owed_back", "used")


class HouseholdCredit(db.Model):
    """One entry of a household's credit ledger (positive in, negative used); the
    balance (their sum) is never negative."""

    __tablename__ = "household_credits"
    __table_args__ = (
        CheckConstraint("amount_pence <> 0", name="amount_not_zero"),
        CheckConstraint("reason IN ('owed_back', 'used')", name="reason_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    amount_pence: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(30))
    #: The statement the money came from (owed_back) or went to (used).
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("statements.id"))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    statement: Mapped[Statement | None] = relationship()


class CashReturn(db.Model):
    """Cash handed back to a household for what it was owed back on a statement."""

    __tablename__ = "cash_returns"
    __table_args__ = (CheckConstraint("amount_pence > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id"), index=True)
    amount_pence: Mapped[int] = mapped_column(Integer)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    statement: Mapped[Statement] = relationship()


class DeliveryNotice(db.Model):
    """News owed to a household whose bill a delivery save changed: written in the save
    (so it is never lost), turned into e-mails by the notification sweep, which sets
    `queued_at` (so it is never sent twice)."""

    __tablename__ = "delivery_notices"
    __table_args__ = (
        CheckConstraint("card_back_pence >= 0", name="card_back_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id"), index=True)
    #: The round's delivery_version of the save that changed the bill.
    delivery_version: Mapped[int] = mapped_column(Integer)
    #: Card money that save sent back to the household's card.
    card_back_pence: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When its e-mails were put in the outbox; None: not yet.
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
