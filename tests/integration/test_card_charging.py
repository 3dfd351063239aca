"""The payment sweep charges saved cards for closed rounds, against a real localstripe.

What we record (statements, CardPayment attempts) is checked against what
localstripe really holds: its PaymentIntents are listed with the official SDK
and counted per household (metadata `household_id`), which is how "nobody is
charged twice" is proved. Every test runs on SQLite and PostgreSQL (`card_app`),
except the race between two sweeps, which needs PostgreSQL.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
import stripe
from flask import current_app
from sqlalchemy import func, select, update

from bulkbuy import sweeps
from bulkbuy.adapters import stripe_gateway
from bulkbuy.extensions import db
from bulkbuy.models import (
    CardConsent,
    CardPayment,
    CashPayment,
    OutboxMessage,
    Round,
    Statement,
    utcnow,
)
from bulkbuy.services import ServiceError, closing, pledges, rounds
from bulkbuy.services.payments import attempts, charge_sweep, pay_now, refunds
from bulkbuy.services.payments import cash as cash_service
from bulkbuy.services.payments import saved_cards as cards
from bulkbuy.transactions import commit_now
from devtools.localstripe_server import TEST_KEY
from tests import factories
from tests.stripe_helpers import (
    CARD_DECLINED_ON_CHARGE,
    CARD_NEEDS_AUTH,
    CARD_OK,
    closed_card_round,
    save_card,
)

TINS = ("Tinned tomatoes", 12, 1000)  # 12 a box, £10 a box


# --- helpers (also used by test_card_faults.py) ---------------------------------------------


def sweep(now, throttle=None) -> charge_sweep.PaymentSweep:
    """One run of the scheduler's payment sweep, as the scheduler calls it."""
    return sweeps.sweep_payments(now, config=current_app.config,
                                   throttle=throttle)


def stripe_payment_intents(localstripe: str) -> list:
    """Every PaymentIntent localstripe holds (read with the real SDK, never through a proxy)."""
    with requests.Session() as session:
        client = stripe.StripeClient(
            TEST_KEY, base_addresses={"api": localstripe},
            http_client=stripe.RequestsClient(session=session), max_network_retries=0)
        return list(client.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter())


def succeeded_per_household(localstripe: str) -> Counter:
    """How many succeeded PaymentIntents each household id has at Stripe."""
    return Counter(int(pi.metadata["household_id"]) for pi in stripe_payment_intents(localstripe)
                   if pi.status == "succeeded")


def attempts_of(statement: Statement) -> list[CardPayment]:
    return list(db.session.scalars(
        select(CardPayment).where(CardPayment.statement_id == statement.id)
        .order_by(CardPayment.attempt)))


def fresh(statement: Statement) -> Statement:
    db.session.refresh(statement)
    return statement


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def statements_of(w) -> list[Statement]:
    return [db.session.scalar(select(Statement).where(
        Statement.household_id == h.id, Statement.round_id == w.round.id))
        for h in w.households]


def card_world(units: tuple[int, ...], *, product=TINS, numbers=None, consent=True,
               name="Oak Estate", prefix="", min_order_pence=None):
    """An open round where resident i pledges units[i] of one product, saves card numbers[i]
    (default CARD_OK; None: no card) and, if `consent`, agrees to pay by card."""
    w = factories.world(name=name, prefix=prefix, residents=len(units), products=(product,))
    if min_order_pence is not None:
        w.round.min_order_pence = min_order_pence
        db.session.commit()
    item = w.round.items[0]
    now = utcnow()
    numbers = numbers or (CARD_OK,) * len(units)
    for household, person, n, number in zip(w.households, w.residents, units, numbers,
                                            strict=True):
        pledges.set_pledge(item, household, n, 0, entered_by=person, now=now, max_units=999)
        db.session.commit()
        if number is not None:
            save_card(household, person, number)
            if consent:
                cards.give_consent(w.round, household, user=person, now=now)
                db.session.commit()
    return w


def close(w) -> list[Statement]:
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    return statements_of(w)


def record_charge_keys(monkeypatch) -> list[str | None]:
    """The Idempotency-Key header of every charge request (POST /v1/payment_intents) that
    leaves this process from now on, in order, as it goes on the wire."""
    sent: list[str | None] = []
    real = requests.Session.request

    def request(self, method, url, *args, **kwargs):
        if method.upper() == "POST" and urlsplit(url).path == "/v1/payment_intents":
            sent.append((kwargs.get("headers") or {}).get("Idempotency-Key"))
        return real(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", request)
    return sent


@pytest.fixture
def wire(monkeypatch) -> list[str | None]:
    return record_charge_keys(monkeypatch)


# --- 1, 2: charged once, with a key fixed before the call -----------------------------------


def test_a_closed_rounds_card_statements_are_charged_once_for_exactly_what_is_owed(
        card_app, localstripe):
    w, statements = closed_card_round(residents=2)
    now = utcnow()

    result = sweep(now)

    assert (result.charged, result.needs_action, result.unknown, result.errors) == (2, 0, 0, [])
    intents = stripe_payment_intents(localstripe)
    assert len(intents) == 2
    for statement in statements:
        fresh(statement)
        assert statement.total_pence == 500
        assert (statement.payment_status, statement.paid_pence) == ("paid", 500)
        [attempt] = attempts_of(statement)
        assert (attempt.attempt, attempt.kind, attempt.status, attempt.amount_pence,
                attempt.credited_pence) == (1, "off_session", "succeeded", 500, 500)
        [pi] = [pi for pi in intents
                if pi.metadata["household_id"] == str(statement.household_id)]
        assert (pi.id, pi.status, pi.amount, pi.currency) == (
            attempt.payment_intent_id, "succeeded", 500, "gbp")
        assert pi.metadata.to_dict() == {
            "round_id": str(w.round.id), "household_id": str(statement.household_id),
            "attempt": "1", "statement_id": str(statement.id),
            "attempt_key": attempt.idempotency_key}

    again = sweep(now + timedelta(minutes=10))

    assert (again.charged, again.looked_up, again.unknown) == (0, 0, 0)
    assert count(CardPayment) == 2
    assert len(stripe_payment_intents(localstripe)) == 2
    assert succeeded_per_household(localstripe) == {h.id: 1 for h in w.households}


def test_the_idempotency_key_is_committed_before_stripe_is_asked_and_fixed_per_attempt(
        card_app, localstripe, monkeypatch, wire):
    """The attempt (key, amount, status "pending") is in the database, committed, while the
    charge request is under way, and the key sent to Stripe names (round, household, 1)."""
    w, [statement] = closed_card_round(residents=1, units=12)
    seen_during_call = []
    real_charge = stripe_gateway.charge_off_session

    engine = db.engine

    def charge_and_look(config, **kwargs):
        # Another connection sees only what is committed. (The call runs in a worker
        # thread, which has no app context: the engine is taken from this one.)
        with engine.connect() as other:
            seen_during_call.append(other.execute(
                select(CardPayment.__table__.c.idempotency_key,
                       CardPayment.__table__.c.status, CardPayment.__table__.c.amount_pence)
            ).all())
        seen_during_call.append(kwargs["idempotency_key"])
        return real_charge(config, **kwargs)

    monkeypatch.setattr(stripe_gateway, "charge_off_session", charge_and_look)

    sweep(utcnow())

    key = seen_during_call[1]
    assert key.startswith(f"bulkbuy-charge-r{w.round.id}-h{w.households[0].id}-a1-")
    assert seen_during_call == [[(key, "pending", 1000)], key]
    assert wire == [key]
    [attempt] = attempts_of(statement)
    assert (attempt.idempotency_key, attempt.status) == (key, "succeeded")
    assert fresh(statement).payment_status == "paid"


def test_charge_key_is_the_same_for_the_same_attempt_and_differs_otherwise():
    key = attempts.charge_key
    assert key(3, 7, 1, "ab12") == key(3, 7, 1, "ab12") == "bulkbuy-charge-r3-h7-a1-ab12"
    assert len({key(3, 7, 1, "n"), key(3, 7, 2, "n"), key(3, 8, 1, "n"), key(4, 7, 1, "n"),
                key(37, 1, 1, "n"), key(3, 71, 1, "n")}) == 6


def test_charge_keys_made_for_the_same_ids_differ_so_another_database_cannot_replay_ours():
    """A reset demo or a second copy of the database repeats ids; Stripe must not answer
    its new charge with our old one."""
    assert len({attempts.charge_key(3, 7, 1) for _ in range(50)}) == 50


# --- 3: cards that need the resident ------------------------------------------------------


def test_a_card_needing_authentication_or_declined_needs_the_resident_and_is_not_retried(
        card_app, localstripe):
    w, [needs_auth, declined] = closed_card_round(
        residents=2, numbers=(CARD_NEEDS_AUTH, CARD_DECLINED_ON_CHARGE))
    now = utcnow()

    result = sweep(now)

    assert (result.charged, result.needs_action) == (0, 2)
    fresh(needs_auth)
    assert (needs_auth.payment_status, needs_auth.needs_action_reason,
            needs_auth.paid_pence) == ("needs_action", "authentication", 0)
    [auth_attempt] = attempts_of(needs_auth)
    assert auth_attempt.status == "requires_action"
    assert auth_attempt.payment_intent_id is not None
    fresh(declined)
    assert (declined.payment_status, declined.needs_action_reason,
            declined.paid_pence) == ("needs_action", "declined", 0)
    [declined_attempt] = attempts_of(declined)
    assert (declined_attempt.status, declined_attempt.error_code) == ("declined",
                                                                      "card_declined")
    for statement, resident in ((needs_auth, w.residents[0]), (declined, w.residents[1])):
        mails = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.to_address == resident.email)).all()
        assert [m for m in mails if f"/pay/{statement.id}" in m.body], (
            f"no e-mail to {resident.email} with a link to /pay/{statement.id}")
    intents_before = len(stripe_payment_intents(localstripe))

    again = sweep(now + timedelta(hours=1))

    assert (again.charged, again.needs_action, again.looked_up) == (0, 0, 0)
    assert [a.attempt for a in attempts_of(needs_auth)] == [1]
    assert [a.attempt for a in attempts_of(declined)] == [1]
    assert len(stripe_payment_intents(localstripe)) == intents_before
    assert succeeded_per_household(localstripe) == {}


# --- 4: rounds that did not go ahead -------------------------------------------------------


def test_failed_and_cancelled_rounds_are_never_charged(card_app, localstripe):
    """A round that missed its minimum order and one cancelled while open take nothing; a
    closed round swept at the same time is charged (so the sweep did run)."""
    failed = card_world((12,), name="Ash Court", prefix="ash-", min_order_pence=100_000)
    assert closing.close_round(failed.round.id,
                               failed.round.closes_at + timedelta(seconds=1)).status == "failed"
    db.session.commit()
    cancelled = card_world((12,), name="Birch Row", prefix="birch-")
    rounds.cancel_round(cancelled.round, actor=cancelled.organiser, now=utcnow())
    db.session.commit()
    assert closing.close_round(cancelled.round.id,
                               cancelled.round.closes_at + timedelta(seconds=1)) is None
    db.session.commit()
    control = card_world((12,), name="Cedar Lane", prefix="cedar-")
    close(control)
    now = utcnow()

    first = sweep(now)
    second = sweep(now + timedelta(hours=1))

    assert (first.charged, second.charged) == (1, 0)
    for w in (failed, cancelled):
        assert db.session.scalar(
            select(func.count()).select_from(CardPayment)
            .where(CardPayment.round_id == w.round.id)) == 0
    charged_households = set(succeeded_per_household(localstripe))
    assert charged_households == {h.id for h in control.households}
    assert {pi.metadata["round_id"] for pi in stripe_payment_intents(localstripe)} == {
        str(control.round.id)}


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_even_a_statement_left_due_on_a_round_that_did_not_go_ahead_is_not_charged(
        card_app, localstripe, status):
    """Only closed, ordered, delivered and complete rounds are charged: a due statement on a
    failed or cancelled round (with a saved card and consent) is left alone."""
    w, [statement] = closed_card_round(residents=1, units=12)
    db.session.execute(update(Round).where(Round.id == w.round.id).values(status=status))
    db.session.commit()

    result = sweep(utcnow())

    assert result.charged == 0
    assert (fresh(statement).payment_status, statement.paid_pence) == ("due", 0)
    assert attempts_of(statement) == []
    assert stripe_payment_intents(localstripe) == []


def test_a_round_cancelled_after_close_is_not_charged(card_app, localstripe):
    w, statements = closed_card_round(residents=1, units=12)
    refunds.cancel_closed_round(w.round, actor=w.organiser, now=utcnow())
    db.session.commit()

    result = sweep(utcnow())

    assert result.charged == 0
    assert [fresh(s).payment_status for s in statements] == ["cancelled"]
    assert count(CardPayment) == 0
    assert stripe_payment_intents(localstripe) == []


# --- 5: the consented maximum -------------------------------------------------------------


def test_a_statement_above_the_consented_maximum_is_not_charged_off_session(
        card_app, localstripe):
    """The pledge was raised after consent (not agreed again): the statement (£10) is above
    what the household agreed to for 6 tins, so it needs the resident, who is e-mailed."""
    w = card_world((6,))
    agreed = cards.consent_of(w.round.id, w.households[0].id).max_pence
    pledges.set_pledge(w.round.items[0], w.households[0], 12, 0, entered_by=w.residents[0],
                       now=utcnow(), max_units=999)
    db.session.commit()
    [over] = close(w)
    assert over.total_pence == 1000 > agreed

    result = sweep(utcnow())

    assert (result.charged, result.needs_action) == (0, 0)
    fresh(over)
    assert (over.payment_status, over.needs_action_reason, over.paid_pence) == (
        "needs_action", "over_consent", 0)
    assert attempts_of(over) == []
    assert stripe_payment_intents(localstripe) == []
    assert [m for m in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.to_address == w.residents[0].email)) if f"/pay/{over.id}" in m.body]


def test_a_statement_one_penny_over_the_consent_is_not_charged_and_one_equal_to_it_is(
        card_app, localstripe):
    w, [over, exact] = closed_card_round(residents=2)
    for statement, most in ((over, over.total_pence - 1), (exact, exact.total_pence)):
        db.session.execute(update(CardConsent).where(
            CardConsent.round_id == w.round.id,
            CardConsent.household_id == statement.household_id,
        ).values(max_pence=most))
    db.session.commit()

    sweep(utcnow())

    assert (fresh(over).payment_status, over.needs_action_reason) == (
        "needs_action", "over_consent")
    assert attempts_of(over) == []
    assert (fresh(exact).payment_status, exact.paid_pence) == ("paid", 500)
    assert succeeded_per_household(localstripe) == {exact.household_id: 1}


def test_a_household_that_never_consented_is_not_charged_off_session(card_app, localstripe):
    """A saved card is not consent: without it for this round the household pays on our page
    or in cash, and its statement stays due."""
    w, statements = closed_card_round(residents=1, units=12, consent=False)

    result = sweep(utcnow())

    assert (result.charged, result.needs_action) == (0, 0)
    assert count(CardPayment) == 0
    assert stripe_payment_intents(localstripe) == []
    for statement in statements:
        assert (fresh(statement).payment_status, statement.paid_pence) == ("due", 0)


# --- 6, 7, 8: small amounts and cash ------------------------------------------------------


@pytest.mark.parametrize(("unit_pence", "charged"), [(29, False), (30, True)])
def test_a_statement_below_stripes_30p_minimum_is_not_charged_and_stays_due(
        card_app, localstripe, unit_pence, charged):
    w = card_world((1, 99), product=("Sweets", 100, unit_pence * 100))
    small, big = close(w)
    assert small.total_pence == unit_pence

    sweep(utcnow())

    assert (fresh(big).payment_status, big.paid_pence) == ("paid", big.total_pence)
    if charged:
        assert (fresh(small).payment_status, small.paid_pence) == ("paid", 30)
        assert [a.amount_pence for a in attempts_of(small)] == [30]
    else:
        assert (fresh(small).payment_status, small.paid_pence) == ("due", 0)
        assert attempts_of(small) == []
    assert succeeded_per_household(localstripe) == {
        **({small.household_id: 1} if charged else {}), big.household_id: 1}


def test_cash_part_paid_before_the_sweep_leaves_only_the_rest_to_charge(card_app, localstripe):
    w, [statement] = closed_card_round(residents=1, units=12)
    cash_service.record_cash(statement, 200, "R-001", actor=w.worker, now=utcnow())
    db.session.commit()

    sweep(utcnow())

    [attempt] = attempts_of(statement)
    assert (attempt.amount_pence, attempt.credited_pence, attempt.status) == (
        800, 800, "succeeded")
    assert (fresh(statement).payment_status, statement.paid_pence) == ("paid", 1000)
    [pi] = stripe_payment_intents(localstripe)
    assert (pi.status, pi.amount, pi.id) == ("succeeded", 800, attempt.payment_intent_id)


def test_cash_cannot_be_recorded_while_a_card_charge_is_under_way(card_app, localstripe):
    w, [statement] = closed_card_round(residents=1, units=12)
    db.session.execute(update(Statement).where(Statement.id == statement.id)
                       .values(payment_status="charging"))
    db.session.commit()

    with pytest.raises(ServiceError, match="card payment is being taken"):
        cash_service.record_cash(statement, 200, "R-001", actor=w.worker, now=utcnow())
    db.session.rollback()

    assert (fresh(statement).payment_status, statement.paid_pence) == ("charging", 0)
    assert count(CashPayment) == 0
    # Once the charge has its answer (here: none taken, due again) the same cash is taken.
    db.session.execute(update(Statement).where(Statement.id == statement.id)
                       .values(payment_status="due"))
    db.session.commit()
    cash_service.record_cash(statement, 200, "R-001", actor=w.worker, now=utcnow())
    db.session.commit()
    assert (fresh(statement).payment_status, statement.paid_pence) == ("due", 200)


def test_cash_taken_while_the_sweep_runs_leaving_under_30p_is_not_charged_and_stops_nothing(
        card_app, localstripe, monkeypatch):
    """A worker records £4.80 of a £5 statement at the drop-in while the sweep is running:
    after the sweep listed the statement, before it claimed it. The 20p left is below
    Stripe's minimum, so it is not charged (it stays due, for cash), and the sweep goes on to
    charge the next household; later sweeps run normally.

    (The claim, due -> charging, re-checks Stripe's minimum: without that a 20p attempt
    would be committed, the charge would raise, and the statement would be stuck
    "charging" with cash refused.)
    """
    w, [raced, other] = closed_card_round(residents=2)
    real_claim = charge_sweep.start_attempt

    def cash_comes_in_first(statement_id, now):
        if statement_id == raced.id:
            cash_service.record_cash(db.session.get(Statement, statement_id), 480, "R-001",
                                 actor=w.worker, now=now)
            db.session.commit()
        return real_claim(statement_id, now)

    monkeypatch.setattr(charge_sweep, "start_attempt", cash_comes_in_first)
    now = utcnow()
    failures = []
    try:
        sweep(now)
    except Exception as exc:
        failures.append(f"the sweep raised {exc!r}")
        db.session.rollback()
    monkeypatch.setattr(charge_sweep, "start_attempt", real_claim)
    try:
        sweep(now + timedelta(minutes=10))
    except Exception as exc:
        failures.append(f"a later sweep raised {exc!r}")
        db.session.rollback()

    assert failures == [], "; ".join(failures)
    assert (fresh(raced).payment_status, raced.paid_pence) == ("due", 480)
    assert (fresh(other).payment_status, other.paid_pence) == ("paid", 500)
    assert succeeded_per_household(localstripe) == {other.household_id: 1}


# --- 9: two schedulers at once -------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_sweeps_at_once_charge_every_statement_exactly_once(card_app, localstripe):
    """Two schedulers sweep at the same moment (real threads, one session each)."""
    assert db.engine.dialect.name == "postgresql"
    w, statements = closed_card_round(residents=6)
    household_ids = [h.id for h in w.households]
    statement_ids = [s.id for s in statements]
    db.session.remove()  # the main thread holds no transaction while they race
    now = utcnow()
    start = threading.Barrier(2, timeout=30)
    results, failures = [], []

    def scheduler():
        try:
            with card_app.app_context():
                start.wait()
                results.append(sweeps.sweep_payments(
                    now, config=card_app.config))
                db.session.remove()
        except Exception as exc:  # reported below, in the test's own thread
            failures.append(exc)

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a sweep hung"
    assert failures == []

    assert sum(r.charged for r in results) == 6
    assert succeeded_per_household(localstripe) == {h: 1 for h in household_ids}
    assert len(stripe_payment_intents(localstripe)) == 6
    assert count(CardPayment) == 6
    for statement_id in statement_ids:
        statement = db.session.get(Statement, statement_id)
        assert (statement.payment_status, statement.paid_pence) == ("paid", 500)
        assert [a.attempt for a in attempts_of(statement)] == [1]


# --- 10: paying on our page ----------------------------------------------------------------


def test_pay_now_after_a_decline_charges_the_new_card_as_attempt_two(card_app, localstripe):
    w, [statement] = closed_card_round(residents=1, units=12,
                                       numbers=(CARD_DECLINED_ON_CHARGE,))
    now = utcnow()
    sweep(now)
    assert (fresh(statement).payment_status, statement.needs_action_reason) == (
        "needs_action", "declined")
    save_card(w.households[0], w.residents[0], CARD_OK)  # on our payment page

    attempt = pay_now.pay_now(statement, config=current_app.config, now=now,
                              commit=commit_now)

    assert (attempt.attempt, attempt.kind, attempt.status, attempt.amount_pence) == (
        2, "on_session", "succeeded", 1000)
    assert attempt.idempotency_key.startswith(
        f"bulkbuy-charge-r{w.round.id}-h{w.households[0].id}-a2-")
    assert (fresh(statement).payment_status, statement.paid_pence,
            statement.needs_action_reason) == ("paid", 1000, None)
    assert [(a.attempt, a.status) for a in attempts_of(statement)] == [
        (1, "declined"), (2, "succeeded")]
    [pi] = [pi for pi in stripe_payment_intents(localstripe) if pi.status == "succeeded"]
    assert (pi.id, pi.amount, pi.metadata["attempt"]) == (attempt.payment_intent_id, 1000, "2")

    with pytest.raises(ServiceError):
        pay_now.pay_now(statement, config=current_app.config, now=now, commit=commit_now)
    assert succeeded_per_household(localstripe) == {w.households[0].id: 1}

