"""Card payments through Stripe: saved cards, consent, charge attempts, refunds, events.

Our database is the record of what each household owes and has paid; these
tables hold what we asked Stripe and what it answered. Money is integer pence.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bulkbuy.domain.statuses import FINAL_ATTEMPTS, AttemptStatus, RefundStatus
from bulkbuy.extensions import db
from bulkbuy.models.accounts import Household
from bulkbuy.models.closing import Statement
from bulkbuy.models.types import UTCDateTime, utcnow

#: A card being saved ("pending": SetupIntent made, not yet confirmed) or ready to charge.
CARD_STATES = ("pending", "saved")
#: One charge attempt, and one refund (their meanings: bulkbuy.domain.statuses).
ATTEMPT_STATES = tuple(AttemptStatus)
FINAL_ATTEMPT_STATES = FINAL_ATTEMPTS
REFUND_STATES = tuple(RefundStatus)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class SavedCard(db.Model):
    """A household's card at Stripe: its Customer and the PaymentMethod to charge."""

    __tablename__ = "saved_cards"
    __table_args__ = (CheckConstraint(_in("status", CARD_STATES), name="status_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), unique=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    #: The SetupIntent of the card being saved now (a new one each time).
    setup_intent_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    payment_method_id: Mapped[str | None] = mapped_column(String(64))
    brand: Mapped[str | None] = mapped_column(String(20))
    last4: Mapped[str | None] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    saved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    household: Mapped[Household] = relationship()

    @property
    def is_ready(self) -> bool:
        return self.status == "saved" and bool(self.payment_method_id)


class CardConsent(db.Model):
    """A household agreed that its card may be charged up to `max_pence` for a round."""

    __tablename__ = "card_consents"
    __table_args__ = (
        UniqueConstraint("round_id", "household_id"),
        CheckConstraint("max_pence >= 0", name="max_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    max_pence: Mapped[int] = mapped_column(Integer)
    #: Who ticked the box (a resident, or a worker on their behalf).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    consented_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: A gift to the solidarity pot with the bill: None, "round_up" (to the next pound)
    #: or "fixed" (`gift_fixed_pence`). `max_pence` already includes it.
    gift_kind: Mapped[str | None] = mapped_column(String(10))
    gift_fixed_pence: Mapped[int | None] = mapped_column(Integer)


class CardPayment(db.Model):
    """One attempt to take a statement's money by card (one PaymentIntent).

    Written, with its idempotency key, before Stripe is asked, so a crash
    after Stripe took the money is found again by key or metadata.
    """

    __tablename__ = "card_payments"
    __table_args__ = (
        UniqueConstraint("statement_id", "attempt"),
        CheckConstraint(_in("status", ATTEMPT_STATES), name="status_known"),
        CheckConstraint("kind IN ('off_session', 'on_session')", name="kind_known"),
        CheckConstraint("amount_pence > 0", name="amount_positive"),
        CheckConstraint("attempt >= 1", name="attempt_positive"),
        CheckConstraint(
            "credited_pence >= 0 AND credited_pence <= amount_pence", name="credited_within"
        ),
        CheckConstraint(
            "refunded_pence >= 0 AND refunded_pence <= amount_pence", name="refunded_within"
        ),
        CheckConstraint("empty_lookups >= 0", name="empty_lookups_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id"), index=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    #: "off_session" (the sweep, card on file) or "on_session" (the resident on our page).
    kind: Mapped[str] = mapped_column(String(20), default="off_session")
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    amount_pence: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    payment_intent_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: Of the amount, how much went to the statement (the rest is refunded: overpaid).
    credited_pence: Mapped[int] = mapped_column(Integer, default=0)
    #: Refunds asked of Stripe for this payment (pending or done), in pence.
    refunded_pence: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(60))
    #: Not before this time may a sweep look this attempt up or retry it (a lease).
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    checks: Mapped[int] = mapped_column(Integer, default=0)
    #: Stripe answered this attempt with HTTP 5xx, which it replays for the same key: the
    #: key can never pay, so once look-ups prove nothing was charged a new attempt is made.
    answered_5xx: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Look-ups since that answer that found no PaymentIntent (two prove there is none).
    empty_lookups: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    statement: Mapped[Statement] = relationship()

    @property
    def metadata_for_stripe(self) -> dict[str, str]:
        return {"round_id": str(self.round_id), "household_id": str(self.household_id),
                "attempt": str(self.attempt), "statement_id": str(self.statement_id),
                "attempt_key": self.idempotency_key}


class CardRefund(db.Model):
    """Money given back to a card, capped by what that payment took (our records)."""

    __tablename__ = "card_refunds"
    __table_args__ = (
        CheckConstraint(_in("status", REFUND_STATES), name="status_known"),
        CheckConstraint("amount_pence > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    card_payment_id: Mapped[int] = mapped_column(ForeignKey("card_payments.id"), index=True)
    amount_pence: Mapped[int] = mapped_column(Integer)
    #: "round_cancelled", "overpaid".
    reason: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    refund_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    payment: Mapped[CardPayment] = relationship()


class StripeEvent(db.Model):
    """A webhook event we have acted on; its id is the key, so each acts once."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(80))
    #: What we did with it ("applied", "no change", "unknown payment").
    outcome: Mapped[str] = mapped_column(String(120))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
