"""The statuses of a round, a statement, a card attempt and a refund, and the named
sets of them the rest of the app asks about. Defined once here: models build their
CHECK constraints from these, and queries and pages use the sets by name.

Each status is a StrEnum, so it equals (and is stored as) its plain string value.
"""

from __future__ import annotations

from enum import StrEnum


class RoundStatus(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    OPEN = "open"
    CLOSED = "closed"
    ORDERED = "ordered"
    DELIVERED = "delivered"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: Closed at its deadline and going ahead: statements exist and are owed, so cards may be
#: charged and cash taken.
FINISHED_ROUNDS = (RoundStatus.CLOSED, RoundStatus.ORDERED, RoundStatus.DELIVERED,
                   RoundStatus.COMPLETE)
CHARGEABLE_ROUNDS = FINISHED_ROUNDS
#: Finished rounds whose goods are not yet all handed out: staff take payments for them
#: from their home page.
COLLECTING_ROUNDS = (RoundStatus.CLOSED, RoundStatus.ORDERED, RoundStatus.DELIVERED)
#: Rounds every member of the group sees on their home page (others only if they ordered).
LISTED_ROUNDS = (RoundStatus.OPEN, *COLLECTING_ROUNDS)
#: An organiser may still cancel these after the close (every card payment refunded).
CANCELLABLE_AFTER_CLOSE = (RoundStatus.CLOSED, RoundStatus.ORDERED)


class StatementStatus(StrEnum):
    DUE = "due"
    CHARGING = "charging"
    NEEDS_ACTION = "needs_action"
    PAID = "paid"
    SETTLED = "settled"
    CANCELLED = "cancelled"


#: Still owed, whatever is under way: the household's "Pay now" and the tablet's "To pay".
OWED = (StatementStatus.DUE, StatementStatus.CHARGING, StatementStatus.NEEDS_ACTION)
#: Owed and open to a payment now: cash, or a card on our page (not while a card charge
#: is being taken, when one of the two could be more than is owed).
OPEN_TO_PAYMENT = (StatementStatus.DUE, StatementStatus.NEEDS_ACTION)


class AttemptStatus(StrEnum):
    """One card charge attempt. PENDING: recorded, the request not yet answered;
    UNKNOWN: asked, but the answer was lost (look it up before any retry); the rest are
    Stripe's answers."""

    PENDING = "pending"
    UNKNOWN = "unknown"
    SUCCEEDED = "succeeded"
    REQUIRES_ACTION = "requires_action"
    DECLINED = "declined"
    CANCELED = "canceled"


#: Waiting for Stripe's answer: looked up (never asked again blindly) once the lease ends.
UNANSWERED_ATTEMPTS = (AttemptStatus.PENDING, AttemptStatus.UNKNOWN)
#: Outcomes that end an attempt; an attempt number rises only after one of these.
FINAL_ATTEMPTS = (AttemptStatus.SUCCEEDED, AttemptStatus.REQUIRES_ACTION,
                  AttemptStatus.DECLINED, AttemptStatus.CANCELED)


class RefundStatus(StrEnum):
    """One refund. PENDING: queued, Stripe never asked; UNKNOWN: a sweep took it to ask
    Stripe and no answer is recorded (look it up by its key before asking again)."""

    PENDING = "pending"
    UNKNOWN = "unknown"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


UNANSWERED_REFUNDS = (RefundStatus.PENDING, RefundStatus.UNKNOWN)
