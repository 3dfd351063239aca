"""Card refunds: queueing them (capped by our records), cancelling a closed round, and
the refund sweep's steps.

A refund moves only as the refund table allows (`payment_states.REFUND`). The sweep's
steps never commit; the job layer (`bulkbuy.payment_sweep`) commits the claim before
Stripe is asked and the answer after, so a refund that may have reached Stripe is
always looked up by its key before it is asked again.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, or_, select, update

from bulkbuy.adapters import stripe_gateway as gateway
from bulkbuy.domain import statuses
from bulkbuy.domain.payment_states import REFUND, STATEMENT
from bulkbuy.domain.statuses import AttemptStatus, RefundStatus, StatementStatus
from bulkbuy.extensions import db
from bulkbuy.models import CardPayment, CardRefund, Round, Statement
from bulkbuy.services import (
    ServiceError,
    audit,
    credits,
    impact,
    notifications,
    solidarity,
    time_credits,
)
from bulkbuy.services.payments.attempts import RECHECK_AFTER, lease_end

log = logging.getLogger(__name__)


def queue_refund(payment: CardPayment, amount_pence: int, *, reason: str, now: datetime,
                 actor=None, keep_pence: int = 0) -> CardRefund | None:
    """Queue a refund of up to `amount_pence` of a succeeded card payment.

    Capped by our own records: the payment's refunds never add up to more
    than it took less `keep_pence` (what it paid towards a statement that is
    still owed). One guarded UPDATE reserves the amount, so two requests at
    once cannot both reserve the same pence. Returns None when nothing is
    left to refund. The payment sweep sends it to Stripe.
    """
    if payment.status != AttemptStatus.SUCCEEDED or amount_pence <= 0:
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
        idempotency_key=_refund_key(payment.id, number),
        status=REFUND.start(RefundStatus.PENDING),
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


def insert_refunds(wanted: list[tuple[int, int, int]], *, reason: str, group_id: int,
                   now: datetime) -> int:
    """Queue many refunds at once: `wanted` holds (card payment id, household id, pence),
    amounts the caller has already reserved on the payments (`refunded_pence`) with its
    own guarded UPDATE. One bulk INSERT of refunds (each with its own key, as
    `queue_refund` makes them) and one of audit entries; the payment sweep sends them.
    Returns how many were queued."""
    wanted = [w for w in wanted if w[2] > 0]
    if not wanted:
        return 0
    numbers = dict(db.session.execute(
        select(CardRefund.card_payment_id, func.count(CardRefund.id))
        .where(CardRefund.card_payment_id.in_({payment_id for payment_id, _h, _a in wanted}))
        .group_by(CardRefund.card_payment_id)).all())
    rows, audits = [], []
    for payment_id, household_id, amount in wanted:
        numbers[payment_id] = numbers.get(payment_id, 0) + 1
        rows.append({
            "card_payment_id": payment_id, "amount_pence": amount, "reason": reason,
            "idempotency_key": _refund_key(payment_id, numbers[payment_id]),
            "status": REFUND.start(RefundStatus.PENDING), "next_check_at": now,
            "requested_by_id": None, "created_at": now, "updated_at": now})
        audits.append({"action": "card.refund_queued", "household_id": household_id,
                       "card_payment_id": payment_id, "amount_pence": amount,
                       "reason": reason})
    db.session.execute(insert(CardRefund.__table__), rows)
    audit.record_many(audits, group_id=group_id)
    return len(rows)


def _refund_key(payment_id: int, number: int) -> str:
    """A refund's idempotency key. The random part: another database's payment ids repeat
    ours (see attempts.charge_key)."""
    return f"bulkbuy-refund-{payment_id}-{number}-{secrets.token_hex(6)}"


def refund_still_owed(payment: CardPayment) -> int:
    """Pence of a succeeded card payment that should go back to the card and that no
    refund (asked or done) covers: all of it when the round was cancelled, else what was
    not credited to the statement (overpaid); less what refunds already hold. More than 0
    only after a refund failed (failures give their amount back)."""
    if payment.status != AttemptStatus.SUCCEEDED:
        return 0
    return max(0, payment.amount_pence - _kept(payment) - payment.refunded_pence)


def _kept(payment: CardPayment) -> int:
    """Pence of a card payment that stay with the group: what it paid towards its
    statement, none when the round was cancelled; and any gift to the solidarity pot the
    pot keeps (solidarity.card_gift_kept_pence)."""
    gift = solidarity.card_gift_kept_pence(payment.id)
    if payment.statement.payment_status == StatementStatus.CANCELLED:
        return gift
    return payment.credited_pence + gift


def retry_failed_refund(payment: CardPayment, *, actor, now: datetime) -> CardRefund:
    """Ask Stripe again for money a failed refund should have given back (an organiser's
    decision, audited as a queued refund). Raises ServiceError when none is owed."""
    failed = db.session.scalar(select(func.count(CardRefund.id)).where(
        CardRefund.card_payment_id == payment.id, CardRefund.status == RefundStatus.FAILED))
    owed = refund_still_owed(payment)
    if not failed or owed <= 0:
        raise ServiceError(_l("No refund of this payment is waiting to be asked again."))
    # keep_pence makes the guarded UPDATE re-check against what is kept, so two
    # organisers pressing at once (both having read `owed`) ask for it once.
    refund = queue_refund(payment, owed, reason="asked_again", now=now, actor=actor,
                          keep_pence=_kept(payment))
    if refund is None:
        raise ServiceError(_l("No refund of this payment is waiting to be asked again."))
    return refund


def refund_failed(refund: CardRefund, now: datetime) -> None:
    """Stripe refused a refund: give the reserved amount back so it can be asked again.

    Once only (a guarded UPDATE), however many failure events arrive at once.
    """
    moved = db.session.execute(
        update(CardRefund)
        .where(CardRefund.id == refund.id, CardRefund.status.in_(REFUND.sources("refused")))
        .values(status=REFUND.target("refused"), updated_at=now, next_check_at=None)
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


def cancel_closed_round(rnd: Round, *, actor, now: datetime) -> int:
    """Cancel a round after it closed: nothing more is taken, card money goes back.

    One guarded UPDATE moves the round (closed or ordered) to cancelled, so
    this happens once. Its statements become *cancelled*; every card payment
    is refunded in full, capped by our records (refunds already asked are
    not asked again); a charge still in flight is refunded when its answer
    comes. Cash is handed back by hand and recorded on the payments page.
    Money kept for a household from an earlier round and used on these
    statements goes back to be kept for its next round (credits.give_back_used), and
    what the solidarity pot paid goes back to the pot (solidarity.give_back_help), and
    time credits used go back to their households (time_credits.give_back_used).
    Returns how many refunds were queued. Audited; households are told.
    """
    moved = db.session.execute(
        update(Round)
        .where(Round.id == rnd.id, Round.status.in_(statuses.CANCELLABLE_AFTER_CLOSE))
        .values(status=statuses.RoundStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        raise ServiceError(_l("Only a closed or ordered round can be cancelled here."))
    db.session.execute(
        update(Statement)
        .where(Statement.round_id == rnd.id,
               Statement.payment_status.in_(STATEMENT.sources("round_cancelled")))
        .values(payment_status=STATEMENT.target("round_cancelled"), needs_action_reason=None)
        .execution_options(synchronize_session=False)
    )
    credits.give_back_used(rnd, now)
    solidarity.give_back_help(rnd, now)
    # Gifts to the pot go back with their charges, unless the pot has spent them.
    gifts_kept = solidarity.give_back_card_gifts(rnd, now, actor=actor)
    time_credits.give_back_used(rnd, now)
    db.session.refresh(rnd)
    impact.record(rnd, now)  # the impact report: the round no longer counts as run
    queued = 0
    for payment in db.session.scalars(
        select(CardPayment).where(CardPayment.round_id == rnd.id,
                                  CardPayment.status == AttemptStatus.SUCCEEDED)
    ):
        if queue_refund(payment, payment.amount_pence, reason="round_cancelled", now=now,
                        actor=actor, keep_pence=gifts_kept.get(payment.id, 0)):
            queued += 1
    db.session.refresh(rnd)
    audit.record("round.cancelled_after_close", actor=actor, group_id=rnd.group_id,
                 subject=rnd, refunds=queued)
    notifications.queue_round_cancelled(rnd, now)
    return queued


# --- the refund sweep's steps ---------------------------------------------------------------


def due_refund_ids(now: datetime, limit: int) -> list[int]:
    """Refunds with no answer recorded whose lease (if any) has ended, oldest first."""
    return list(db.session.scalars(
        select(CardRefund.id)
        .where(CardRefund.status.in_(statuses.UNANSWERED_REFUNDS),
               or_(CardRefund.next_check_at.is_(None), CardRefund.next_check_at <= now))
        .order_by(CardRefund.id).limit(limit)
    ))


@dataclass(frozen=True)
class RefundRequest:
    """One refund to ask Stripe for, as plain values; `maybe_asked`: it may already have
    reached Stripe, so it is looked up by its key first."""

    refund_id: int
    payment_intent_id: str
    amount_pence: int
    idempotency_key: str
    maybe_asked: bool


def claim_refund(refund_id: int, now: datetime) -> RefundRequest | None:
    """Take a due refund for this sweep for a lease (the caller commits before asking).

    Returns None when it is not this sweep's (another holds it, or it is
    answered). The claim itself marks it "unknown" before Stripe is asked, so a
    sweep that dies with the request sent leaves it so, and the next looks it up.
    """
    due = or_(CardRefund.next_check_at.is_(None), CardRefund.next_check_at <= now)
    for was in REFUND.sources("claimed"):
        claimed = db.session.execute(
            update(CardRefund)
            .where(CardRefund.id == refund_id, CardRefund.status == was, due)
            .values(status=REFUND.move(was, "claimed"), next_check_at=lease_end(now))
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:
            refund = db.session.get(CardRefund, refund_id)
            db.session.refresh(refund)
            return RefundRequest(refund_id, refund.payment.payment_intent_id,
                                 refund.amount_pence, refund.idempotency_key,
                                 maybe_asked=was != RefundStatus.PENDING)
    return None


def ask_stripe(config, request: RefundRequest, wait) -> gateway.RefundInfo:
    """Stripe's refund for `request`: found by its key when it may have been asked, else
    asked now with that key. Touches no database. `wait()` paces each call after the
    first. Raises GatewayError."""
    if request.maybe_asked:
        info = gateway.find_refund(config, request.payment_intent_id, request.idempotency_key)
        if info is not None:
            return info
        wait()
    return gateway.refund(config, request.payment_intent_id, request.amount_pence,
                          request.idempotency_key)


def record_refund_error(refund_id: int, error: gateway.GatewayError, now: datetime) -> None:
    """Stripe's answer was lost (look it up again later) or a refusal (frees its pence)."""
    refund = db.session.get(CardRefund, refund_id)
    if error.outcome_unknown:
        refund.next_check_at = now + RECHECK_AFTER
    else:
        refund_failed(refund, now)


def apply_refund_status(refund: CardRefund, stripe_status: str | None, refund_id: str,
                        now: datetime) -> str:
    """Record Stripe's answer for a refund (from the sweep or a webhook)."""
    if refund.refund_id is None and refund_id:
        refund.refund_id = refund_id
        db.session.flush()  # before any refresh below reloads the row
    if refund.status == RefundStatus.FAILED:
        return "no change"  # final at Stripe: an older event arriving late changes nothing
    if stripe_status in ("failed", "canceled"):
        refund_failed(refund, now)
        return "failed"
    # "pending" at Stripe means accepted and on its way to the card. Guarded, so a
    # failure recorded at the same moment is never overwritten.
    moved = db.session.execute(
        update(CardRefund)
        .where(CardRefund.id == refund.id,
               CardRefund.status.in_(REFUND.sources("accepted")))
        .values(status=REFUND.target("accepted"), next_check_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(refund)
    return "refunded" if moved.rowcount == 1 else "no change"


def record_refund_answer(refund_id: int, info: gateway.RefundInfo, now: datetime) -> str:
    """Record the sweep's answer for a refund it asked for (see apply_refund_status)."""
    return apply_refund_status(db.session.get(CardRefund, refund_id), info.status, info.id, now)
