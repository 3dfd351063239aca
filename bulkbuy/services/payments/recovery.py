"""Attempts whose answer was lost (timeout, 5xx, a crash before our commit): the steps
that look them up at Stripe before anything is asked again.

None of these commits; the job layer (`bulkbuy.payment_sweep`) commits the lease
before the look-up and what it found after. Found: its status is applied. Not
found: Stripe never took it, so it is retried with the same idempotency key and
amount, unless the statement stopped being owed, or Stripe answered it 5xx (that
key replays the 5xx): then, after a second empty look-up minutes later, the
statement is owed again for a new attempt.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from bulkbuy.adapters import stripe_gateway as gateway
from bulkbuy.domain import statuses
from bulkbuy.domain.statuses import StatementStatus
from bulkbuy.extensions import db
from bulkbuy.models import CardPayment
from bulkbuy.services.payments import attempts
from bulkbuy.services.payments.throttle import Throttle

#: How far before an attempt's start a look-up reaches back (our clock against Stripe's).
CLOCK_MARGIN = timedelta(minutes=10)
#: Empty look-ups after an HTTP 5xx answer that prove nothing was charged.
EMPTY_LOOKUPS_AFTER_5XX = 2


def _due(now: datetime):
    return (CardPayment.status.in_(statuses.UNANSWERED_ATTEMPTS),
            or_(CardPayment.next_check_at.is_(None), CardPayment.next_check_at <= now))


def lost_attempt_ids(now: datetime, limit: int) -> list[int]:
    """Attempts with no answer whose lease has ended, oldest first."""
    return list(db.session.scalars(
        select(CardPayment.id).where(*_due(now)).order_by(CardPayment.id).limit(limit)))


def claim_lost_attempt(payment_id: int, now: datetime) -> CardPayment | None:
    """Lease a lost attempt to this sweep (the caller commits before looking it up);
    None when another sweep holds it or it was answered meanwhile."""
    claimed = db.session.execute(
        update(CardPayment)
        .where(CardPayment.id == payment_id, *_due(now))
        .values(next_check_at=attempts.lease_end(now), checks=CardPayment.checks + 1)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return None
    payment = db.session.get(CardPayment, payment_id)
    db.session.refresh(payment)
    return payment


def look_up(payment: CardPayment, config, throttle: Throttle
            ) -> gateway.PaymentIntentInfo | None:
    """Stripe's PaymentIntent for an attempt whose answer was lost, or None if Stripe made
    none: by its id when an answer told us one, else by its metadata among everything
    made since it started. Writes nothing. Raises GatewayError."""
    if payment.payment_intent_id:
        return gateway.retrieve_payment_intent(config, payment.payment_intent_id)
    # Within the lease: the look-up's last page and the retry after it may each take a
    # whole request timeout.
    timeout = gateway.request_timeout(config)
    return gateway.find_payment_intent(
        config, idempotency_metadata=payment.metadata_for_stripe,
        since=payment.created_at - CLOCK_MARGIN, pace=throttle.wait,
        seconds=max(5.0, attempts.LEASE.total_seconds() - 2 * timeout - 10))


def record_failed_look_up(payment_id: int, now: datetime) -> None:
    """Stripe could not be asked: the attempt stays unanswered, looked up again later."""
    attempts.settle_attempt(db.session.get(CardPayment, payment_id), "unknown", now=now)


def record_look_up(payment_id: int, found: gateway.PaymentIntentInfo | None,
                   now: datetime) -> str:
    """Apply what a look-up found. Returns "settled" (Stripe had it), "undone" (nothing
    was charged and it will not be asked again with this key), "unknown" (looked up
    once after a 5xx: look again later) or "retry" (ask Stripe again with the same key).
    """
    payment = db.session.get(CardPayment, payment_id)
    if found is not None:
        attempts.settle_attempt(payment, attempts.attempt_status_for(found.status), now=now,
                                payment_intent_id=found.id)
        return "settled"
    if (payment.statement.payment_status != StatementStatus.CHARGING
            or payment.kind == "on_session"):
        # Never reached Stripe, and either nothing is owed on it any more (round
        # cancelled) or the resident was paying on our page: they can try again there.
        attempts.undo_attempt(payment_id, now, statement_event="needs_resident",
                              reason="declined")
        return "undone"
    if payment.answered_5xx:
        # Stripe replays a 5xx for the same key for 24 hours, so this key can never
        # pay. One empty look-up is not proof enough that nothing was charged: look
        # again minutes later (settle_attempt sets when).
        if payment.empty_lookups + 1 >= EMPTY_LOOKUPS_AFTER_5XX:
            # The statement is owed again and the next sweep charges it with the next
            # attempt's key.
            attempts.undo_attempt(payment_id, now)
            return "undone"
        db.session.execute(
            update(CardPayment).where(CardPayment.id == payment_id)
            .values(empty_lookups=CardPayment.empty_lookups + 1)
            .execution_options(synchronize_session=False))
        attempts.settle_attempt(payment, "unknown", now=now)
        return "unknown"
    return "retry"
