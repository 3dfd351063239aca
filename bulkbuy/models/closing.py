"""What closing a round writes: each household's statement, and mail to send."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bulkbuy.extensions import db
from bulkbuy.models.accounts import Household
from bulkbuy.models.rounds import Round, RoundItem
from bulkbuy.models.types import UTCDateTime, utcnow

PAYMENT_STATUSES = ("due", "paid", "settled")


class Statement(db.Model):
    """What one household owes for one closed round. total = goods + fee, in pence."""

    __tablename__ = "statements"
    __table_args__ = (
        UniqueConstraint("round_id", "household_id"),
        CheckConstraint("goods_pence >= 0", name="goods_non_negative"),
        CheckConstraint("fee_pence >= 0", name="fee_non_negative"),
        CheckConstraint("total_pence = goods_pence + fee_pence", name="total_adds_up"),
        CheckConstraint(
            "paid_pence >= 0 AND paid_pence <= total_pence", name="paid_within_total"
        ),
        CheckConstraint(
            "payment_status IN ('due', 'paid', 'settled')", name="payment_status_known"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    #: Pence for the goods the household gets.
    goods_pence: Mapped[int] = mapped_column(Integer)
    #: Pence of the delivery fee the household pays.
    fee_pence: Mapped[int] = mapped_column(Integer)
    total_pence: Mapped[int] = mapped_column(Integer)
    #: The household's earliest queue position in the round (who gets ties).
    position: Mapped[int] = mapped_column(Integer)
    #: Pence received so far (cash; cards come with the payments work).
    paid_pence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: "due" until paid in full; "paid"; "settled" for a 0p statement (nothing to pay).
    payment_status: Mapped[str] = mapped_column(String(20), default="due", server_default="due")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    round: Mapped[Round] = relationship()
    household: Mapped[Household] = relationship()
    lines: Mapped[list[StatementLine]] = relationship(
        back_populates="statement", order_by="StatementLine.id"
    )


class StatementLine(db.Model):
    """One product on a statement: what was asked for, what is given, what it costs."""

    __tablename__ = "statement_lines"
    __table_args__ = (
        UniqueConstraint("statement_id", "round_item_id"),
        CheckConstraint("units >= 0 AND quantity >= 0 AND tolerance >= 0", name="counts_ok"),
        CheckConstraint("amount_pence >= 0", name="amount_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id"), index=True)
    round_item_id: Mapped[int] = mapped_column(ForeignKey("round_items.id"))
    #: Units the household asked for.
    quantity: Mapped[int] = mapped_column(Integer)
    #: Extra units it said it would take to fill a case.
    tolerance: Mapped[int] = mapped_column(Integer)
    #: Units it gets.
    units: Mapped[int] = mapped_column(Integer)
    #: Of `units`, how many came from its tolerance.
    tolerance_units: Mapped[int] = mapped_column(Integer, default=0)
    #: Pence for these units (its exact share of the cases' price, to the penny).
    amount_pence: Mapped[int] = mapped_column(Integer)

    statement: Mapped[Statement] = relationship(back_populates="lines")
    item: Mapped[RoundItem] = relationship()


class CashPayment(db.Model):
    """Cash a worker or organiser took for a statement, with the paper receipt's number."""

    __tablename__ = "cash_payments"
    __table_args__ = (
        # A receipt number is used once per group: a form sent twice records once.
        UniqueConstraint("group_id", "receipt_number"),
        CheckConstraint("amount_pence > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id"), index=True)
    #: Pence received.
    amount_pence: Mapped[int] = mapped_column(Integer)
    receipt_number: Mapped[str] = mapped_column(String(40))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMessage(db.Model):
    """An e-mail written with the change that causes it, sent after commit by a sweep."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Unique per message meaning ("round-result:12:34"), so a retry never queues it twice.
    key: Mapped[str] = mapped_column(String(120), unique=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
