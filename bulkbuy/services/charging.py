"""The payment sweep: charge saved cards for closed rounds, look up lost answers, refund.

Each step commits before it asks Stripe anything and again after, so a crash
at any point leaves a record that the next sweep finds:
- a statement is claimed by one guarded UPDATE (due -> charging), so two
  schedulers never charge it both;
- the attempt, with its idempotency key and metadata, is written before the
  call; an attempt whose answer was lost is looked up at Stripe (by
  metadata; real Stripe would also replay the key) before it is retried with
  the same key, and its number rises only after a definite answer;
- failed and cancelled rounds are never charged (only statements of closed,
  ordered or delivered rounds are picked).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update

from bulkbuy.adapters import stripe_gateway as gateway
from bulkbuy.domain import statuses
from bulkbuy.domain.statuses import RefundStatus
from bulkbuy.extensions import db
from bulkbuy.models import (
    CardConsent,
    CardPayment,
    CardRefund,
    Round,
    SavedCard,
    Statement,
    utcnow,
)
from bulkbuy.services import ServiceError, card_payments

log = logging.getLogger(__name__)

#: An attempt is not looked up or retried by another sweep for this long (a lease
#: longer than any one Stripe request may take).
LEASE = timedelta(seconds=120)
BATCH = 200


class Throttle:
    """Spaces calls to at most `per_second`, and slows down after HTTP 429.

    `wait()` before each call; `rate_limited()` after a 429 halves the rate
    (down to one call a second) and pauses; `succeeded()` lets it recover.
    `clock` and `sleep` are injectable for tests. Records call times in
    `calls` so a benchmark can report the peak rate.
    """

    def __init__(self, per_second: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if per_second <= 0:
            raise ValueError("per_second must be more than 0")
        self.limit = float(per_second)
        self.rate = float(per_second)
        self._clock = clock
        self._sleep = sleep
        self._next = clock()
        self.calls: list[float] = []

    def wait(self) -> None:
        now = self._clock()
        if now < self._next:
            self._sleep(self._next - now)
            now = self._clock()
        # A hair over 1/rate, so float rounding never lets N+1 calls into one second.
        self._next = max(now, self._next) + 1.0 / self.rate + 1e-9
        self.calls.append(now)

    def rate_limited(self) -> None:
        # Halve, but not below one a second (unless already slower: never speed up).
        self.rate = max(self.rate / 2, min(1.0, self.rate))
        self._next = max(self._next, self._clock() + 1.0)
        log.warning("stripe: rate limited (HTTP 429); slowing to %.1f requests/s", self.rate)

    def succeeded(self) -> None:
        self.rate = min(self.limit, self.rate * 1.25)

    def peak_per_second(self) -> int:
        """The most calls started within any one-second window."""
        best, start = 0, 0
        for end, at in enumerate(self.calls):
            while at - self.calls[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best


@dataclass
class PaymentSweep:
    charged: int = 0
    needs_action: int = 0
    unknown: int = 0
    looked_up: int = 0
    refunded: int = 0
    errors: list[str] = field(default_factory=list)


def charge_key(round_id: int, household_id: int, attempt: int, nonce: str | None = None) -> str:
    """The idempotency key of one charge attempt: fixed per (round, household, attempt)
    once recorded. `nonce` (random by default) keeps it unique to this database:
    ids repeat in another database (a reset demo, a restored copy, a test) sharing the
    Stripe account, and Stripe would answer a repeated key with the old charge."""
    nonce = secrets.token_hex(6) if nonce is None else nonce
    return f"bulkbuy-charge-r{round_id}-h{household_id}-a{attempt}-{nonce}"


def sweep_payments(now: datetime, *, config, commit: Callable[[], None],
                   throttle: Throttle | None = None, batch: int = BATCH) -> PaymentSweep:
    """One pass: look up lost answers, charge due card statements, send queued refunds."""
    result = PaymentSweep()
    if not gateway.is_configured(config):
        return result
    throttle = throttle or Throttle(float(config.get("STRIPE_REQUESTS_PER_SECOND", 10)))
    recover_lost_attempts(now, config=config, commit=commit, throttle=throttle, result=result,
                          batch=batch)
    charge_due_statements(now, config=config, commit=commit, throttle=throttle, result=result,
                          batch=batch)
    send_refunds(now, config=config, commit=commit, throttle=throttle, result=result,
                 batch=batch)
    return result


# --- charging -----------------------------------------------------------------------------


def due_card_statement_ids(limit: int) -> list[int]:
    """Statements owed (at least Stripe's minimum) by households with a saved card that
    agreed to pay this round by card. Others pay on our page or in cash."""
    return list(db.session.scalars(
        select(Statement.id)
        .join(Round, Statement.round_id == Round.id)
        .join(SavedCard, SavedCard.household_id == Statement.household_id)
        .join(CardConsent, (CardConsent.round_id == Statement.round_id)
              & (CardConsent.household_id == Statement.household_id))
        .where(
            Statement.payment_status == "due",
            Statement.total_pence - Statement.paid_pence >= gateway.MINIMUM_CHARGE_PENCE,
            Round.status.in_(statuses.CHARGEABLE_ROUNDS),
            SavedCard.status == "saved",
        )
        .order_by(Statement.id)
        .limit(limit)
    ))


def sweep_will_charge(statement: Statement) -> bool:
    """Whether the payment sweep will take this due statement from the saved card."""
    most = db.session.scalar(select(CardConsent.max_pence).where(
        CardConsent.round_id == statement.round_id,
        CardConsent.household_id == statement.household_id))
    return would_charge(statement, _card_of(statement.household_id), most)


def would_charge(statement: Statement, card: SavedCard | None, consent_max: int | None
                 ) -> bool:
    """The sweep's rule, given the household's card and the most it agreed to for this
    round: due, a card saved, agreed, within that maximum and at least Stripe's minimum."""
    owed = statement.total_pence - statement.paid_pence
    return (statement.payment_status == "due" and card is not None and card.is_ready
            and consent_max is not None and gateway.MINIMUM_CHARGE_PENCE <= owed <= consent_max
            and statement.round.status in statuses.CHARGEABLE_ROUNDS)


def start_attempt(statement_id: int, now: datetime) -> CardPayment | None:
    """Claim a due statement and record the next off-session attempt (caller commits).

    Returns None when another sweep claimed it first, when it is above what
    the household agreed to (it becomes *needs action*), or when it is no
    longer chargeable.
    """
    claimed = db.session.execute(
        update(Statement)
        .where(
            Statement.id == statement_id, Statement.payment_status == "due",
            # Re-checked here: cash may have come in since the statement was listed.
            Statement.total_pence - Statement.paid_pence >= gateway.MINIMUM_CHARGE_PENCE,
            Statement.round_id.in_(
                select(Round.id).where(Round.status.in_(statuses.CHARGEABLE_ROUNDS))),
        )
        .values(payment_status="charging")
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return None
    statement = db.session.get(Statement, statement_id)
    db.session.refresh(statement)
    amount = statement.total_pence - statement.paid_pence
    consented = db.session.scalar(
        select(CardConsent.max_pence).where(
            CardConsent.round_id == statement.round_id,
            CardConsent.household_id == statement.household_id)
    )
    if consented is None or amount > consented:
        card_payments.mark_needs_action(statement, "over_consent", now)
        return None
    attempt = 1 + (db.session.scalar(
        select(func.max(CardPayment.attempt)).where(CardPayment.statement_id == statement_id)
    ) or 0)
    payment = CardPayment(
        statement_id=statement.id, round_id=statement.round_id,
        household_id=statement.household_id, attempt=attempt, kind="off_session",
        idempotency_key=charge_key(statement.round_id, statement.household_id, attempt),
        amount_pence=amount, status="pending", next_check_at=_lease_end(now),
        created_at=now, updated_at=now,
    )
    db.session.add(payment)
    db.session.flush()
    return payment


def _lease_end(now: datetime) -> datetime:
    """When a lease taken now ends: from the real clock, as a sweep may have started
    long before this attempt (and `now` is when it started)."""
    return max(now, utcnow()) + LEASE


def _card_of(household_id: int) -> SavedCard | None:
    return db.session.scalar(select(SavedCard).where(SavedCard.household_id == household_id))


@dataclass(frozen=True)
class _ChargeRequest:
    """Everything one off-session charge sends, as plain values: a worker thread makes
    the call with no database session."""

    customer_id: str
    payment_method_id: str
    amount_pence: int
    idempotency_key: str
    metadata: dict[str, str]


def _charge_request(payment: CardPayment) -> _ChargeRequest | None:
    """The request for `payment`, or None when the household's card cannot be used."""
    card = _card_of(payment.household_id)
    if card is None or not card.is_ready:
        return None
    return _ChargeRequest(card.customer_id, card.payment_method_id, payment.amount_pence,
                          payment.idempotency_key, payment.metadata_for_stripe)


def _send_charge(config, request: _ChargeRequest) -> gateway.ChargeOutcome:
    """Stripe's answer to one charge (may run in a worker thread: touches no database).
    Raises StripeRefusedUs when Stripe refuses our own key."""
    try:
        return gateway.charge_off_session(
            config, customer_id=request.customer_id,
            payment_method_id=request.payment_method_id, amount_pence=request.amount_pence,
            idempotency_key=request.idempotency_key, metadata=request.metadata,
        )
    except gateway.GatewayError as exc:
        if exc.http_status in (401, 403):
            raise StripeRefusedUs(str(exc)) from None
        # Stripe refused the request itself (the saved card or customer is unusable):
        # nothing was charged, and the resident must pay another way.
        return gateway.ChargeOutcome("declined", None, exc.code or "refused", str(exc))


_NO_CARD = gateway.ChargeOutcome("declined", None, "no_card", "No saved card")


def _heed(outcome: gateway.ChargeOutcome, throttle: Throttle) -> gateway.ChargeOutcome:
    """Let the throttle learn from an answer (slow down after a 429)."""
    if outcome.rate_limited:
        throttle.rate_limited()
    elif outcome.kind != "unknown":
        throttle.succeeded()
    return outcome


def _ask_stripe(payment: CardPayment, *, config, throttle: Throttle
                ) -> gateway.ChargeOutcome:
    request = _charge_request(payment)
    if request is None:
        return _NO_CARD
    throttle.wait()
    return _heed(_send_charge(config, request), throttle)


class StripeRefusedUs(Exception):
    """Stripe refused our own key (HTTP 401/403): nothing was charged, and nothing will
    be until the settings are fixed. Not the resident's doing."""


def _undo_attempt(payment_id: int, now: datetime, *, owed_as: str = "due",
                  reason: str | None = None) -> None:
    """An attempt Stripe never acted on: cancel it, and the statement being charged is
    owed again as `owed_as` ("due": the sweep charges it; "needs_action" with `reason`:
    the resident pays on our page)."""
    payment = db.session.get(CardPayment, payment_id)
    cancelled = db.session.execute(
        update(CardPayment)
        .where(CardPayment.id == payment_id,
               CardPayment.status.in_(statuses.UNANSWERED_ATTEMPTS))
        .values(status="canceled", next_check_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if cancelled.rowcount != 1:
        return  # an answer settled it meanwhile (a webhook): that answer stands
    db.session.execute(
        update(Statement)
        .where(Statement.id == payment.statement_id, Statement.payment_status == "charging")
        .values(payment_status=owed_as, needs_action_reason=reason)
        .execution_options(synchronize_session=False)
    )


#: Marks an attempt Stripe answered with HTTP 5xx (see recover_lost_attempts),
STRIPE_5XX = "stripe_http_5xx"
#: and one such attempt that one look-up since then did not find.
STRIPE_5XX_LOOKED_ONCE = "stripe_http_5xx_looked_once"


def _apply(payment_id: int, outcome: gateway.ChargeOutcome, now: datetime,
           result: PaymentSweep) -> None:
    payment = db.session.get(CardPayment, payment_id)
    error_code = outcome.error_code
    if outcome.kind == "unknown" and (outcome.http_status or 0) >= 500:
        error_code = STRIPE_5XX
    word = card_payments.settle_attempt(
        payment, outcome.kind, now=now, payment_intent_id=outcome.payment_intent_id,
        error_code=error_code,
    )
    if word == "paid":
        result.charged += 1
    elif word in ("requires_action", "declined"):
        result.needs_action += 1
    elif word == "unknown":
        result.unknown += 1
        result.errors.append(outcome.message or "unknown")


def charge_due_statements(now: datetime, *, config, commit: Callable[[], None],
                          throttle: Throttle, result: PaymentSweep, batch: int = BATCH) -> None:
    """Charge every due card statement once (up to `batch`).

    Each attempt is committed before its request is sent, and its answer committed when
    it comes. Up to STRIPE_CONCURRENT_CHARGES requests are in flight at once (a worker
    thread each: Stripe takes a few hundred milliseconds a charge, and the throttle, not
    the wait, should set the pace); this thread alone uses the database and the throttle.
    """
    concurrency = max(1, int(config.get("STRIPE_CONCURRENT_CHARGES", 4)))
    in_flight: deque[tuple[int, int, Future]] = deque()
    refused: list[str] = []
    with ThreadPoolExecutor(max_workers=concurrency,
                            thread_name_prefix="stripe-charge") as pool:
        for statement_id in due_card_statement_ids(batch):
            try:
                # A free slot before the claim: the attempt's lease runs from its claim,
                # and a slot can take a whole request's timeout to come free.
                while len(in_flight) >= concurrency:
                    _finish_charge(*in_flight.popleft(), now=now, commit=commit,
                                   throttle=throttle, result=result, refused=refused)
                if refused:
                    break
                payment = start_attempt(statement_id, now)
                commit()
                if payment is None:
                    continue
                payment_id = payment.id
                request = _charge_request(payment)
                if request is None:
                    _apply(payment_id, _NO_CARD, now, result)
                    commit()
                    continue
                throttle.wait()
                in_flight.append((statement_id, payment_id,
                                  pool.submit(_send_charge, config, request)))
            except Exception:  # one bad statement never stops the others
                db.session.rollback()
                log.exception("payment sweep: statement_id %s failed; the next sweep "
                              "tries again", statement_id)
        while in_flight:
            _finish_charge(*in_flight.popleft(), now=now, commit=commit, throttle=throttle,
                           result=result, refused=refused)
    if refused:
        log.error("stripe refused our key; no card is charged until it is fixed: %s",
                  refused[0])
        result.errors.append(refused[0])


def _finish_charge(statement_id: int, payment_id: int, future: Future, *, now: datetime,
                   commit: Callable[[], None], throttle: Throttle, result: PaymentSweep,
                   refused: list[str]) -> None:
    """Wait for one charge's answer and record it (or undo the attempt: key refused)."""
    try:
        try:
            outcome = _heed(future.result(), throttle)
        except StripeRefusedUs as exc:
            refused.append(str(exc))
            _undo_attempt(payment_id, now)
            commit()
            return
        _apply(payment_id, outcome, now, result)
        commit()
    except Exception:  # one bad statement never stops the others
        db.session.rollback()
        log.exception("payment sweep: statement_id %s failed; the next sweep "
                      "tries again", statement_id)


# --- answers that were lost ---------------------------------------------------------------

#: How far before an attempt's start a look-up reaches back (our clock against Stripe's).
CLOCK_MARGIN = timedelta(minutes=10)


def _look_up(payment: CardPayment, config, throttle: Throttle
             ) -> gateway.PaymentIntentInfo | None:
    """Stripe's PaymentIntent for an attempt whose answer was lost, or None if Stripe made
    none: by its id when an answer told us one, else by its metadata among everything
    made since it started. Raises GatewayError."""
    if payment.payment_intent_id:
        return gateway.retrieve_payment_intent(config, payment.payment_intent_id)
    # Within the lease: the look-up's last page and the retry after it may each take a
    # whole request timeout.
    timeout = gateway.request_timeout(config)
    return gateway.find_payment_intent(
        config, idempotency_metadata=payment.metadata_for_stripe,
        since=payment.created_at - CLOCK_MARGIN, pace=throttle.wait,
        seconds=max(5.0, LEASE.total_seconds() - 2 * timeout - 10))


def recover_lost_attempts(now: datetime, *, config, commit: Callable[[], None],
                          throttle: Throttle, result: PaymentSweep, batch: int = BATCH) -> None:
    """Settle attempts whose answer never came (timeout, 5xx, crash before our commit).

    Each is looked up at Stripe first (`_look_up`). Found: its status is
    applied. Not found: Stripe never took it, so it is retried with the same
    idempotency key and amount, unless the statement stopped being owed, or
    Stripe answered it 5xx (that key replays the 5xx): then, after a second
    empty look-up, the statement is owed again for a new attempt.
    """
    ids = db.session.scalars(
        select(CardPayment.id)
        .where(CardPayment.status.in_(statuses.UNANSWERED_ATTEMPTS),
               or_(CardPayment.next_check_at.is_(None), CardPayment.next_check_at <= now))
        .order_by(CardPayment.id).limit(batch)
    ).all()
    for payment_id in ids:
        try:
            claimed = db.session.execute(
                update(CardPayment)
                .where(CardPayment.id == payment_id,
                       CardPayment.status.in_(statuses.UNANSWERED_ATTEMPTS),
                       or_(CardPayment.next_check_at.is_(None), CardPayment.next_check_at <= now))
                .values(next_check_at=_lease_end(now), checks=CardPayment.checks + 1)
                .execution_options(synchronize_session=False)
            )
            commit()
            if claimed.rowcount != 1:
                continue
            payment = db.session.get(CardPayment, payment_id)
            db.session.refresh(payment)
            result.looked_up += 1
            throttle.wait()
            try:
                found = _look_up(payment, config, throttle)
            except gateway.GatewayError as exc:
                if exc.http_status == 429:
                    throttle.rate_limited()
                card_payments.settle_attempt(payment, "unknown", now=now)
                result.unknown += 1
                result.errors.append(str(exc))
                commit()
                continue
            if found is not None:
                card_payments.settle_attempt(
                    payment, card_payments.attempt_status_for(found.status), now=now,
                    payment_intent_id=found.id)
                commit()
                continue
            if payment.statement.payment_status != "charging" or payment.kind == "on_session":
                # Never reached Stripe, and either nothing is owed on it any more (round
                # cancelled) or the resident was paying on our page: they can try again there.
                _undo_attempt(payment_id, now, owed_as="needs_action", reason="declined")
                commit()
                continue
            if payment.error_code == STRIPE_5XX:
                # Stripe replays a 5xx for the same key for 24 hours, so this key can
                # never pay. One empty look-up is not proof enough that nothing was
                # charged: look again minutes later (settle_attempt sets when).
                card_payments.settle_attempt(payment, "unknown", now=now,
                                             error_code=STRIPE_5XX_LOOKED_ONCE)
                result.unknown += 1
                commit()
                continue
            if payment.error_code == STRIPE_5XX_LOOKED_ONCE:
                # Two empty look-ups since the 5xx: nothing was charged. The statement
                # is owed again and the next sweep charges it with the next attempt's key.
                _undo_attempt(payment_id, now)
                commit()
                continue
            try:
                outcome = _ask_stripe(payment, config=config, throttle=throttle)
            except StripeRefusedUs as exc:
                _undo_attempt(payment_id, now)
                commit()
                log.error("stripe refused our key; no card is charged until it is fixed: %s",
                          exc)
                result.errors.append(str(exc))
                return
            _apply(payment_id, outcome, now, result)
            commit()
        except Exception:  # one bad statement never stops the others
            db.session.rollback()
            log.exception("payment sweep: payment_id %s failed; the next sweep "
                          "tries again", payment_id)


# --- refunds ------------------------------------------------------------------------------


def send_refunds(now: datetime, *, config, commit: Callable[[], None], throttle: Throttle,
                 result: PaymentSweep, batch: int = BATCH) -> None:
    """Ask Stripe for every queued refund, each at most once with no answer recorded.

    A refund that may already have reached Stripe (claimed before and no answer
    recorded: the sweep died, timed out or lost the answer) is looked up by its key
    first, and asked again, with the same key, only when Stripe surely has none:
    a peer that forgets keys (or a key older than Stripe's 24 hours) would
    otherwise refund twice.
    """
    ids = db.session.scalars(
        select(CardRefund.id)
        .where(CardRefund.status.in_(statuses.UNANSWERED_REFUNDS),
               or_(CardRefund.next_check_at.is_(None), CardRefund.next_check_at <= now))
        .order_by(CardRefund.id).limit(batch)
    ).all()
    for refund_id in ids:
        try:
            maybe_asked = _claim_refund(refund_id, now)
            commit()
            if maybe_asked is None:
                continue
            refund = db.session.get(CardRefund, refund_id)
            db.session.refresh(refund)
            pi_id = refund.payment.payment_intent_id
            throttle.wait()
            try:
                info = None
                if maybe_asked:
                    info = gateway.find_refund(config, pi_id, refund.idempotency_key)
                    if info is None:
                        throttle.wait()
                if info is None:
                    info = gateway.refund(config, pi_id, refund.amount_pence,
                                          refund.idempotency_key)
            except gateway.GatewayError as exc:
                if exc.outcome_unknown:
                    if exc.http_status == 429:
                        throttle.rate_limited()
                    refund.next_check_at = now + card_payments.RECHECK_AFTER
                else:
                    card_payments.refund_failed(refund, now)
                result.errors.append(str(exc))
                commit()
                continue
            apply_refund_status(refund, info.status, info.id, now)
            result.refunded += 1
            commit()
        except Exception:  # one bad statement never stops the others
            db.session.rollback()
            log.exception("payment sweep: refund_id %s failed; the next sweep "
                          "tries again", refund_id)


def _claim_refund(refund_id: int, now: datetime) -> bool | None:
    """Take a due refund for this sweep for a lease (caller commits).

    Returns None when it is not this sweep's (another holds it, or it is
    answered); False when Stripe was never asked for it ("pending"); True when
    it may have been ("unknown"). The claim itself marks it "unknown" before
    Stripe is asked, so a sweep that dies with the request sent leaves it so.
    """
    due = or_(CardRefund.next_check_at.is_(None), CardRefund.next_check_at <= now)
    for was, maybe_asked in ((RefundStatus.PENDING, False), (RefundStatus.UNKNOWN, True)):
        claimed = db.session.execute(
            update(CardRefund)
            .where(CardRefund.id == refund_id, CardRefund.status == was, due)
            .values(status=RefundStatus.UNKNOWN, next_check_at=_lease_end(now))
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:
            return maybe_asked
    return None


def apply_refund_status(refund: CardRefund, stripe_status: str | None, refund_id: str,
                        now: datetime) -> str:
    """Record Stripe's answer for a refund (from the sweep or a webhook)."""
    if refund.refund_id is None and refund_id:
        refund.refund_id = refund_id
        db.session.flush()  # before any refresh below reloads the row
    if refund.status == "failed":
        return "no change"  # final at Stripe: an older event arriving late changes nothing
    if stripe_status in ("failed", "canceled"):
        card_payments.refund_failed(refund, now)
        return "failed"
    # "pending" at Stripe means accepted and on its way to the card. Guarded, so a
    # failure recorded at the same moment is never overwritten.
    moved = db.session.execute(
        update(CardRefund)
        .where(CardRefund.id == refund.id,
               CardRefund.status.in_(statuses.UNANSWERED_REFUNDS))
        .values(status="succeeded", next_check_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(refund)
    return "refunded" if moved.rowcount == 1 else "no change"


# --- paying on our page -------------------------------------------------------------------


def pay_now(statement: Statement, *, config, now: datetime,
            commit: Callable[[], None]) -> CardPayment:
    """Charge what is still owed to the household's saved card, with the resident present.

    Used by our "complete payment" page after the resident saved a card there
    (or to retry their saved card). The attempt is recorded and committed
    before Stripe is asked (`commit`), exactly as the sweep does. Returns the
    attempt; its status says what happened ("requires_action": confirm with
    Stripe.js). Raises ServiceError when nothing can be charged now, having
    written nothing (the caller rolls its transaction back), or when Stripe
    refuses our key (the attempt is then undone and committed).
    """
    card = _card_of(statement.household_id)
    if card is None or not card.is_ready:
        raise ServiceError("Save a card first.")
    claimed = db.session.execute(
        update(Statement)
        .where(Statement.id == statement.id,
               Statement.payment_status.in_(statuses.OPEN_TO_PAYMENT),
               Statement.total_pence - Statement.paid_pence >= gateway.MINIMUM_CHARGE_PENCE,
               Statement.round_id.in_(
                   select(Round.id).where(Round.status.in_(statuses.CHARGEABLE_ROUNDS))))
        .values(payment_status="charging")
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise ServiceError("There is nothing to pay by card on this now.")
    db.session.refresh(statement)
    attempt = 1 + (db.session.scalar(
        select(func.max(CardPayment.attempt)).where(CardPayment.statement_id == statement.id)
    ) or 0)
    payment = CardPayment(
        statement_id=statement.id, round_id=statement.round_id,
        household_id=statement.household_id, attempt=attempt, kind="on_session",
        idempotency_key=charge_key(statement.round_id, statement.household_id, attempt),
        amount_pence=statement.total_pence - statement.paid_pence, status="pending",
        next_check_at=_lease_end(now), created_at=now, updated_at=now,
    )
    db.session.add(payment)
    commit()
    payment_id = payment.id
    try:
        outcome = gateway.charge_off_session(
            config, customer_id=card.customer_id, payment_method_id=card.payment_method_id,
            amount_pence=payment.amount_pence, idempotency_key=payment.idempotency_key,
            metadata=payment.metadata_for_stripe, off_session=False,
        )
    except gateway.GatewayError as exc:
        if exc.http_status in (401, 403):
            _undo_attempt(payment_id, now)
            commit()
            log.error("stripe refused our key: %s", exc)
            raise ServiceError("Card payments are not working just now. Nothing was taken. "
                               "Please try again later, or pay in cash.") from None
        outcome = gateway.ChargeOutcome("declined", None, exc.code or "refused", str(exc))
    payment = db.session.get(CardPayment, payment_id)
    card_payments.settle_attempt(payment, outcome.kind, now=now,
                                 payment_intent_id=outcome.payment_intent_id,
                                 error_code=outcome.error_code)
    commit()
    return payment


def check_at_stripe(payment: CardPayment, *, config, now: datetime) -> str:
    """Ask Stripe for an attempt's PaymentIntent and apply its status (after our page's
    Stripe.js step). The browser's word is never taken for it. Returns what
    `card_payments.settle_attempt` did ("no change" when Stripe cannot be asked).
    Commits nothing: the caller's transaction keeps it."""
    if payment.payment_intent_id is None:
        return "no change"
    try:
        info = gateway.retrieve_payment_intent(config, payment.payment_intent_id)
    except gateway.GatewayError:
        return "no change"
    return card_payments.settle_attempt(payment, card_payments.attempt_status_for(info.status),
                                        now=now)
