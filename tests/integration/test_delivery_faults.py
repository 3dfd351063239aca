"""Delivery day (#14) refunds when things go wrong: Stripe down or answering 5xx in the
middle of the refund sweep (localstripe behind the fault proxy, a fake), and the sweep
process killed with SIGKILL after the delivery was saved. Whatever happens, once the
sweep comes back each refund is made exactly once at Stripe (counted with the real SDK)
and the card gets back exactly the difference.

The world (test_delivery_card_refunds.py): Flats 1 and 2 paid £5.00 each by card at
close; only 4 of the 12 tins arrive, so Flat 1 gets 4 (£3.33: 167p back) and Flat 2
none (500p back)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bulkbuy.extensions import db
from bulkbuy.models import CardPayment, utcnow
from bulkbuy.services.payments import attempts
from devtools.localstripe_server import TEST_KEY
from tests.fault_proxy import FaultProxy, closed_port_url
from tests.integration.test_card_refunds import (
    assert_refunded_pence_matches_refunds,
    refunds_at_stripe,
    through,
)
from tests.integration.test_delivery import bills, save
from tests.integration.test_delivery_card_refunds import (
    assert_stripe_refunds,
    card_payments,
    ordered_card_round,
    refunds_of,
    sweep,
)

ROOT = Path(__file__).resolve().parents[2]
#: Owed back to each flat's card when 4 tins of 12 arrive.
BACK = {"Flat 1": 167, "Flat 2": 500}


def four_tins_arrived(app):
    """Both flats charged £5.00; the delivery saved (committed) with 4 tins: two refunds
    queued, none asked yet. Returns (world, {flat: its card payment})."""
    w, statements = ordered_card_round(app, charged=True)
    result = save(w, {"Tinned tomatoes": (4, 0)})
    assert result.refunds_queued == 2
    assert bills(w) == {"Flat 1": (333, 333, "paid", 0), "Flat 2": (0, 0, "settled", 0)}
    payments = {s.household.label: card_payments(s)[0] for s in statements}
    for label, payment in payments.items():
        [refund] = refunds_of(payment)
        assert (refund.amount_pence, refund.status) == (BACK[label], "pending")
    return w, payments


def assert_each_refunded_once(app, payments) -> None:
    """Every card got exactly its difference back, in one refund each, at Stripe and in
    our records."""
    for label, payment in payments.items():
        [refund] = refunds_of(payment)
        assert (refund.amount_pence, refund.status) == (BACK[label], "succeeded"), label
        assert_stripe_refunds(app, payment, [BACK[label]])
        assert_refunded_pence_matches_refunds(payment)


# --- Stripe down or answering 5xx -------------------------------------------------------------


@pytest.mark.parametrize("fault, reached_stripe", [
    ("server_error", False),  # a 500 before Stripe made the refund
    ("lost_response", True),  # Stripe made it; the answer was lost on the way back
])
def test_refunds_answered_5xx_mid_sweep_are_made_once_when_stripe_comes_back(
        card_app, fault, reached_stripe):
    w, payments = four_tins_arrived(card_app)
    localstripe = card_app.config["STRIPE_API_BASE"]
    now = utcnow()
    with FaultProxy(localstripe) as proxy, through(card_app, proxy.base_url):
        proxy.fail_next(fault, path_prefix="/v1/refunds", times=2)

        first = sweep(card_app, now)

        assert (first.refunded, len(first.errors)) == (0, 2)
        for payment in payments.values():
            [refund] = refunds_of(payment)
            assert refund.status == "unknown"
            assert_refunded_pence_matches_refunds(payment)  # still reserved meanwhile
            made = refunds_at_stripe(card_app, payment.payment_intent_id, base=localstripe)
            assert len(made) == (1 if reached_stripe else 0)
        assert sweep(card_app, now + timedelta(seconds=5)).refunded == 0  # too soon
        w_bills = bills(w)

        later = sweep(card_app, now + attempts.RECHECK_AFTER + timedelta(seconds=1))

        sent = [r for r in proxy.requests if (r.method, r.path) == ("POST", "/v1/refunds")]
        looked = [r for r in proxy.requests if (r.method, r.path) == ("GET", "/v1/refunds")]
    assert (later.refunded, later.errors) == (2, [])
    assert len(looked) == 2  # each looked up by its key once
    assert len(sent) == (2 if reached_stripe else 4)  # asked again only if Stripe had none
    assert_each_refunded_once(card_app, payments)
    assert bills(w) == w_bills  # the statements were settled by the save, not the sweep
    assert sweep(card_app, now + 2 * attempts.LEASE).refunded == 0


def test_stripe_unreachable_during_the_refunds_then_back_refunds_each_once(card_app):
    w, payments = four_tins_arrived(card_app)
    localstripe = card_app.config["STRIPE_API_BASE"]
    now = utcnow()
    with through(card_app, closed_port_url()):
        down = sweep(card_app, now)
    assert (down.refunded, len(down.errors)) == (0, 2)
    assert [refunds_at_stripe(card_app, p.payment_intent_id, base=localstripe)
            for p in payments.values()] == [[], []]

    back = sweep(card_app, now + attempts.RECHECK_AFTER + timedelta(seconds=1))

    assert (back.refunded, back.errors) == (2, [])
    assert_each_refunded_once(card_app, payments)


def test_a_delivery_changed_while_a_refund_has_no_answer_moves_only_the_new_difference(
        card_app):
    """The first refund's answer is lost; before the sweep looks it up, receiving is
    corrected (one more tin turns out fine). A refund already asked cannot be made
    smaller, so the 83p the bill went up is charged: in all the card keeps exactly the
    final bill, and the lost refund is made once."""
    w, (_flat1, flat2) = ordered_card_round(card_app, charged=True)
    [payment] = card_payments(flat2)
    save(w, {"Tinned tomatoes": (12, 4)})  # Flat 2: 2 tins, 167p; 333p back
    localstripe = card_app.config["STRIPE_API_BASE"]
    now = utcnow()
    with FaultProxy(localstripe) as proxy, through(card_app, proxy.base_url):
        proxy.fail_next("lost_response", path_prefix="/v1/refunds")
        assert sweep(card_app, now).refunded == 0
        [lost] = refunds_of(payment)
        assert lost.status == "unknown"

        again = save(w, {"Tinned tomatoes": (12, 3)})  # Flat 2: 3 tins, 250p

        assert again.refunds_queued == 0
        assert bills(w)["Flat 2"] == (250, 167, "due", 0)
        later = sweep(card_app, now + attempts.RECHECK_AFTER + timedelta(seconds=1))
        sent = [r for r in proxy.requests if (r.method, r.path) == ("POST", "/v1/refunds")]

    assert (later.refunded, later.charged, later.errors) == (1, 1, [])
    assert len(sent) == 1  # found by its key: never asked again
    assert bills(w)["Flat 2"] == (250, 250, "paid", 0)
    first, second = card_payments(flat2)
    assert [r.amount_pence for r in refunds_of(first)] == [333]
    assert_stripe_refunds(card_app, first, [333])
    assert (second.status, second.amount_pence) == ("succeeded", 83)
    kept = sum(p.amount_pence - p.refunded_pence for p in (first, second))
    assert kept == 250
    assert_refunded_pence_matches_refunds(first)


# --- SIGKILL -----------------------------------------------------------------------------------

#: `flask charge-cards` in a process of its own, whose Stripe refund call SIGKILLs the
#: process at a chosen point: "before" the first refund is sent (after its claim was
#: committed), or "after" Stripe made the second (before its answer is committed).
_KILLED_SWEEP = """
import os, signal, sys, threading
import flask.cli
from bulkbuy.adapters import stripe_gateway as gateway

when, now = sys.argv[1], sys.argv[2]
real_refund = gateway.refund
answered = []
lock = threading.Lock()

def refund(*args, **kwargs):
    if when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    answer = real_refund(*args, **kwargs)
    # Refunds are asked several at a time: count the answers, not the calls, so both
    # refunds exist at Stripe when the sweep dies with the second answer unrecorded.
    with lock:
        answered.append(1)
        second = len(answered) == 2
    if when == "after" and second:
        os.kill(os.getpid(), signal.SIGKILL)
    return answer

gateway.refund = refund
flask.cli.cli.main(args=["--app", "bulkbuy", "charge-cards", "--now", now], prog_name="flask")
"""


def killed_sweep(app, when: str, now) -> subprocess.CompletedProcess:
    """Run the payment sweep as `flask charge-cards` against this test's database and
    localstripe, SIGKILLed at `when` (see _KILLED_SWEEP)."""
    db.session.remove()  # hold no transaction (SQLite locks) while it runs
    env = {
        **{k: v for k, v in os.environ.items()
           if not k.startswith(("STRIPE_", "FLASK_", "DATABASE_URL", "MAIL_"))},
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "delivery-faults-test-secret",
        "STRIPE_SECRET_KEY": TEST_KEY,
        "STRIPE_API_BASE": app.config["STRIPE_API_BASE"],
        "STRIPE_TIMEOUT": "5",
        "STRIPE_REQUESTS_PER_SECOND": "1000",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.run([sys.executable, "-c", _KILLED_SWEEP, when, now.isoformat()],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("when, made_before_restart", [
    ("before", 0),  # killed after the first refund's claim, before Stripe was asked
    ("after", 2),   # killed after Stripe made the second refund, before its answer
])
def test_the_sweep_killed_after_the_delivery_was_saved_asks_each_refund_once_on_restart(
        card_app, when, made_before_restart):
    w, payments = four_tins_arrived(card_app)
    now = utcnow()

    ids = {label: payment.id for label, payment in payments.items()}

    killed = killed_sweep(card_app, when, now)

    payments = {label: db.session.get(CardPayment, id_) for label, id_ in ids.items()}
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    made = [r for p in payments.values() for r in refunds_at_stripe(card_app,
                                                                     p.payment_intent_id)]
    assert len(made) == made_before_restart
    # The dead sweep's claim holds until its lease ends; then the restart settles all.
    assert sweep(card_app, now).refunded == (1 if when == "before" else 0)
    restart = sweep(card_app, utcnow() + attempts.LEASE + timedelta(seconds=1))

    assert restart.errors == []
    assert_each_refunded_once(card_app, payments)
    assert sweep(card_app, utcnow() + 2 * attempts.LEASE).refunded == 0
