"""What a card payment's outcome does to our records: one state machine for every source.

The charge sweep's answer, a look-up at Stripe, a webhook and our payment page
all report a PaymentIntent's status through `settle_attempt`, so whichever
arrives first, twice, or out of order, a statement is credited once:
- an attempt's status only moves forward (pending/unknown, then a definite
  answer, then succeeded; succeeded is final);
- money is credited to a statement by one guarded UPDATE, never past its
  total; whatever a card took beyond what was owed (cash came in meanwhile,
  or the round was cancelled) is queued as a refund at once.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from bulkbuy.domain import statuses
from bulkbuy.extensions import db
from bulkbuy.models import CardPayment, CardRefund, Round, Statement, utcnow
from bulkbuy.services import ServiceError, audit, notifications

log = logging.getLogger(__name__)

_RANK = {"pending": 0, "unknown": 0, "requires_action": 1, "declined": 1, "canceled": 1,
         "succeeded": 2}
#: Stripe PaymentIntent statuses, as the attempt status they mean for us.
_FROM_STRIPE = {
    "succeeded": "succeeded",
    "requires_action": "requires_action",
    "requires_payment_method": "declined",
    "canceled": "canceled",
}
#: How long before an attempt whose answer was lost is looked up again (grows per check).
RECHECK_AFTER = timedelta(seconds=60)


def card_payment_of_round(round_id: int, payment_id: int) -> CardPayment | None:
    """The card payment (attempt) with this id if it is one of the round's, else None."""
    payment = db.session.get(CardPayment, payment_id)
    return payment if payment is not None and payment.round_id == round_id else None


def attempt_named_by(metadata, *, unrecorded_only: bool = False) -> CardPayment | None:
    """Our attempt a PaymentIntent's metadata names, or None.

    Its round, household and attempt number must match, and its idempotency key
    the metadata's attempt_key: ids alone repeat in another database sharing the
    Stripe account. PaymentIntents made before attempt_key was added carry none
    and are matched by the three ids. `unrecorded_only`: only an attempt whose
    PaymentIntent id we never recorded (a crash before our commit).
    """
    try:
        round_id = int(metadata["round_id"])
        household_id = int(metadata["household_id"])
        attempt = int(metadata["attempt"])
    except (KeyError, TypeError, ValueError):
        return None
    query = select(CardPayment).where(
        CardPayment.round_id == round_id, CardPayment.household_id == household_id,
        CardPayment.attempt == attempt)
    if metadata.get("attempt_key"):
        query = query.where(CardPayment.idempotency_key == str(metadata["attempt_key"]))
    if unrecorded_only:
        query = query.where(CardPayment.payment_intent_id.is_(None))
    return db.session.scalar(query)


def attempt_status_for(stripe_status: str) -> str:
    """Our attempt status for a PaymentIntent status ("processing" etc. are "unknown")."""
    return _FROM_STRIPE.get(stripe_status, "unknown")


def settle_attempt(
    payment: CardPayment, status: str, *, now: datetime,
    payment_intent_id: str | None = None, error_code: str | None = None,
) -> str:
    """Apply what Stripe says of one attempt; returns a short word for logs and events.

    `status` is one of our attempt statuses. The move is one guarded UPDATE
    from a lower status, so when the charge's own answer and a webhook
    arrive at once (two processes), exactly one of them applies it: an
    attempt never moves back, money is credited once, and the statement is
    flagged *needs action* when the card needs the resident.
    """
    if payment_intent_id and payment.payment_intent_id is None:
        db.session.execute(
            update(CardPayment)
            .where(CardPayment.id == payment.id, CardPayment.payment_intent_id.is_(None))
            .values(payment_intent_id=payment_intent_id)
            .execution_options(synchronize_session=False)
        )
    target = "unknown" if status == "pending" else status
    if target == "succeeded":
        lower = [s for s in _RANK if s != "succeeded"]
    elif target == "unknown":
        lower = ["pending", "unknown"]
    elif target == "requires_action":  # the bank must confirm: only ever after no answer
        lower = ["pending", "unknown"]
    elif target == "declined":  # from no answer, or 3-D Secure failed
        lower = ["pending", "unknown", "requires_action"]
    else:  # canceled: final at Stripe, after any "no"
        lower = ["pending", "unknown", "requires_action", "declined"]
    values = {"status": target, "updated_at": now}
    if target == "unknown":
        # From the real clock too: a long sweep's `now` is when it started.
        values["next_check_at"] = (max(now, utcnow())
                                   + RECHECK_AFTER * (1 + min(payment.checks or 0, 10)))
    else:
        values["next_check_at"] = None
    if target != "succeeded" and error_code:
        values["error_code"] = error_code[:60]
    moved = db.session.execute(
        update(CardPayment)
        .where(CardPayment.id == payment.id, CardPayment.status.in_(lower))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(payment)
    if moved.rowcount != 1:
        return "no change"
    if target == "succeeded":
        _credit(payment, now)
        return "paid"
    if target == "unknown":
        return "unknown"
    if _is_latest_attempt(payment):
        reason = "authentication" if target == "requires_action" else "declined"
        mark_needs_action(payment.statement, reason, now)
    return target


def _is_latest_attempt(payment: CardPayment) -> bool:
    latest = db.session.scalar(
        select(func.max(CardPayment.attempt)).where(
            CardPayment.statement_id == payment.statement_id)
    )
    return latest == payment.attempt


def mark_needs_action(statement: Statement, reason: str, now: datetime) -> bool:
    """Flag a statement that is still owed as needing the resident, and tell them.

    Returns False (and changes nothing) when it is paid, settled or cancelled.
    """
    result = db.session.execute(
        update(Statement)
        .where(Statement.id == statement.id, Statement.payment_status.in_(statuses.OWED))
        .values(payment_status="needs_action", needs_action_reason=reason)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    db.session.refresh(statement)
    notifications.queue_payment_needs_action(statement, reason, now)
    return True


def _credit(payment: CardPayment, now: datetime) -> None:
    statement = payment.statement
    db.session.refresh(statement)
    room = statement.total_pence - statement.paid_pence
    credit = min(payment.amount_pence, room) if statement.payment_status in statuses.OWED else 0
    if credit > 0:
        result = db.session.execute(
            update(Statement)
            .where(Statement.id == statement.id,
                   Statement.payment_status.in_(statuses.OWED),
                   Statement.paid_pence + credit <= Statement.total_pence)
            .values(paid_pence=Statement.paid_pence + credit)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            credit = 0
    db.session.execute(
        update(Statement)
        .where(Statement.id == statement.id, Statement.payment_status.in_(statuses.OWED),
               Statement.paid_pence == Statement.total_pence)
        .values(payment_status="paid", needs_action_reason=None)
        .execution_options(synchronize_session=False)
    )
    # Part paid (cash came in for part of it): what is left is owed as before.
    db.session.execute(
        update(Statement)
        .where(Statement.id == statement.id, Statement.payment_status == "charging")
        .values(payment_status="due")
        .execution_options(synchronize_session=False)
    )
    payment.credited_pence = credit
    db.session.refresh(statement)
    audit.record(
        "card.paid", actor=None, group_id=statement.round.group_id,
        household_id=statement.household_id, subject=statement,
        amount_pence=payment.amount_pence, credited_pence=credit,
        payment_intent=payment.payment_intent_id, attempt=payment.attempt,
    )
    excess = payment.amount_pence - credit
    if excess > 0:
        reason = "round_cancelled" if statement.payment_status == "cancelled" else "overpaid"
        log.warning("card payment %s took %dp more than was owed; refunding it",
                    payment.id, excess)
        queue_refund(payment, excess, reason=reason, now=now,
                     keep_pence=credit if reason == "overpaid" else 0)


def queue_refund(payment: CardPayment, amount_pence: int, *, reason: str, now: datetime,
                 actor=None, keep_pence: int = 0) -> CardRefund | None:
    """Queue a refund of up to `amount_pence` of a succeeded card payment.

    Capped by our own records: the payment's refunds never add up to more
    than it took less `keep_pence` (what it paid towards a statement that is
    still owed). One guarded UPDATE reserves the amount, so two requests at
    once cannot both reserve the same pence. Returns None when nothing is
    left to refund. The payment sweep sends it to Stripe.
    """
    if payment.status != "succeeded" or amount_pence <= 0:
        return None
    db.session.flush()  # keep changes made to it so far: refresh reloads the row
    db.session.refresh(payment)
    refundable = payment.amount_pence - keep_pence
    amount = min(amount_pence, refundable - payment.refunded_pence)
    if amount <= 0:
        return None
    result = db.session.execute(
        update(CardPayment)
        .where(CardPayment.id == payment.id,
               CardPayment.refunded_pence + amount <= refundable)
        .values(refunded_pence=CardPayment.refunded_pence + amount)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    number = 1 + (db.session.scalar(
        select(func.count(CardRefund.id)).where(CardRefund.card_payment_id == payment.id)
    ) or 0)
    refund = CardRefund(
        card_payment_id=payment.id, amount_pence=amount, reason=reason,
        # The random part: another database's payment ids repeat ours (see charge_key).
        idempotency_key=f"bulkbuy-refund-{payment.id}-{number}-{secrets.token_hex(6)}",
        status="pending",
        next_check_at=now, requested_by_id=getattr(actor, "id", None),
        created_at=now, updated_at=now,
    )
    db.session.add(refund)
    db.session.refresh(payment)
    audit.record(
        "card.refund_queued", actor=actor, group_id=payment.statement.round.group_id,
        household_id=payment.household_id, subject=payment, amount_pence=amount,
        reason=reason,
    )
    db.session.flush()
    return refund


def refund_still_owed(payment: CardPayment) -> int:
    """Pence of a succeeded card payment that should go back to the card and that no
    refund (asked or done) covers: all of it when the round was cancelled, else what was
    not credited to the statement (overpaid); less what refunds already hold. More than 0
    only after a refund failed (failures give their amount back)."""
    if payment.status != "succeeded":
        return 0
    return max(0, payment.amount_pence - _kept(payment) - payment.refunded_pence)


def _kept(payment: CardPayment) -> int:
    """Pence of a card payment that stay with the group: what it paid towards its
    statement, none when the round was cancelled."""
    return 0 if payment.statement.payment_status == "cancelled" else payment.credited_pence


def retry_failed_refund(payment: CardPayment, *, actor, now: datetime) -> CardRefund:
    """Ask Stripe again for money a failed refund should have given back (an organiser's
    decision, audited as a queued refund). Raises ServiceError when none is owed."""
    failed = db.session.scalar(select(func.count(CardRefund.id)).where(
        CardRefund.card_payment_id == payment.id, CardRefund.status == "failed"))
    owed = refund_still_owed(payment)
    if not failed or owed <= 0:
        raise ServiceError("No refund of this payment is waiting to be asked again.")
    # keep_pence makes the guarded UPDATE re-check against what is kept, so two
    # organisers pressing at once (both having read `owed`) ask for it once.
    refund = queue_refund(payment, owed, reason="asked_again", now=now, actor=actor,
                          keep_pence=_kept(payment))
    if refund is None:
        raise ServiceError("No refund of this payment is waiting to be asked again.")
    return refund


def refund_failed(refund: CardRefund, now: datetime) -> None:
    """Stripe refused a refund: give the reserved amount back so it can be asked again.

    Once only (a guarded UPDATE), however many failure events arrive at once.
    """
    moved = db.session.execute(
        update(CardRefund)
        .where(CardRefund.id == refund.id, CardRefund.status != "failed")
        .values(status="failed", updated_at=now, next_check_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(refund)
    if moved.rowcount != 1:
        return
    db.session.execute(
        update(CardPayment)
        .where(CardPayment.id == refund.card_payment_id)
        .values(refunded_pence=CardPayment.refunded_pence - refund.amount_pence)
        .execution_options(synchronize_session=False)
    )
    log.error("refund %s of %dp was refused by Stripe; an organiser must see to it "
              "(the round's payments page offers to ask again)",
              refund.idempotency_key, refund.amount_pence)


def cancel_closed_round(rnd, *, actor, now: datetime) -> int:
    """Cancel a round after it closed: nothing more is taken, card money goes back.

    One guarded UPDATE moves the round (closed or ordered) to cancelled, so
    this happens once. Its statements become *cancelled*; every card payment
    is refunded in full, capped by our records (refunds already asked are
    not asked again); a charge still in flight is refunded when its answer
    comes. Cash is handed back by hand and recorded on the payments page.
    Returns how many refunds were queued. Audited; households are told.
    """
    moved = db.session.execute(
        update(Round)
        .where(Round.id == rnd.id, Round.status.in_(statuses.CANCELLABLE_AFTER_CLOSE))
        .values(status="cancelled")
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        raise ServiceError("Only a closed or ordered round can be cancelled here.")
    db.session.execute(
        update(Statement)
        .where(Statement.round_id == rnd.id)
        .values(payment_status="cancelled", needs_action_reason=None)
        .execution_options(synchronize_session=False)
    )
    queued = 0
    for payment in db.session.scalars(
        select(CardPayment).where(CardPayment.round_id == rnd.id,
                                  CardPayment.status == "succeeded")
    ):
        if queue_refund(payment, payment.amount_pence, reason="round_cancelled", now=now,
                        actor=actor):
            queued += 1
    db.session.refresh(rnd)
    audit.record("round.cancelled_after_close", actor=actor, group_id=rnd.group_id,
                 subject=rnd, refunds=queued)
    notifications.queue_round_cancelled(rnd, now)
    return queued
