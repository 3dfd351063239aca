"""Card attempts: writing one, and what an answer about one does to our records.

The charge sweep's answer, a look-up at Stripe, a webhook and our payment page
all report a PaymentIntent's status through `settle_attempt`, so whichever
arrives first, twice, or out of order, a statement is credited once:
- an attempt moves only as the attempt table allows
  (`bulkbuy.domain.payment_states.ATTEMPT`: no answer, then a definite answer,
  then succeeded; succeeded is final), by one guarded UPDATE;
- money is credited to a statement by one guarded UPDATE, never past its
  total; whatever a card took beyond what was owed (cash came in meanwhile,
  or the round was cancelled) is queued as a refund at once.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from bulkbuy.domain.payment_states import ATTEMPT, ATTEMPT_EVENT_FOR, STATEMENT
from bulkbuy.domain.statuses import AttemptStatus, StatementStatus
from bulkbuy.extensions import db
from bulkbuy.models import CardPayment, Statement, utcnow
from bulkbuy.services import audit, notifications, solidarity

log = logging.getLogger(__name__)

#: An attempt is not looked up or retried by another sweep for this long (a lease
#: longer than any one Stripe request may take).
LEASE = timedelta(seconds=120)
#: How long before an attempt whose answer was lost is looked up again (grows per check).
RECHECK_AFTER = timedelta(seconds=60)

#: Stripe PaymentIntent statuses, as the attempt status they mean for us.
_FROM_STRIPE = {
    "succeeded": AttemptStatus.SUCCEEDED,
    "requires_action": AttemptStatus.REQUIRES_ACTION,
    "requires_payment_method": AttemptStatus.DECLINED,
    "canceled": AttemptStatus.CANCELED,
}


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
    return _FROM_STRIPE.get(stripe_status, AttemptStatus.UNKNOWN)


def charge_key(round_id: int, household_id: int, attempt: int, nonce: str | None = None) -> str:
    """The idempotency key of one charge attempt: fixed per (round, household, attempt)
    once recorded. `nonce` (random by default) keeps it unique to this database:
    ids repeat in another database (a reset demo, a restored copy, a test) sharing the
    Stripe account, and Stripe would answer a repeated key with the old charge."""
    nonce = secrets.token_hex(6) if nonce is None else nonce
    return f"bulkbuy-charge-r{round_id}-h{household_id}-a{attempt}-{nonce}"


def lease_end(now: datetime) -> datetime:
    """When a lease taken now ends: from the real clock, as a sweep may have started
    long before this attempt (and `now` is when it started)."""
    return max(now, utcnow()) + LEASE


def record_attempt(statement: Statement, kind: str, now: datetime, *,
                   gift_pence: int = 0) -> CardPayment:
    """Write the statement's next attempt (number, key, what is owed now and any gift to
    the solidarity pot on top), leased to the caller; flushed, not committed. The caller
    has claimed the statement (charging)."""
    attempt = 1 + (db.session.scalar(
        select(func.max(CardPayment.attempt)).where(CardPayment.statement_id == statement.id)
    ) or 0)
    payment = CardPayment(
        statement_id=statement.id, round_id=statement.round_id,
        household_id=statement.household_id, attempt=attempt, kind=kind,
        idempotency_key=charge_key(statement.round_id, statement.household_id, attempt),
        amount_pence=statement.total_pence - statement.paid_pence + gift_pence,
        status=ATTEMPT.start(AttemptStatus.PENDING), next_check_at=lease_end(now),
        created_at=now, updated_at=now,
    )
    db.session.add(payment)
    db.session.flush()
    return payment


def claim_statement(statement_id: int, event: str, *guards) -> bool:
    """Move a statement by `event` ("sweep_charges" or "resident_pays_by_card") in one
    guarded UPDATE, also requiring `guards`; whether this call made the move."""
    claimed = db.session.execute(
        update(Statement)
        .where(Statement.id == statement_id,
               Statement.payment_status.in_(STATEMENT.sources(event)), *guards)
        .values(payment_status=STATEMENT.target(event))
        .execution_options(synchronize_session=False)
    )
    return claimed.rowcount == 1


def undo_attempt(payment_id: int, now: datetime, *, statement_event: str = "charge_undone",
                 reason: str | None = None) -> None:
    """An attempt Stripe never acted on: cancel it, and the statement being charged is
    owed again ("charge_undone": due, the sweep charges it; "needs_resident" with
    `reason`: the resident pays on our page)."""
    payment = db.session.get(CardPayment, payment_id)
    cancelled = db.session.execute(
        update(CardPayment)
        .where(CardPayment.id == payment_id,
               CardPayment.status.in_(ATTEMPT.sources("undone")))
        .values(status=ATTEMPT.target("undone"), next_check_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if cancelled.rowcount != 1:
        return  # an answer settled it meanwhile (a webhook): that answer stands
    charging = StatementStatus.CHARGING
    db.session.execute(
        update(Statement)
        .where(Statement.id == payment.statement_id, Statement.payment_status == charging)
        .values(payment_status=STATEMENT.move(charging, statement_event),
                needs_action_reason=reason)
        .execution_options(synchronize_session=False)
    )


def settle_attempt(
    payment: CardPayment, status: str, *, now: datetime,
    payment_intent_id: str | None = None, error_code: str | None = None,
    answered_5xx: bool = False,
) -> str:
    """Apply what Stripe says of one attempt; returns a short word for logs and events.

    `status` is one of our attempt statuses; the move is the attempt table's for it,
    made by one guarded UPDATE from the table's sources, so when the charge's own
    answer and a webhook arrive at once (two processes), exactly one of them applies
    it: an attempt never moves back, money is credited once, and the statement is
    flagged *needs action* when the card needs the resident. `answered_5xx` (with
    "unknown"): Stripe answered with HTTP 5xx, which it replays for this key.
    """
    if payment_intent_id and payment.payment_intent_id is None:
        db.session.execute(
            update(CardPayment)
            .where(CardPayment.id == payment.id, CardPayment.payment_intent_id.is_(None))
            .values(payment_intent_id=payment_intent_id)
            .execution_options(synchronize_session=False)
        )
    event = ATTEMPT_EVENT_FOR[AttemptStatus(status)]
    target = ATTEMPT.target(event)
    values: dict = {"status": target, "updated_at": now}
    if target == AttemptStatus.UNKNOWN:
        # From the real clock too: a long sweep's `now` is when it started.
        values["next_check_at"] = (max(now, utcnow())
                                   + RECHECK_AFTER * (1 + min(payment.checks or 0, 10)))
        if answered_5xx:
            values.update(answered_5xx=True, empty_lookups=0)
    else:
        values["next_check_at"] = None
    if target != AttemptStatus.SUCCEEDED and error_code:
        values["error_code"] = error_code[:60]
    moved = db.session.execute(
        update(CardPayment)
        .where(CardPayment.id == payment.id, CardPayment.status.in_(ATTEMPT.sources(event)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(payment)
    if moved.rowcount != 1:
        return "no change"
    if target == AttemptStatus.SUCCEEDED:
        _credit(payment, now)
        return "paid"
    if target == AttemptStatus.UNKNOWN:
        return "unknown"
    if _is_latest_attempt(payment):
        reason = "authentication" if target == AttemptStatus.REQUIRES_ACTION else "declined"
        mark_needs_action(payment.statement, reason, now)
    return str(target)


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
        .where(Statement.id == statement.id,
               Statement.payment_status.in_(STATEMENT.sources("needs_resident")))
        .values(payment_status=STATEMENT.target("needs_resident"), needs_action_reason=reason)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    db.session.refresh(statement)
    notifications.queue_payment_needs_action(statement, reason, now)
    return True


def _credit(payment: CardPayment, now: datetime) -> None:
    from bulkbuy.services.payments.refunds import queue_refund  # refunds build on attempts

    statement = payment.statement
    db.session.refresh(statement)
    room = statement.total_pence - statement.paid_pence
    owed = STATEMENT.sources("card_pays_rest")
    credit = min(payment.amount_pence, room) if statement.payment_status in owed else 0
    if credit > 0:
        result = db.session.execute(
            update(Statement)
            .where(Statement.id == statement.id,
                   Statement.payment_status.in_(owed),
                   Statement.paid_pence + credit <= Statement.total_pence)
            .values(paid_pence=Statement.paid_pence + credit)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            credit = 0
    db.session.execute(
        update(Statement)
        .where(Statement.id == statement.id, Statement.payment_status.in_(owed),
               Statement.paid_pence == Statement.total_pence)
        .values(payment_status=STATEMENT.target("card_pays_rest"), needs_action_reason=None)
        .execution_options(synchronize_session=False)
    )
    # Part paid (cash came in for part of it): what is left is owed as before.
    db.session.execute(
        update(Statement)
        .where(Statement.id == statement.id,
               Statement.payment_status.in_(STATEMENT.sources("card_pays_part")))
        .values(payment_status=STATEMENT.target("card_pays_part"))
        .execution_options(synchronize_session=False)
    )
    payment.credited_pence = credit
    db.session.refresh(statement)
    # Beyond the bill: the household's gift to the solidarity pot (when this charge paid
    # the rest), received once per charge; any more is refunded below.
    gift = 0
    if credit > 0 and statement.payment_status == StatementStatus.PAID:
        outstanding = statement.gift_pence - solidarity.gift_received_pence(statement.id)
        gift = solidarity.receive_card_gift(
            statement, payment.id, min(payment.amount_pence - credit, outstanding), now)
    if statement.payment_status == StatementStatus.PAID and statement.gift_pence > 0:
        # Paid by a charge without the gift (the resident's own, on our page): a gift
        # not taken is not to come.
        solidarity.drop_unpaid_card_gift(statement)
    audit.record(
        "card.paid", actor=None, group_id=statement.round.group_id,
        household_id=statement.household_id, subject=statement,
        amount_pence=payment.amount_pence, credited_pence=credit,
        payment_intent=payment.payment_intent_id, attempt=payment.attempt,
    )
    excess = payment.amount_pence - credit - gift
    if excess > 0:
        reason = ("round_cancelled" if statement.payment_status == StatementStatus.CANCELLED
                  else "overpaid")
        log.warning("card payment %s took %dp more than was owed; refunding it",
                    payment.id, excess)
        queue_refund(payment, excess, reason=reason, now=now,
                     keep_pence=credit + gift if reason == "overpaid" else 0)
