"""`flask reconcile-payments` and `flask charge-cards`, run as commands against localstripe.

reconcile-payments compares our card attempts with Stripe's PaymentIntents
that carry our metadata, and our refunds with Stripe's refunds of those,
and lists every difference, changing nothing. It
exits 0 when all agree, 1 when there is any difference, 2 when Stripe
cannot be asked (its own docstring). charge-cards runs one payment sweep and
prints its counts; without Stripe settings the app is cash only and says so.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bulkbuy import sweeps
from bulkbuy.adapters import stripe_gateway as gateway
from bulkbuy.extensions import db
from bulkbuy.models import CardPayment, CardRefund, SavedCard, Statement, utcnow
from bulkbuy.services.payments import attempts, charge_sweep, reconcile, refunds
from tests.fault_proxy import closed_port_url
from tests.stripe_helpers import closed_card_round


def run(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    # Whatever the command did, our session must not see stale rows afterwards.
    db.session.expire_all()
    return result


def swept(app, residents: int = 1):
    """A closed round charged by one sweep: every household paid by card."""
    w, statements = closed_card_round(residents=residents, units=12 // residents)
    result = sweeps.sweep_payments(utcnow(), config=app.config)
    assert result.charged == residents
    payments = [db.session.scalar(select(CardPayment).where(CardPayment.statement_id == s.id))
                for s in statements]
    return w, statements, payments


def charge_behind_our_back(app, statement: Statement, metadata: dict, key: str,
                           amount: int = 1000) -> str:
    """Stripe takes a payment whose answer we never recorded; returns its id."""
    card = db.session.scalar(select(SavedCard).where(
        SavedCard.household_id == statement.household_id))
    outcome = gateway.charge_off_session(
        app.config, customer_id=card.customer_id, payment_method_id=card.payment_method_id,
        amount_pence=amount, idempotency_key=key, metadata=metadata)
    assert outcome.kind == "succeeded"
    return outcome.payment_intent_id


def lines(result) -> list[str]:
    return result.output.splitlines()


# --- reconcile-payments -----------------------------------------------------------------------


def test_reconcile_when_all_agree_exits_0(card_app):
    swept(card_app, residents=2)

    result = run(card_app, "reconcile-payments")

    assert result.exit_code == 0, result.output
    assert lines(result) == ["compared 2 PaymentIntent(s) with our records", "0 difference(s)"]


def test_reconcile_with_nothing_at_all_agrees(card_app):
    result = run(card_app, "reconcile-payments")
    assert result.exit_code == 0, result.output
    assert lines(result)[-1] == "0 difference(s)"


def test_a_payment_intent_with_our_metadata_that_we_never_recorded_is_listed(card_app):
    w, (statement,), _payments = swept(card_app)
    pi_id = charge_behind_our_back(
        card_app, statement, {"round_id": 9999, "household_id": 9998, "attempt": 1,
                                    "attempt_key": "somebody-elses-key"},
        key="somebody-elses-key")

    result = run(card_app, "reconcile-payments")

    assert result.exit_code == 1
    assert f"  {pi_id}: Stripe has it (succeeded, 1000p); we have no record of ours" in lines(
        result)
    assert lines(result)[-1] == "1 difference(s)"


def test_a_charge_whose_answer_we_lost_is_listed_with_our_attempt(card_app):
    w, (statement,) = closed_card_round(residents=1, units=12)
    payment = charge_sweep.start_attempt(statement.id, utcnow())
    db.session.commit()
    pi_id = charge_behind_our_back(card_app, statement, payment.metadata_for_stripe,
                                   payment.idempotency_key, payment.amount_pence)

    result = run(card_app, "reconcile-payments")

    assert result.exit_code == 1
    assert lines(result)[1:] == [
        f"  {pi_id}: Stripe has it (succeeded, 1000p); we have our attempt 1 for household "
        f"{statement.household_id}",
        f"  -: attempt 1 for household {statement.household_id} has no answer yet (pending)",
        "2 difference(s)",
    ]
    # Read-only: the sweep and webhooks settle it, not the report.
    assert (payment.status, payment.payment_intent_id) == ("pending", None)
    assert (statement.payment_status, statement.paid_pence) == ("charging", 0)


def test_a_status_mismatch_is_listed(card_app):
    w, (statement,), (payment,) = swept(card_app)
    payment.status = "declined"
    db.session.commit()

    result = run(card_app, "reconcile-payments")

    assert result.exit_code == 1
    assert lines(result)[1:] == [
        f"  {payment.payment_intent_id}: Stripe says succeeded; we say declined (attempt 1, "
        f"household {statement.household_id})",
        "1 difference(s)",
    ]


def test_an_amount_mismatch_is_listed(card_app):
    w, _statements, (payment,) = swept(card_app)
    payment.amount_pence += 1
    db.session.commit()

    result = run(card_app, "reconcile-payments")

    assert result.exit_code == 1
    assert (f"  {payment.payment_intent_id}: Stripe amount {payment.amount_pence - 1}p; "
            f"ours {payment.amount_pence}p") in lines(result)


def test_an_attempt_with_no_answer_is_listed(card_app):
    w, (statement,) = closed_card_round(residents=1, units=12)
    charge_sweep.start_attempt(statement.id, utcnow())
    db.session.commit()

    result = run(card_app, "reconcile-payments")

    assert result.exit_code == 1
    assert lines(result) == [
        "compared 0 PaymentIntent(s) with our records",
        f"  -: attempt 1 for household {statement.household_id} has no answer yet (pending)",
        "1 difference(s)",
    ]


def test_a_payment_intent_we_recorded_that_stripe_does_not_have_is_listed(card_app):
    w, _statements, (payment,) = swept(card_app)
    payment.payment_intent_id = "pi_onlyinourbooks"
    db.session.commit()

    result = run(card_app, "reconcile-payments")

    assert result.exit_code == 1
    assert "  pi_onlyinourbooks: we have it (succeeded); Stripe does not" in lines(result)


def test_reconcile_without_stripe_settings_is_an_error_that_is_not_a_difference(card_app):
    card_app.config["STRIPE_SECRET_KEY"] = None

    result = run(card_app, "reconcile-payments")

    assert "Stripe is not set up" in result.output
    assert result.exit_code != 0
    # 1 means "there are differences"; Stripe that cannot be asked is 2.
    assert result.exit_code == 2


def test_reconcile_when_stripe_cannot_be_reached_exits_2(card_app):
    card_app.config["STRIPE_API_BASE"] = closed_port_url()
    card_app.config["STRIPE_TIMEOUT"] = 2.0

    result = run(card_app, "reconcile-payments")

    assert result.exit_code == 2
    assert "could not ask Stripe" in result.output
    assert "sk_test" not in result.output


# --- charge-cards -------------------------------------------------------------------------------


def test_charge_cards_charges_due_statements_and_prints_its_counts(card_app):
    w, statements = closed_card_round()

    result = run(card_app, "charge-cards")

    assert result.exit_code == 0, result.output
    assert lines(result) == [
        "charged 2, needs action 0, no answer yet 0, looked up 0, refunds sent 0"]
    for statement in statements:
        assert (statement.payment_status, statement.paid_pence) == ("paid", statement.total_pence)
    assert run(card_app, "reconcile-payments").exit_code == 0

    again = run(card_app, "charge-cards")
    assert lines(again) == [
        "charged 0, needs action 0, no answer yet 0, looked up 0, refunds sent 0"]


def test_charge_cards_counts_a_card_that_needs_the_resident(card_app):
    from tests.stripe_helpers import CARD_NEEDS_AUTH

    w, (statement,) = closed_card_round(residents=1, units=12, numbers=(CARD_NEEDS_AUTH,))

    result = run(card_app, "charge-cards")

    assert lines(result) == [
        "charged 0, needs action 1, no answer yet 0, looked up 0, refunds sent 0"]
    assert (statement.payment_status, statement.needs_action_reason) == (
        "needs_action", "authentication")
    assert run(card_app, "reconcile-payments").exit_code == 0  # Stripe agrees


def test_charge_cards_takes_now(card_app):
    w, (statement,) = closed_card_round(residents=1, units=12)
    payment = charge_sweep.start_attempt(statement.id, utcnow())
    db.session.commit()
    charge_behind_our_back(card_app, statement, payment.metadata_for_stripe,
                           payment.idempotency_key, payment.amount_pence)

    early = run(card_app, "charge-cards")
    later = run(card_app, "charge-cards", "--now",
                (utcnow() + attempts.LEASE + timedelta(seconds=30)).isoformat())

    assert "looked up 0" in early.output  # the attempt's lease has not run out
    assert lines(later) == [
        "charged 0, needs action 0, no answer yet 0, looked up 1, refunds sent 0"]
    assert (payment.status, statement.payment_status) == ("succeeded", "paid")


def test_charge_cards_refuses_a_time_without_a_zone(card_app):
    result = run(card_app, "charge-cards", "--now", "2026-03-14T18:00:00")
    assert result.exit_code == 2
    assert "time zone" in result.output


def test_charge_cards_without_stripe_says_cash_only_and_charges_nothing(card_app):
    w, statements = closed_card_round(residents=1, units=12)
    card_app.config["STRIPE_SECRET_KEY"] = None

    result = run(card_app, "charge-cards")

    assert result.exit_code == 0
    assert "cash only" in result.output
    assert db.session.scalars(select(CardPayment)).all() == []
    assert [s.payment_status for s in statements] == ["due"]


# --- refunds ----------------------------------------------------------------------------------


def refunded_round(app):
    """Two households paid by card; the round was cancelled and both refunds made."""
    w, statements, payments = swept(app, residents=2)
    refunds.cancel_closed_round(w.round, actor=w.organiser, now=utcnow())
    db.session.commit()
    assert sweeps.sweep_payments(utcnow(), config=app.config).refunded == 2
    return w, statements, payments


def test_refunds_made_as_we_recorded_them_agree(card_app):
    refunded_round(card_app)

    result = run(card_app, "reconcile-payments")

    assert result.exit_code == 0, result.output
    assert lines(result)[-1] == "0 difference(s)"


def test_a_refund_made_at_stripe_behind_our_back_is_listed(card_app):
    w, statements, (payment,) = swept(card_app, residents=1)
    made = gateway.refund(card_app.config, payment.payment_intent_id, 250,
                          idempotency_key="someone-in-the-dashboard")

    result = run(card_app, "reconcile-payments")

    assert result.exit_code == 1
    assert lines(result)[1:] == [
        f"  {payment.payment_intent_id}: Stripe refunded 250p (succeeded, {made.id}); "
        "we have no record of that refund",
        "1 difference(s)"]


def test_a_refund_whose_status_or_amount_differs_is_listed(card_app):
    w, statements, payments = refunded_round(card_app)
    first = db.session.scalar(select(CardRefund).where(
        CardRefund.card_payment_id == payments[0].id))
    first.status, first.amount_pence = "failed", first.amount_pence - 1  # our record is off
    db.session.commit()

    result = run(card_app, "reconcile-payments")

    assert result.exit_code == 1
    pi = payments[0].payment_intent_id
    assert lines(result)[1:] == [
        f"  {pi}: refund {first.refund_id}: Stripe says succeeded; we say failed",
        f"  {pi}: refund {first.refund_id}: Stripe amount 500p; ours 499p",
        "2 difference(s)"]


def test_a_refund_with_no_answer_yet_is_listed(card_app):
    w, statements, (payment,) = swept(card_app, residents=1)
    refunds.cancel_closed_round(w.round, actor=w.organiser, now=utcnow())
    db.session.commit()  # queued, not yet sent by a sweep

    result = run(card_app, "reconcile-payments")

    assert result.exit_code == 1
    assert lines(result)[1:] == [
        f"  {payment.payment_intent_id}: a refund of 1000p has no answer yet (pending)",
        "1 difference(s)"]


def test_two_stripe_refunds_answering_our_one_are_listed_with_the_sum_past_the_payment(
        card_app):
    """A peer that forgets idempotency keys (localstripe) refunds again when asked again:
    both refunds carry our one key. Each matches our record alone, so they are also added
    up per PaymentIntent."""
    w, statements, payments = refunded_round(card_app)
    payment = payments[0]
    refund = db.session.scalar(select(CardRefund).where(
        CardRefund.card_payment_id == payment.id))
    again = gateway.refund(card_app.config, payment.payment_intent_id, refund.amount_pence,
                           idempotency_key=refund.idempotency_key)

    result = run(card_app, "reconcile-payments")

    assert result.exit_code == 1
    pi = payment.payment_intent_id
    assert sorted(lines(result)[1:-1]) == sorted([
        f"  {pi}: Stripe made 2 refunds ({', '.join(sorted((refund.refund_id, again.id)))}) "
        f"for our one refund "
        f"{refund.idempotency_key}",
        f"  {pi}: Stripe refunded 1000p in all of a payment that took 500p"])
    assert lines(result)[-1] == "2 difference(s)"


def test_a_payment_intent_refunded_past_what_it_took_is_listed(card_app):
    w, statements, (payment,) = swept(card_app, residents=1)
    made = gateway.refund(card_app.config, payment.payment_intent_id, 1200,
                          idempotency_key="someone-in-the-dashboard")

    result = run(card_app, "reconcile-payments")

    pi = payment.payment_intent_id
    assert lines(result)[1:] == [
        f"  {pi}: Stripe refunded 1200p (succeeded, {made.id}); we have no record of that "
        "refund",
        f"  {pi}: Stripe refunded 1200p in all of a payment that took 1000p",
        "2 difference(s)"]


def test_a_decline_that_came_without_its_payment_intent_id_agrees(card_app):
    """localstripe's decline carries no PaymentIntent id, so we record the attempt without
    it; Stripe's PaymentIntent names it by metadata and says the same: no difference."""
    from tests.stripe_helpers import CARD_DECLINED_ON_CHARGE

    _w, (statement,) = closed_card_round(residents=1, units=12,
                                         numbers=(CARD_DECLINED_ON_CHARGE,))
    sweeps.sweep_payments(utcnow(), config=card_app.config)
    [attempt] = db.session.scalars(select(CardPayment)).all()
    assert (attempt.status, attempt.payment_intent_id) == ("declined", None)

    result = run(card_app, "reconcile-payments")

    assert result.exit_code == 0, result.output
    assert lines(result) == ["compared 1 PaymentIntent(s) with our records", "0 difference(s)"]
    attempt.status = "succeeded"  # were our record to say otherwise, it is listed
    db.session.commit()
    assert "we have our attempt 1" in run(card_app, "reconcile-payments").output


# --- beyond the list Stripe gives ---------------------------------------------------------------


def _other_payment_intents(app, count: int) -> None:
    """PaymentIntents of the account that are not ours (no metadata): another app's."""
    import requests
    import stripe

    session = requests.Session()
    client = stripe.StripeClient(app.config["STRIPE_SECRET_KEY"],
                                 base_addresses={"api": app.config["STRIPE_API_BASE"]},
                                 http_client=stripe.RequestsClient(session=session),
                                 max_network_retries=0)
    for _ in range(count):
        client.v1.payment_intents.create(params={"amount": 700, "currency": "gbp"})
    session.close()


def test_our_payments_beyond_stripes_list_are_fetched_and_compared_not_called_missing(
        card_app):
    """Other PaymentIntents fill the list Stripe gives (2 here; localstripe lists oldest
    first, so ours comes after them): ours is fetched by its id and agrees. Before, it was
    reported as 'Stripe does not' have it."""
    _other_payment_intents(card_app, 3)
    _w, _statements, (payment,) = swept(card_app)

    compared, differences = reconcile_now(card_app, limit=2)

    assert (compared, differences) == (1, [])
    payment.payment_intent_id = "pi_onlyinourbooks"
    db.session.commit()
    _compared, differences = reconcile_now(card_app, limit=2)
    assert [d.what for d in differences] == ["we have it (succeeded); Stripe does not"]


def test_our_payments_beyond_the_fetch_limit_are_named_as_not_compared(card_app, monkeypatch):


    monkeypatch.setattr(reconcile, "FETCH_LIMIT", 1)
    _other_payment_intents(card_app, 2)
    swept(card_app, residents=2)

    _compared, differences = reconcile_now(card_app, limit=2)

    assert [d.what for d in differences] == [
        "1 older card payments of ours were not compared (run again with a larger limit)"]


def reconcile_now(app, limit: int):


    result = reconcile.reconcile(app.config, limit=limit)
    db.session.expire_all()
    return result


def test_a_refund_another_app_made_on_the_same_account_is_not_ours(card_app):
    """Another app's PaymentIntent (no metadata of ours), refunded at Stripe, is in the
    lists reconcile reads; it is not a difference of ours."""
    import requests
    import stripe

    _w, statements, (payment,) = swept(card_app)
    card = db.session.scalar(select(SavedCard).where(
        SavedCard.household_id == statements[0].household_id))
    session = requests.Session()
    client = stripe.StripeClient(card_app.config["STRIPE_SECRET_KEY"],
                                 base_addresses={"api": card_app.config["STRIPE_API_BASE"]},
                                 http_client=stripe.RequestsClient(session=session),
                                 max_network_retries=0)
    theirs = client.v1.payment_intents.create(params={
        "amount": 700, "currency": "gbp", "customer": card.customer_id,
        "payment_method": card.payment_method_id, "confirm": True, "off_session": True})
    client.v1.refunds.create(params={"payment_intent": theirs.id, "amount": 300})
    session.close()

    compared, differences = reconcile_now(card_app, limit=100)

    assert theirs.status == "succeeded"
    assert (compared, differences) == (1, [])
