"""What closing a round writes: each household's statement, and mail to send."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bulkbuy.domain.statuses import StatementStatus
from bulkbuy.extensions import db
from bulkbuy.models.accounts import Household, User
from bulkbuy.models.rounds import Round, RoundItem
from bulkbuy.models.types import UTCDateTime, utcnow

#: due: owed; charging: a card charge is under way; needs_action: the card needs the
#: resident (or there is no card to charge); paid; settled: nothing (more) to pay: 0p,
#: or the rest written off (see WriteOff); cancelled: the round was cancelled after
#: closing (card money refunded).
PAYMENT_STATUSES = tuple(StatementStatus)
#: Why a statement needs the resident.
NEEDS_ACTION_REASONS = ("authentication", "declined", "over_consent")


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
            f"payment_status IN ({', '.join(repr(str(s)) for s in PAYMENT_STATUSES)})",
            name="payment_status_known",
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
    #: Pence received so far, by cash and card.
    paid_pence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: One of PAYMENT_STATUSES.
    payment_status: Mapped[str] = mapped_column(String(20), default="due", server_default="due")
    #: When payment_status is "needs_action": one of NEEDS_ACTION_REASONS.
    needs_action_reason: Mapped[str | None] = mapped_column(String(20))
    #: Pence paid beyond the total after a delivery came short: money the group holds for
    #: the household until it is handed back in cash or kept as a credit (card money goes
    #: back to the card by itself and is never counted here).
    owed_back_pence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Of `paid_pence`, what the group's solidarity pot paid at close (see
    #: services.solidarity): the household pays total − pot.
    pot_pence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Of `paid_pence`, what the household's time credits took off its fee share at close
    #: (see services.time_credits): the group pays it, as a discount.
    time_credit_pence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: A gift to the group's solidarity pot on top of the bill, decided at close from the
    #: household's card consent (within it); not part of total_pence. The pot receives it
    #: only with the card charge (a 'gift' entry naming the charge).
    gift_pence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
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
    #: Set when the cash was handed back (the round was cancelled after closing).
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    returned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Set when staff reversed the entry as a mistake (the row is kept; its amount no
    #: longer counts as paid), with who did it and why in their words.
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reversed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reversal_reason: Mapped[str | None] = mapped_column(String(200))

    statement: Mapped[Statement] = relationship()
    recorded_by: Mapped[User] = relationship(foreign_keys=[recorded_by_id])
    reversed_by: Mapped[User | None] = relationship(foreign_keys=[reversed_by_id])


#: too_small: under Stripe's minimum card charge, waived; group_covers: the group pays it.
WRITE_OFF_REASONS = ("too_small", "group_covers")


class WriteOff(db.Model):
    """What was still owed on a statement when an organiser decided the group covers it
    (or waived an amount too small for a card): the round's deficit, recorded."""

    __tablename__ = "write_offs"
    __table_args__ = (
        UniqueConstraint("statement_id"),  # the rest of a statement, written off once
        CheckConstraint("amount_pence > 0", name="amount_positive"),
        CheckConstraint("reason IN ('too_small', 'group_covers')", name="reason_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id"))
    amount_pence: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(20))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Set when an organiser undid it (a mistake): what it covered is owed again. The
    #: row is kept; writing the statement off again reuses it (the audit log has both).
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    statement: Mapped[Statement] = relationship()


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
