"""The payment sweep when Stripe fails us: localstripe behind a fault-injecting proxy (a fake).

Whatever goes wrong between us and Stripe (unreachable, 500, 429, timeout,
the answer lost after Stripe took the money, our process dying before it
saved the answer), the statement ends paid exactly once: the attempt stays
open ("unknown"), a later sweep looks it up at Stripe by its metadata and
retries only what Stripe never took, with the same idempotency key. "Once"
is proved by listing localstripe's PaymentIntents with the real SDK.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest
import requests
import stripe
from flask import current_app
from sqlalchemy import select

from bulkbuy.adapters import stripe_gateway
from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, CardPayment, OutboxMessage, Statement, utcnow
from bulkbuy.services.payments import attempts, charge_sweep, refunds
from bulkbuy.services.payments import saved_cards as cards
from bulkbuy.services.payments.throttle import Throttle
from devtools.localstripe_server import TEST_KEY
from tests import factories
from tests.fault_proxy import FaultProxy, closed_port_url
from tests.integration.test_card_charging import (
    attempts_of,
    fresh,
    record_charge_keys,
    stripe_payment_intents,
    succeeded_per_household,
    sweep,
)
from tests.stripe_helpers import closed_card_round

LATER = timedelta(minutes=10)


def fresh_statement(statement_id: int) -> Statement:
    return db.session.get(Statement, statement_id)


class FakeClock:
    """time.monotonic and time.sleep for a Throttle, without waiting."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def wire(monkeypatch) -> list[str | None]:
    """Idempotency keys of the charge requests sent, in order (see record_charge_keys)."""
    return record_charge_keys(monkeypatch)


@pytest.fixture
def proxy(localstripe):
    with FaultProxy(localstripe) as running:
        yield running


def one_household_owing_10_pounds():
    """A closed round where one household owes £10, with a saved card and consent."""
    w, [statement] = closed_card_round(residents=1, units=12)
    assert (statement.total_pence, statement.payment_status) == (1000, "due")
    return w, statement


def assert_open_attempt(statement, key: str, now) -> CardPayment:
    """The charge's answer never came: the statement is still being charged, the attempt is
    "unknown", to be looked up later, and nothing was credited."""
    assert (fresh(statement).payment_status, statement.paid_pence) == ("charging", 0)
    [attempt] = attempts_of(statement)
    assert (attempt.attempt, attempt.status, attempt.idempotency_key) == (1, "unknown", key)
    assert attempt.payment_intent_id is None
    assert attempt.next_check_at > now
    return attempt


def assert_paid_once_by_a_second_attempt(localstripe, household_id: int, statement) -> None:
    """Attempt 1 never charged (cancelled); attempt 2, with a key of its own, paid in full;
    Stripe holds one succeeded charge."""
    assert (fresh(statement).payment_status, statement.paid_pence) == ("paid", 1000)
    first, second = attempts_of(statement)
    assert (first.attempt, first.status, first.credited_pence) == (1, "canceled", 0)
    assert (second.attempt, second.status, second.credited_pence) == (2, "succeeded", 1000)
    assert second.idempotency_key != first.idempotency_key
    assert succeeded_per_household(localstripe) == {household_id: 1}
    [pi] = [pi for pi in stripe_payment_intents(localstripe) if pi.status == "succeeded"]
    assert (pi.id, pi.metadata["attempt"]) == (second.payment_intent_id, "2")


def assert_paid_once(localstripe, household_id: int, statement, key: str) -> None:
    """Paid in full by attempt 1 (the same key), and Stripe holds one succeeded charge."""
    assert (fresh(statement).payment_status, statement.paid_pence) == ("paid", 1000)
    [attempt] = attempts_of(statement)
    assert (attempt.attempt, attempt.status, attempt.idempotency_key,
            attempt.credited_pence) == (1, "succeeded", key, 1000)
    assert succeeded_per_household(localstripe) == {household_id: 1}
    [pi] = [pi for pi in stripe_payment_intents(localstripe) if pi.status == "succeeded"]
    assert (pi.id, pi.amount, pi.metadata["attempt"]) == (attempt.payment_intent_id, 1000, "1")


# --- Stripe never took the charge: retried with the same key --------------------------------


def test_stripe_unreachable_leaves_the_charge_open_and_a_later_sweep_pays_it_once(
        card_app, localstripe, wire):
    w, statement = one_household_owing_10_pounds()
    card_app.config["STRIPE_API_BASE"] = closed_port_url()
    now = utcnow()

    first = sweep(now)
    key = wire[0]  # the attempt's key, recorded before the call

    assert (first.charged, first.unknown) == (0, 1)
    assert_open_attempt(statement, key, now)
    assert stripe_payment_intents(localstripe) == []
    card_app.config["STRIPE_API_BASE"] = localstripe
    too_soon = sweep(now + timedelta(seconds=30))
    assert (too_soon.looked_up, too_soon.charged) == (0, 0)
    assert stripe_payment_intents(localstripe) == []

    later = sweep(now + LATER)

    assert (later.looked_up, later.charged) == (1, 1)
    assert_paid_once(localstripe, w.households[0].id, statement, key)
    assert wire == [key, key]  # the retry carried the same Idempotency-Key


@pytest.mark.parametrize("fault", ["server_error", "timeout"])
def test_a_500_or_a_timeout_leaves_the_charge_open_and_a_later_sweep_pays_it_once(
        card_app, localstripe, proxy, wire, fault):
    w, statement = one_household_owing_10_pounds()
    card_app.config["STRIPE_API_BASE"] = proxy.base_url
    card_app.config["STRIPE_TIMEOUT"] = 0.5
    proxy.hang_seconds = 1.0
    proxy.fail_next(fault)
    now = utcnow()

    first = sweep(now)
    key = wire[0]  # the attempt's key, recorded before the call

    assert (first.charged, first.unknown) == (0, 1)
    assert proxy.pending_faults == 0 and proxy.forwarded == 0  # it never reached Stripe
    assert_open_attempt(statement, key, now)
    assert stripe_payment_intents(localstripe) == []

    later = sweep(now + LATER)

    if fault == "timeout":  # no answer: sent again with the same key
        assert (later.looked_up, later.charged) == (1, 1)
        assert_paid_once(localstripe, w.households[0].id, statement, key)
        assert wire == [key, key]
        looked_up = [("GET", "/v1/payment_intents")]
    else:  # Stripe replays a 5xx for its key: the next attempt, with its own key, but
        # only after a second look-up minutes later also finds nothing.
        assert (later.looked_up, later.charged, later.unknown) == (1, 0, 1)
        assert_open_attempt(statement, key, now + LATER)
        too_soon = sweep(now + LATER + timedelta(seconds=30))
        assert (too_soon.looked_up, too_soon.charged) == (0, 0)
        last = sweep(now + 2 * LATER)
        assert (last.looked_up, last.charged) == (1, 1)
        assert_paid_once_by_a_second_attempt(localstripe, w.households[0].id, statement)
        assert wire[0] == key and wire[1] != key and len(wire) == 2
        looked_up = [("GET", "/v1/payment_intents")] * 2
    assert [(r.method, r.path) for r in proxy.requests] == [
        ("POST", "/v1/payment_intents"),   # the fault
        *looked_up,                        # the look-up(s): not there
        ("POST", "/v1/payment_intents"),   # the retry
    ]


def test_rate_limited_halves_the_throttle_and_a_later_sweep_pays_once(
        card_app, localstripe, proxy, wire):
    w, statement = one_household_owing_10_pounds()
    card_app.config["STRIPE_API_BASE"] = proxy.base_url
    clock = FakeClock()
    throttle = Throttle(8, clock=clock, sleep=clock.sleep)
    proxy.fail_next("rate_limited")
    now = utcnow()

    first = sweep(now, throttle=throttle)
    key = wire[0]  # the attempt's key, recorded before the call

    assert [r.status for r in proxy.requests] == [429]
    assert (first.charged, first.unknown) == (0, 1)
    assert throttle.rate == 4.0
    assert_open_attempt(statement, key, now)
    assert stripe_payment_intents(localstripe) == []

    later = sweep(now + LATER, throttle=throttle)

    assert clock.sleeps and clock.sleeps[0] >= 1.0  # it paused before asking again
    assert 4.0 < throttle.rate <= 8.0  # the retry succeeded: recovering, not above the limit
    assert (later.looked_up, later.charged) == (1, 1)
    assert_paid_once(localstripe, w.households[0].id, statement, key)
    assert wire == [key, key]


def test_a_process_that_died_before_asking_stripe_is_charged_by_a_later_sweep_once(
        card_app, localstripe, wire):
    """The attempt was committed, then the process died before the request left."""
    w, statement = one_household_owing_10_pounds()
    now = utcnow()
    payment = charge_sweep.start_attempt(statement.id, now)
    db.session.commit()
    key, household_id, statement_id = (payment.idempotency_key, payment.household_id,
                                       payment.statement_id)
    db.session.remove()  # the process is gone; its session with it
    statement = fresh_statement(statement_id)

    assert sweep(now + timedelta(seconds=30)).looked_up == 0  # its lease has not run out
    later = sweep(now + LATER)

    assert (later.looked_up, later.charged) == (1, 1)
    assert_paid_once(localstripe, household_id, statement, key)
    assert wire == [key]


@pytest.mark.parametrize("fault", ["server_error", "rate_limited"])
def test_when_the_look_up_fails_too_the_charge_is_not_retried_blind(
        card_app, localstripe, proxy, wire, fault):
    """An attempt with no answer is never retried before Stripe has said it does not have it:
    when the look-up itself fails, the attempt waits for a later look-up."""
    w, statement = one_household_owing_10_pounds()
    card_app.config["STRIPE_API_BASE"] = proxy.base_url
    clock = FakeClock()
    throttle = Throttle(8, clock=clock, sleep=clock.sleep)
    proxy.fail_next("server_error")  # the charge
    proxy.fail_next(fault, method="GET")  # the look-up
    now = utcnow()
    sweep(now, throttle=throttle)
    key = wire[0]  # the attempt's key, recorded before the call

    second = sweep(now + LATER, throttle=throttle)

    assert (second.looked_up, second.unknown, second.charged) == (1, 1, 0)
    assert wire == [key]  # not asked again
    attempt = assert_open_attempt(statement, key, now + LATER)
    assert attempt.checks == 1
    if fault == "rate_limited":
        assert throttle.rate == 4.0
    third = sweep(now + 3 * LATER, throttle=throttle)
    # The failed look-up did not count: this is the first empty one since the 500.
    assert (third.looked_up, third.charged) == (1, 0)
    fourth = sweep(now + 6 * LATER, throttle=throttle)
    assert (fourth.looked_up, fourth.charged) == (1, 1)
    # The charge had a 500, which Stripe replays for its key: the next attempt is sent.
    assert_paid_once_by_a_second_attempt(localstripe, w.households[0].id, statement)
    assert wire[0] == key and wire[1] != key and len(wire) == 2


# --- Stripe took the charge but we never learnt it: found, not charged again --------------


@pytest.mark.parametrize("fault", ["lost_response", "drop_after_forward"])
def test_a_charge_stripe_took_whose_answer_was_lost_is_found_and_not_charged_again(
        card_app, localstripe, proxy, wire, fault):
    w, statement = one_household_owing_10_pounds()
    card_app.config["STRIPE_API_BASE"] = proxy.base_url
    proxy.fail_next(fault)
    now = utcnow()

    first = sweep(now)
    key = wire[0]  # the attempt's key, recorded before the call

    assert (first.charged, first.unknown) == (0, 1)
    assert_open_attempt(statement, key, now)
    assert succeeded_per_household(localstripe) == {w.households[0].id: 1}  # Stripe took it

    later = sweep(now + LATER)

    assert later.looked_up == 1
    assert_paid_once(localstripe, w.households[0].id, statement, key)
    assert len(stripe_payment_intents(localstripe)) == 1
    assert wire == [key]  # no second charge was even asked for
    again = sweep(now + 2 * LATER)
    assert (again.looked_up, again.charged) == (0, 0)
    assert len(stripe_payment_intents(localstripe)) == 1


def test_a_process_that_died_after_stripe_took_the_money_is_paid_once_by_a_later_sweep(
        card_app, localstripe, wire):
    """The attempt was committed, Stripe charged the card, and the process died before it
    saved the answer (nothing after the charge was committed)."""
    w, statement = one_household_owing_10_pounds()
    now = utcnow()
    payment = charge_sweep.start_attempt(statement.id, now)
    db.session.commit()
    key = payment.idempotency_key
    card = cards.card_of(w.households[0].id)
    outcome = stripe_gateway.charge_off_session(
        current_app.config, customer_id=card.customer_id,
        payment_method_id=card.payment_method_id, amount_pence=payment.amount_pence,
        idempotency_key=key, metadata=payment.metadata_for_stripe)
    assert outcome.kind == "succeeded"
    household_id, statement_id = payment.household_id, payment.statement_id
    db.session.rollback()
    db.session.remove()  # the process is gone; its session with it
    statement = fresh_statement(statement_id)
    assert (statement.payment_status, attempts_of(statement)[0].status) == (
        "charging", "pending")

    later = sweep(now + LATER)

    assert later.looked_up == 1
    assert_paid_once(localstripe, household_id, statement, key)
    assert attempts_of(statement)[0].payment_intent_id == outcome.payment_intent_id
    assert wire == [key]  # only the charge made before the "crash"
    assert len(stripe_payment_intents(localstripe)) == 1


# --- two schedulers ------------------------------------------------------------------------


def test_a_charge_in_flight_is_left_alone_by_another_sweep_however_long_the_first_ran(
        card_app, localstripe, monkeypatch, wire):
    """Sweep A started at T (a long one: a batch of 200 charges made one after another, or
    slowed by 429s, takes minutes). Its charge
    for the second household goes out 150 s in; at that moment another scheduler's sweep B
    starts (its `now` is T + 150 s). B must leave the attempt in flight alone: its lease is
    meant to outlast any one Stripe request (attempts.LEASE).

    Were the lease `now + LEASE` with `now` the time sweep A *started*, an attempt made more
    than 120 s into a sweep would be born with its lease already over: B would look it up
    (not there yet: A's request still on its way), retry it with the same key, and
    localstripe would charge the household twice.
    """
    w, statements = closed_card_round(residents=2)
    # One charge at a time, as such a long sweep would be: the fake clock below jumps
    # once the first charge is done, so the second must not start before it.
    card_app.config["STRIPE_CONCURRENT_CHARGES"] = 1
    real_charge = stripe_gateway.charge_off_session
    started = utcnow()
    calls, sweep_b = [], []

    # The real clock as sweep A sees it: 150 s on once its first charge is done (the
    # lease of an attempt is taken from the real clock, not from the sweep's `now`).
    monkeypatch.setattr(attempts, "utcnow",
                        lambda: started + timedelta(seconds=150 if calls else 0))

    def charge(config, **kwargs):
        calls.append(kwargs["idempotency_key"])
        if len(calls) == 2:  # A's second charge, 150 s into A; B starts now
            with card_app.app_context():  # another process: its own session
                sweep_b.append(sweep(started + timedelta(seconds=150)))
                db.session.remove()
        return real_charge(config, **kwargs)

    monkeypatch.setattr(stripe_gateway, "charge_off_session", charge)

    sweep_a = sweep(started)

    [b] = sweep_b
    assert (b.looked_up, b.charged) == (0, 0), (
        f"sweep B took over sweep A's attempt in flight: {b}; charge keys sent: {wire}")
    assert sorted(wire) == sorted(set(wire))
    assert sweep_a.charged == 2
    assert succeeded_per_household(localstripe) == {h.id: 1 for h in w.households}


# --- the round is cancelled while an answer is missing --------------------------------------


def stripe_refunds(localstripe: str, payment_intent_id: str) -> list:
    """Every refund localstripe holds for one PaymentIntent (read with the real SDK)."""
    with requests.Session() as session:
        client = stripe.StripeClient(
            TEST_KEY, base_addresses={"api": localstripe},
            http_client=stripe.RequestsClient(session=session), max_network_retries=0)
        return list(client.v1.refunds.list(
            params={"payment_intent": payment_intent_id, "limit": 100}).auto_paging_iter())


@pytest.mark.parametrize(("fault", "stripe_took_it"),
                         [("server_error", False), ("lost_response", True)])
def test_a_round_cancelled_while_a_charge_answer_is_missing_keeps_none_of_the_money(
        card_app, localstripe, proxy, wire, fault, stripe_took_it):
    """Cancelled after close while the charge's answer is missing: a charge Stripe never got
    is not retried; one Stripe did take is found and refunded in full."""
    w, statement = one_household_owing_10_pounds()
    card_app.config["STRIPE_API_BASE"] = proxy.base_url
    proxy.fail_next(fault)
    now = utcnow()
    sweep(now)
    key = wire[0]  # the attempt's key, recorded before the call
    assert_open_attempt(statement, key, now)
    refunds.cancel_closed_round(w.round, actor=w.organiser, now=now)
    db.session.commit()

    later = sweep(now + LATER)

    assert later.looked_up == 1 and later.charged == 0
    assert wire == [key]  # never charged again
    assert (fresh(statement).payment_status, statement.paid_pence) == ("cancelled", 0)
    [attempt] = attempts_of(statement)
    intents = stripe_payment_intents(localstripe)
    if stripe_took_it:
        [pi] = intents
        assert (attempt.status, attempt.payment_intent_id) == ("succeeded", pi.id)
        assert (attempt.credited_pence, attempt.refunded_pence) == (0, 1000)
        assert later.refunded == 1
        assert [(r.amount, r.status) for r in stripe_refunds(localstripe, pi.id)] == [
            (1000, "succeeded")]
    else:
        assert attempt.status == "canceled"
        assert intents == []


# --- Stripe refuses our own request --------------------------------------------------------


def test_stripe_rejecting_our_key_does_not_tell_residents_their_card_failed(
        card_app, localstripe):
    """An API key Stripe rejects (rotated, mistyped) is our fault, not the card's: nothing is
    charged, residents are not told "Your card did not work", and once the key is right again
    a later sweep charges the statement.

    (An HTTP 401/403 stops the sweep and leaves the statement due; only other refusals of
    a request count as the card's decline.)
    """
    w, statement = one_household_owing_10_pounds()
    good_key = card_app.config["STRIPE_SECRET_KEY"]
    card_app.config["STRIPE_SECRET_KEY"] = "not_a_key_rotated_by_mistake"
    now = utcnow()

    sweep(now)

    assert stripe_payment_intents(localstripe) == []
    told_card_failed = [m.to_address for m in db.session.scalars(select(OutboxMessage))
                        if "Your card did not work" in m.body]
    card_app.config["STRIPE_SECRET_KEY"] = good_key
    later = sweep(now + LATER)

    assert told_card_failed == [], (
        f"residents told their card did not work because Stripe rejected our API key: "
        f"{told_card_failed}")
    assert (fresh(statement).payment_status, statement.paid_pence) == ("paid", 1000), (
        f"statement left {statement.payment_status!r} ({statement.needs_action_reason}) "
        f"after the key was fixed; later sweep: {later}")
    assert succeeded_per_household(localstripe) == {w.households[0].id: 1}


# --- secrets -----------------------------------------------------------------------------


def test_the_secret_key_appears_in_no_log_error_or_message_during_faults(
        card_app, localstripe, proxy, caplog):
    w, statements = closed_card_round(residents=4)
    card_app.config["STRIPE_API_BASE"] = proxy.base_url
    card_app.config["STRIPE_TIMEOUT"] = 0.5
    proxy.hang_seconds = 1.0
    for fault in ("server_error", "rate_limited", "lost_response", "timeout"):
        proxy.fail_next(fault)
    clock = FakeClock()
    throttle = Throttle(10, clock=clock, sleep=clock.sleep)
    caplog.set_level(logging.DEBUG)
    now = utcnow()

    first = sweep(now, throttle=throttle)
    card_app.config["STRIPE_API_BASE"] = closed_port_url()
    down = sweep(now + LATER, throttle=throttle)
    card_app.config["STRIPE_API_BASE"] = proxy.base_url
    last = sweep(now + 3 * LATER, throttle=throttle)
    # The one answered 500 is given a new key after a second empty look-up.
    final = sweep(now + 6 * LATER, throttle=throttle)

    assert first.unknown == 4 and down.looked_up == 4 and last.looked_up == 4
    assert final.looked_up == 1
    assert [fresh(s).payment_status for s in statements] == ["paid"] * 4
    assert "stripe" in caplog.text  # the faults were logged...
    assert TEST_KEY not in caplog.text  # ...without the key
    texts = [
        *(first.errors + down.errors + last.errors),
        *(p.error_code or "" for p in db.session.scalars(select(CardPayment))),
        *(m.body + m.subject for m in db.session.scalars(select(OutboxMessage))),
        *(e.details or "" for e in db.session.scalars(select(AuditEntry))),
    ]
    assert first.errors and down.errors
    assert [t for t in texts if TEST_KEY in t] == []
    assert succeeded_per_household(localstripe) == {h.id: 1 for h in w.households}




# --- several charges in flight at once (STRIPE_CONCURRENT_CHARGES) ------------------------


def watch_in_flight(monkeypatch) -> dict[str, int]:
    """Count the charge requests under way at once (each held a moment, so they overlap
    when the sweep lets them); returns {"now": ..., "most": ...}."""
    seen = {"now": 0, "most": 0}
    lock = threading.Lock()
    real_charge = stripe_gateway.charge_off_session

    def charge(config, **kwargs):
        with lock:
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
        try:
            time.sleep(0.2)
            return real_charge(config, **kwargs)
        finally:
            with lock:
                seen["now"] -= 1

    monkeypatch.setattr(stripe_gateway, "charge_off_session", charge)
    return seen


@pytest.mark.parametrize("concurrency", [1, 3])
def test_never_more_charges_in_flight_than_configured_and_each_household_paid_once(
        card_app, localstripe, monkeypatch, concurrency):
    w, statements = closed_card_round(residents=6)
    card_app.config["STRIPE_CONCURRENT_CHARGES"] = concurrency
    seen = watch_in_flight(monkeypatch)

    result = sweep(utcnow())

    assert seen["most"] == concurrency
    assert (result.charged, result.errors) == (6, [])
    assert [fresh(s).payment_status for s in statements] == ["paid"] * 6
    assert succeeded_per_household(localstripe) == {h.id: 1 for h in w.households}


def test_faults_on_some_of_the_charges_in_flight_leave_those_open_and_each_is_paid_once(
        card_app, localstripe, proxy, wire):
    """Four in flight; Stripe answers two of them 500 and loses the answer to a third
    (it took that money). The others are paid; a later sweep settles the three, each
    household charged once."""
    w, statements = closed_card_round(residents=6)
    card_app.config["STRIPE_API_BASE"] = proxy.base_url
    card_app.config["STRIPE_CONCURRENT_CHARGES"] = 4
    proxy.fail_next("server_error", times=2)
    proxy.fail_next("lost_response")
    now = utcnow()

    first = sweep(now)

    assert (first.charged, first.unknown) == (3, 3)
    assert sorted(fresh(s).payment_status for s in statements) == ["charging"] * 3 + ["paid"] * 3
    later = sweep(now + LATER)
    # All three looked up: the lost one is found paid; the two 500s are looked up
    # again minutes later, then charged with new keys.
    assert (later.looked_up, later.charged, later.unknown) == (3, 0, 2)
    last = sweep(now + 2 * LATER)
    assert (last.looked_up, last.charged) == (2, 2)
    assert [fresh(s).payment_status for s in statements] == ["paid"] * 6
    assert succeeded_per_household(localstripe) == {h.id: 1 for h in w.households}
    # Six keys, and two more for the second attempts of the two Stripe answered 500.
    assert (len(wire), len(set(wire))) == (8, 8)


def test_a_rejected_key_with_charges_in_flight_undoes_every_attempt(card_app, localstripe):
    """Stripe refuses our key (HTTP 401) while several charges are in flight: each attempt
    is cancelled and its statement left due (nobody told their card failed), the sweep
    stops, and with the key fixed each household is charged once."""
    w, statements = closed_card_round(residents=6)
    card_app.config["STRIPE_CONCURRENT_CHARGES"] = 4
    good_key = card_app.config["STRIPE_SECRET_KEY"]
    card_app.config["STRIPE_SECRET_KEY"] = "not_a_key_rotated_by_mistake"
    now = utcnow()

    first = sweep(now)

    assert first.charged == 0 and len(first.errors) == 1
    assert [fresh(s).payment_status for s in statements] == ["due"] * 6
    assert {a.status for s in statements for a in attempts_of(s)} <= {"canceled"}
    assert stripe_payment_intents(localstripe) == []
    assert not [m for m in db.session.scalars(select(OutboxMessage))
                if "Your card did not work" in m.body]
    card_app.config["STRIPE_SECRET_KEY"] = good_key
    later = sweep(now + LATER)
    assert later.charged == 6
    assert [fresh(s).payment_status for s in statements] == ["paid"] * 6
    assert succeeded_per_household(localstripe) == {h.id: 1 for h in w.households}


def test_a_timeout_then_a_500_for_the_same_key_needs_two_empty_look_ups_after_the_500(
        card_app, localstripe, proxy, wire):
    """The first answer times out; the look-up finds nothing and the same key is sent
    again, which Stripe answers 500. Only look-ups after that 500 count: two, minutes
    apart, find nothing before a new key is used."""
    w, statement = one_household_owing_10_pounds()
    card_app.config["STRIPE_API_BASE"] = proxy.base_url
    card_app.config["STRIPE_TIMEOUT"] = 0.5
    proxy.hang_seconds = 1.0
    proxy.fail_next("timeout")
    proxy.fail_next("server_error")
    now = utcnow()

    for minutes in (0, 10, 20, 21):
        sweep(now + timedelta(minutes=minutes))
    assert len(attempts_of(statement)) == 1  # too soon after the first empty look-up
    last = sweep(now + timedelta(minutes=40))

    assert last.charged == 1
    assert_paid_once_by_a_second_attempt(localstripe, w.households[0].id, statement)
    calls = [(r.method, r.status) for r in proxy.requests]
    after_500 = calls[calls.index(("POST", 500)) + 1:]
    assert [method for method, _status in after_500] == ["GET", "GET", "POST"]


def test_on_localstripe_a_lost_answer_is_found_beyond_the_oldest_payment_intents(
        card_app, localstripe, proxy, monkeypatch):
    """localstripe lists oldest first. With older PaymentIntents filling the usual window,
    a charge whose answer was lost is still found (the list is read to its end), so the
    household is charged once, not again with the same key or a new one."""
    monkeypatch.setattr(stripe_gateway, "LOOKUP_LIMIT", 3)
    w, statement = one_household_owing_10_pounds()
    client = stripe.StripeClient(TEST_KEY, base_addresses={"api": localstripe},
                                 http_client=stripe.RequestsClient(session=requests.Session()),
                                 max_network_retries=0)
    for _ in range(3):
        client.v1.payment_intents.create(params={"amount": 500, "currency": "gbp"})
    card_app.config["STRIPE_API_BASE"] = proxy.base_url
    proxy.fail_next("lost_response")
    now = utcnow() + timedelta(hours=1)  # the older ones are well before the attempt

    assert sweep(now).unknown == 1
    later = sweep(now + LATER)

    assert later.looked_up == 1
    [attempt] = attempts_of(statement)
    assert (attempt.status, fresh(statement).payment_status) == ("succeeded", "paid")
    assert succeeded_per_household(localstripe) == {w.households[0].id: 1}


def test_a_charge_stripe_has_not_answered_for_an_hour_is_pointed_out_to_staff(
        card_app, localstripe):
    """The sweep keeps asking about a charge with no answer; after an hour the payments
    page says so, so nobody takes cash for it without checking Stripe first."""
    w, statement = one_household_owing_10_pounds()
    card_app.config["STRIPE_API_BASE"] = closed_port_url()
    sweep(utcnow())
    organiser = card_app.test_client()
    organiser.post("/login", data={"email": w.organiser.email, "password": factories.PASSWORD})
    url = f"/organise/{w.group.id}/rounds/{w.round.id}/payments"
    warning = "Stripe has not told us how the card payment started"

    soon = organiser.get(url).get_data(as_text=True)
    [attempt] = attempts_of(statement)
    attempt.created_at = utcnow() - timedelta(hours=2)  # as if started two hours ago
    db.session.commit()
    later = organiser.get(url).get_data(as_text=True)

    assert "Card being charged" in soon and warning not in soon
    assert "Card being charged" in later and warning in later


def test_the_configured_rate_reaches_the_sweep(card_app, localstripe, proxy):
    """STRIPE_REQUESTS_PER_SECOND is what the scheduler's sweep (no throttle of its own
    given) keeps to: three charges at 2 a second reach Stripe over at least a second
    (at the default 10 a second they would take about 0.2 s)."""
    w, statements = closed_card_round(residents=3, units=4)
    card_app.config["STRIPE_API_BASE"] = proxy.base_url
    card_app.config["STRIPE_REQUESTS_PER_SECOND"] = 2

    result = sweep(utcnow())

    assert result.charged == 3
    posts = [r.at for r in proxy.requests if r.method == "POST"]
    assert len(posts) == 3
    assert posts[-1] - posts[0] >= 0.9  # 2 gaps of 0.5 s, less a little for scheduling
