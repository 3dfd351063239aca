"""Random sequences of payment events through the real services on the real database.

Charges answered (paid, declined, 3-D Secure, lost with or without the money taken,
HTTP 5xx), webhooks, look-ups of lost attempts and refunds (the payment sweep), cash,
write-offs and a round cancelled, in any order. After every step: every status
change was a move of `bulkbuy.domain.payment_states`, and the money adds up.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from bulkbuy import sweeps
from bulkbuy.adapters import stripe_gateway as gateway
from bulkbuy.domain.payment_states import ATTEMPT, REFUND, STATEMENT
from bulkbuy.extensions import db
from bulkbuy.models import (
    AuditEntry,
    CardConsent,
    CardPayment,
    CardRefund,
    CashPayment,
    OutboxMessage,
    Round,
    SavedCard,
    Statement,
    StripeEvent,
    WriteOff,
    utcnow,
)
from bulkbuy.services import ServiceError
from bulkbuy.services.payments import cash, refunds, stripe_events
from tests import factories


class ScriptedStripe:
    """A fake Stripe, in process, whose answers the test scripts.

    A fake (not localstripe) because the test must choose at will when an answer is
    lost, and whether Stripe took the money all the same; and because hundreds of
    examples must run in seconds. It keeps PaymentIntents and refunds as Stripe would
    (a repeated key gets the same PaymentIntent; a key answered 5xx gets 5xx again),
    so look-ups tell the truth. The real HTTP path is covered by the localstripe tests
    (test_card_*.py, test_stripe_*.py, test_chaos.py).
    """

    def __init__(self):
        self.intents: dict[str, dict] = {}
        self.by_key: dict[str, str] = {}
        self.failed_keys: set[str] = set()
        self.refunds: dict[str, dict] = {}
        self.charge_answer = "succeeded"
        self.refund_answer = "accepted"
        self._ids = itertools.count(1)

    def reset(self):
        self.__init__()

    # --- charges
    def charge_off_session(self, config, *, customer_id, payment_method_id, amount_pence,
                           idempotency_key, metadata, off_session=True):
        if idempotency_key in self.failed_keys:
            return gateway.ChargeOutcome("unknown", None, None, "replayed 500", 500)
        if idempotency_key in self.by_key:
            pi = self.intents[self.by_key[idempotency_key]]
            return self._outcome(pi)
        answer = self.charge_answer
        if answer == "http_5xx":
            self.failed_keys.add(idempotency_key)
            return gateway.ChargeOutcome("unknown", None, None, "500", 500)
        if answer == "lost_not_taken":
            return gateway.ChargeOutcome("unknown", None, None, "timed out")
        status = {"succeeded": "succeeded", "declined": "requires_payment_method",
                  "requires_action": "requires_action", "lost_taken": "succeeded"}[answer]
        pi = {"id": f"pi_{next(self._ids)}", "status": status, "amount": amount_pence,
              "metadata": {k: str(v) for k, v in metadata.items()}, "key": idempotency_key}
        self.intents[pi["id"]] = pi
        self.by_key[idempotency_key] = pi["id"]
        if answer == "lost_taken":
            return gateway.ChargeOutcome("unknown", None, None, "timed out")
        return self._outcome(pi)

    @staticmethod
    def _outcome(pi):
        kind = {"succeeded": "succeeded", "requires_action": "requires_action"}.get(
            pi["status"], "declined")
        return gateway.ChargeOutcome(kind, pi["id"], "card_declined" if kind == "declined"
                                     else None)

    def _info(self, pi):
        return gateway.PaymentIntentInfo(pi["id"], pi["status"], pi["amount"], "gbp", None,
                                         dict(pi["metadata"]))

    def retrieve_payment_intent(self, config, payment_intent_id):
        return self._info(self.intents[payment_intent_id])

    def find_payment_intent(self, config, *, idempotency_metadata, since=None, pace=None,
                            seconds=0.0):
        key = str(idempotency_metadata["attempt_key"])
        return self._info(self.intents[self.by_key[key]]) if key in self.by_key else None

    # --- refunds
    def refund(self, config, payment_intent_id, amount_pence, idempotency_key):
        answer = self.refund_answer
        if answer == "refused":
            raise gateway.GatewayError("refused", code="charge_disputed", http_status=400)
        found = self.find_refund(config, payment_intent_id, idempotency_key)
        if found is None:
            rid = f"re_{next(self._ids)}"
            self.refunds[rid] = {"id": rid, "pi": payment_intent_id, "amount": amount_pence,
                                 "key": idempotency_key}
            found = self.find_refund(config, payment_intent_id, idempotency_key)
        if answer == "lost":
            raise gateway.GatewayError("timed out", http_status=None)
        return found

    def find_refund(self, config, payment_intent_id, idempotency_key):
        for r in self.refunds.values():
            if r["key"] == idempotency_key:
                return gateway.RefundInfo(r["id"], "succeeded", r["amount"], r["pi"],
                                          r["key"])
        return None


FAKE = ScriptedStripe()
TABLES_OF = ((Statement, "payment_status", STATEMENT), (CardPayment, "status", ATTEMPT),
             (CardRefund, "status", REFUND))

households = st.integers(0, 1)
steps = st.lists(st.one_of(
    st.tuples(st.just("sweep"), st.sampled_from(
        ["succeeded", "declined", "requires_action", "lost_taken", "lost_not_taken",
         "http_5xx"])),
    st.tuples(st.just("refund_answers"), st.sampled_from(["accepted", "refused", "lost"])),
    st.tuples(st.just("webhook"), households, st.sampled_from(["succeeded", "failed"])),
    st.tuples(st.just("cash"), households, st.integers(1, 4)),
    st.tuples(st.just("write_off"), households),
    st.tuples(st.just("retry_refund"), households),
    st.tuples(st.just("cancel"),),
), min_size=1, max_size=12)


@pytest.fixture
def payments_world(app, monkeypatch):
    app.config.update(STRIPE_SECRET_KEY="sk_test_scripted", STRIPE_CONCURRENT_CHARGES=1,
                      STRIPE_REQUESTS_PER_SECOND=100000)
    for name in ("charge_off_session", "retrieve_payment_intent", "find_payment_intent",
                 "refund", "find_refund"):
        monkeypatch.setattr(gateway, name, getattr(FAKE, name))
    w = factories.world(residents=2, products=(("Tinned tomatoes", 12, 1000),))
    db.session.execute(update(Round).where(Round.id == w.round.id).values(status="closed"))
    db.session.commit()
    return w


def _start_example(w, totals, limits):
    """Empty what an example writes, then 1-2 households owing, each with a card."""
    FAKE.reset()
    for model in (CardRefund, CardPayment, CashPayment, WriteOff, StripeEvent, Statement,
                  CardConsent, SavedCard, OutboxMessage, AuditEntry):
        db.session.execute(delete(model))
    db.session.execute(update(Round).where(Round.id == w.round.id).values(status="closed"))
    chosen = zip(w.households[:len(totals)], totals, limits[:len(totals)], strict=True)
    for position, (household, total, limit) in enumerate(chosen):
        db.session.add(Statement(round_id=w.round.id, household_id=household.id,
                                 goods_pence=total, fee_pence=0, total_pence=total,
                                 position=position, paid_pence=0,
                                 payment_status=STATEMENT.start("due")))
        db.session.add(SavedCard(household_id=household.id, customer_id=f"cus_{household.id}",
                                 payment_method_id=f"pm_{household.id}", status="saved",
                                 updated_at=utcnow()))
        db.session.add(CardConsent(round_id=w.round.id, household_id=household.id,
                                   max_pence=total + limit, consented_at=utcnow()))
    db.session.commit()


def _states():
    return {(model.__name__, row.id): getattr(row, column)
            for model, column, _table in TABLES_OF for row in db.session.scalars(select(model))}


def _check_moves(before, after):
    tables = {model.__name__: table for model, _column, table in TABLES_OF}
    for key, now_status in after.items():
        table = tables[key[0]]
        if key in before:
            assert table.reachable(before[key], now_status), (
                f"{key}: {before[key]} -> {now_status} is no move of the {table.kind} table")
        else:
            assert any(table.reachable(s, now_status) for s in table.initial), (
                f"{key}: a new {table.kind} in {now_status}")


def _check_money():
    for statement in db.session.scalars(select(Statement)):
        tried = list(db.session.scalars(select(CardPayment).where(
            CardPayment.statement_id == statement.id)))
        cash_in = sum(c.amount_pence for c in db.session.scalars(
            select(CashPayment).where(CashPayment.statement_id == statement.id)))
        credited = sum(a.credited_pence for a in tried if a.status == "succeeded")
        assert statement.paid_pence == cash_in + credited
        assert 0 <= statement.paid_pence <= statement.total_pence
        keys = {a.idempotency_key: a for a in tried}
        taken = [pi for pi in FAKE.intents.values()
                 if pi["key"] in keys and pi["status"] == "succeeded"]
        assert len(taken) <= 1, f"statement {statement.id} charged twice: {taken}"
        back_at_stripe = 0
        for pi in taken:
            at_stripe = sum(r["amount"] for r in FAKE.refunds.values() if r["pi"] == pi["id"])
            assert at_stripe <= pi["amount"], "refunded more than the card took"
            back_at_stripe += at_stripe
        for attempt in tried:
            assert 0 <= attempt.refunded_pence <= attempt.amount_pence
            asked = sum(r.amount_pence for r in db.session.scalars(select(CardRefund).where(
                CardRefund.card_payment_id == attempt.id, CardRefund.status != "failed")))
            assert asked == attempt.refunded_pence
        # Paid never above owed plus refunded: any card money over what is owed is on its
        # way back, known to an organiser (a failed refund), or not yet known to us.
        owed = 0 if statement.payment_status == "cancelled" else statement.total_pence
        kept_cash = 0 if statement.payment_status == "cancelled" else cash_in
        on_way_back = sum(a.refunded_pence + refunds.refund_still_owed(a) for a in tried
                          if a.status == "succeeded")
        unknown_to_us = sum(pi["amount"] for pi in taken
                            if keys[pi["key"]].status != "succeeded")
        assert (sum(pi["amount"] for pi in taken) + kept_cash
                <= owed + max(on_way_back, back_at_stripe) + unknown_to_us)


def _statement_of(w, index):
    return db.session.scalar(select(Statement).where(
        Statement.household_id == w.households[index].id))


def _webhook(w, index, outcome, now, number):
    statement = _statement_of(w, index)
    if statement is None:
        return
    attempt = db.session.scalar(select(CardPayment).where(
        CardPayment.statement_id == statement.id).order_by(CardPayment.attempt.desc()))
    pi = FAKE.intents.get(FAKE.by_key.get(attempt.idempotency_key)) if attempt else None
    if pi is None:
        return
    if pi["status"] == "requires_action":  # the resident answered their bank
        pi["status"] = "succeeded" if outcome == "succeeded" else "requires_payment_method"
    kind = {"succeeded": "payment_intent.succeeded", "requires_action":
            "payment_intent.requires_action"}.get(pi["status"], "payment_intent.payment_failed")
    event = gateway.WebhookEvent(f"evt_{number}", kind, {
        "id": pi["id"], "object": "payment_intent", "status": pi["status"],
        "metadata": pi["metadata"]})
    stripe_events.handle_event(event, now)
    db.session.commit()


def _step(w, step, now, number):
    kind = step[0]
    if kind == "sweep":
        FAKE.charge_answer = step[1]
        sweeps.sweep_payments(now)
    elif kind == "refund_answers":
        FAKE.refund_answer = step[1]
    elif kind == "webhook":
        _webhook(w, step[1], step[2], now, number)
    else:
        try:
            if kind == "cash":
                statement = _statement_of(w, step[1])
                if statement is not None:
                    owed = statement.total_pence - statement.paid_pence
                    cash.record_cash(statement, max(1, owed * step[2] // 4), f"R{number}",
                                     actor=w.worker, now=now)
            elif kind == "write_off":
                statement = _statement_of(w, step[1])
                if statement is not None:
                    cash.write_off(statement, "group_covers", actor=w.organiser, now=now)
            elif kind == "retry_refund":
                statement = _statement_of(w, step[1])
                if statement is not None:
                    for attempt in db.session.scalars(select(CardPayment).where(
                            CardPayment.statement_id == statement.id)):
                        if refunds.refund_still_owed(attempt):
                            refunds.retry_failed_refund(attempt, actor=w.organiser, now=now)
            elif kind == "cancel":
                refunds.cancel_closed_round(db.session.get(Round, w.round.id),
                                            actor=w.organiser, now=now)
            db.session.commit()
        except ServiceError:
            db.session.rollback()


@settings(max_examples=200, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(totals=st.lists(st.integers(30, 3000), min_size=1, max_size=2),
       limits=st.lists(st.sampled_from([0, 0, 0, -1]), min_size=2, max_size=2),
       events=steps)
def test_every_sequence_of_payment_events_moves_by_the_table_and_keeps_the_money_right(
        payments_world, totals, limits, events):
    w = payments_world
    _start_example(w, totals, limits)
    now = utcnow()
    before = _states()
    for number, step in enumerate(events):
        now += timedelta(minutes=5)  # past every lease and re-check
        _step(w, step, now, number)
        db.session.expire_all()
        after = _states()
        _check_moves(before, after)
        _check_money()
        before = after
