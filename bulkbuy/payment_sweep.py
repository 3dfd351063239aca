"""The payment sweep's units of work (the job layer, with `sweeps`): look up lost
answers, charge due card statements, send queued refunds.

The services (`bulkbuy.services.payments`) hold each step and never commit; here
each step is its own `unit_of_work()`, so a crash at any point leaves a record
that the next sweep finds:
- an attempt (or a refund's claim) is committed before Stripe is asked, and its
  answer committed when it comes;
- an attempt whose answer was lost is looked up at Stripe before it is retried
  with the same key; one bad statement never stops the others.
"""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from bulkbuy.adapters import stripe_gateway as gateway
from bulkbuy.extensions import db
from bulkbuy.services.payments import attempts, charge_sweep, recovery, refunds
from bulkbuy.services.payments.charge_sweep import BATCH, PaymentSweep, StripeRefusedUs
from bulkbuy.services.payments.throttle import Throttle
from bulkbuy.transactions import unit_of_work

log = logging.getLogger(__name__)


def sweep_payments(now: datetime, *, config, throttle: Throttle | None = None,
                   batch: int = BATCH) -> PaymentSweep:
    """One pass: look up lost answers, charge due card statements, send queued refunds.
    Does nothing when Stripe is not set up."""
    result = PaymentSweep()
    if not gateway.is_configured(config):
        return result
    throttle = throttle or Throttle(float(config.get("STRIPE_REQUESTS_PER_SECOND", 10)))
    recover_lost_attempts(now, config=config, throttle=throttle, result=result, batch=batch)
    charge_due_statements(now, config=config, throttle=throttle, result=result, batch=batch)
    send_refunds(now, config=config, throttle=throttle, result=result, batch=batch)
    return result


def _failed(what: str, record_id: int) -> None:
    db.session.rollback()
    log.exception("payment sweep: %s %s failed; the next sweep tries again", what, record_id)


# --- charging -----------------------------------------------------------------------------


def charge_due_statements(now: datetime, *, config, throttle: Throttle, result: PaymentSweep,
                          batch: int = BATCH) -> None:
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
        for statement_id in charge_sweep.due_card_statement_ids(batch):
            try:
                # A free slot before the claim: the attempt's lease runs from its claim,
                # and a slot can take a whole request's timeout to come free.
                while len(in_flight) >= concurrency:
                    _finish_charge(*in_flight.popleft(), now=now, throttle=throttle,
                                   result=result, refused=refused)
                if refused:
                    break
                with unit_of_work():
                    payment = charge_sweep.start_attempt(statement_id, now)
                if payment is None:
                    continue
                payment_id = payment.id
                request = charge_sweep.charge_request(payment)
                if request is None:
                    with unit_of_work():
                        charge_sweep.record_answer(payment_id, charge_sweep.NO_CARD, now,
                                                   result)
                    continue
                throttle.wait()
                in_flight.append((statement_id, payment_id,
                                  pool.submit(charge_sweep.send_charge, config, request)))
            except Exception:  # one bad statement never stops the others
                _failed("statement_id", statement_id)
        while in_flight:
            _finish_charge(*in_flight.popleft(), now=now, throttle=throttle, result=result,
                           refused=refused)
    if refused:
        log.error("stripe refused our request (not a card decline); no card is charged "
                  "until it is fixed: %s", refused[0])
        result.errors.append(refused[0])


def _finish_charge(statement_id: int, payment_id: int, future: Future, *, now: datetime,
                   throttle: Throttle, result: PaymentSweep, refused: list[str]) -> None:
    """Wait for one charge's answer and record it (or undo the attempt: key refused)."""
    try:
        try:
            outcome = charge_sweep.heed(future.result(), throttle)
        except StripeRefusedUs as exc:
            refused.append(str(exc))
            with unit_of_work():
                attempts.undo_attempt(payment_id, now)
            return
        with unit_of_work():
            charge_sweep.record_answer(payment_id, outcome, now, result)
    except Exception:  # one bad statement never stops the others
        _failed("statement_id", statement_id)


# --- answers that were lost ---------------------------------------------------------------


def recover_lost_attempts(now: datetime, *, config, throttle: Throttle, result: PaymentSweep,
                          batch: int = BATCH) -> None:
    """Settle attempts whose answer never came (see `services.payments.recovery`): lease
    each (committed), look it up at Stripe, record what was found (committed), and only
    then, if Stripe surely has none, ask again with the same key."""
    for payment_id in recovery.lost_attempt_ids(now, batch):
        try:
            with unit_of_work():
                payment = recovery.claim_lost_attempt(payment_id, now)
            if payment is None:
                continue
            result.looked_up += 1
            throttle.wait()
            try:
                found = recovery.look_up(payment, config, throttle)
            except gateway.GatewayError as exc:
                if exc.http_status == 429:
                    throttle.rate_limited()
                with unit_of_work():
                    recovery.record_failed_look_up(payment_id, now)
                result.unknown += 1
                result.errors.append(str(exc))
                continue
            with unit_of_work():
                word = recovery.record_look_up(payment_id, found, now)
            if word == "unknown":
                result.unknown += 1
            if word != "retry":
                continue
            try:
                outcome = charge_sweep.ask_stripe(payment, config=config, throttle=throttle)
            except StripeRefusedUs as exc:
                with unit_of_work():
                    attempts.undo_attempt(payment_id, now)
                log.error("stripe refused our request (not a card decline); no card is "
                          "charged until it is fixed: %s", exc)
                result.errors.append(str(exc))
                return
            with unit_of_work():
                charge_sweep.record_answer(payment_id, outcome, now, result)
        except Exception:  # one bad statement never stops the others
            _failed("payment_id", payment_id)


# --- refunds ------------------------------------------------------------------------------


def send_refunds(now: datetime, *, config, throttle: Throttle, result: PaymentSweep,
                 batch: int = BATCH) -> None:
    """Ask Stripe for every queued refund, each at most once with no answer recorded.

    A refund that may already have reached Stripe (claimed before and no answer
    recorded: the sweep died, timed out or lost the answer) is looked up by its key
    first, and asked again, with the same key, only when Stripe surely has none:
    a peer that forgets keys (or a key older than Stripe's 24 hours) would
    otherwise refund twice. Such look-ups are made here, one at a time.

    Each claim is committed before its request is sent, and its answer committed when
    it comes. Up to STRIPE_CONCURRENT_CHARGES new refunds are in flight at once (a
    worker thread each, as for charges); this thread alone uses the database and the
    throttle.
    """
    concurrency = max(1, int(config.get("STRIPE_CONCURRENT_CHARGES", 4)))
    in_flight: deque[tuple[int, Future]] = deque()
    with ThreadPoolExecutor(max_workers=concurrency,
                            thread_name_prefix="stripe-refund") as pool:
        for refund_id in refunds.due_refund_ids(now, batch):
            try:
                while len(in_flight) >= concurrency:
                    _finish_refund(*in_flight.popleft(), now=now, throttle=throttle,
                                   result=result)
                with unit_of_work():
                    request = refunds.claim_refund(refund_id, now)
                if request is None:
                    continue
                throttle.wait()
                if request.maybe_asked:
                    answer: Future = Future()
                    try:
                        answer.set_result(refunds.ask_stripe(config, request, throttle.wait))
                    except Exception as exc:  # recorded by _finish_refund, as a thread's
                        answer.set_exception(exc)
                else:
                    answer = pool.submit(refunds.ask_stripe, config, request,
                                         _no_second_request)
                in_flight.append((refund_id, answer))
            except Exception:  # one bad refund never stops the others
                _failed("refund_id", refund_id)
        while in_flight:
            _finish_refund(*in_flight.popleft(), now=now, throttle=throttle, result=result)


def _no_second_request() -> None:
    """The pacing hook of a refund asked in a worker thread: such a refund was never
    asked before, so it makes one request and never paces a second."""
    raise AssertionError("a new refund makes one request")


def _finish_refund(refund_id: int, answer: Future, *, now: datetime, throttle: Throttle,
                   result: PaymentSweep) -> None:
    """Wait for one refund's answer and record it (a lost answer is looked up later)."""
    try:
        try:
            info = answer.result()
        except gateway.GatewayError as exc:
            if exc.outcome_unknown and exc.http_status == 429:
                throttle.rate_limited()
            with unit_of_work():
                refunds.record_refund_error(refund_id, exc, now)
            result.errors.append(str(exc))
            return
        with unit_of_work():
            refunds.record_refund_answer(refund_id, info, now)
        result.refunded += 1
    except Exception:  # one bad refund never stops the others
        _failed("refund_id", refund_id)
