"""Delivery day (#14), card side, against localstripe: a card already charged gets a
partial refund of the difference (one refund per change, never more than was taken,
settled by its answer and its webhook, asked again when Stripe refuses it); a card not
yet charged is charged the new amount, never above what the household agreed to.

The world: a case of 12 tins at £10. Flat 1 asked for 6 first, Flat 2 for 6 after it;
both saved a card and agreed to pay by card (up to £5.00 each). Shortfalls come off
Flat 2 (the later pledger) first."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bulkbuy import sweeps
from bulkbuy.extensions import db
from bulkbuy.models import CardPayment, CardRefund, Statement, utcnow
from bulkbuy.services import delivery, rounds
from bulkbuy.services.payments import refunds
from bulkbuy.services.payments import saved_cards as cards
from bulkbuy.services.payments.reconcile import reconcile
from tests import factories
from tests.integration.helpers.live_server import post_event, refund_object, stripe_event
from tests.integration.test_card_refunds import (
    assert_refunded_pence_matches_refunds,
    payment_intents_at_stripe,
    refunds_at_stripe,
)
from tests.integration.test_delivery import bills, item, save
from tests.stripe_helpers import closed_card_round

# --- helpers (also used by test_delivery_faults.py) ---------------------------------------------


def sweep(app, now=None):
    return sweeps.sweep_payments(now or utcnow(), config=app.config)


def ordered_card_round(app, *, charged: bool):
    """Flats 1 and 2, six tins (£5.00) each, cards saved and agreed; closed and marked
    ordered. With `charged`, the payment sweep took £5.00 from each card first.
    Returns (world, [Flat 1's statement, Flat 2's])."""
    w, statements = closed_card_round(residents=2, units=6)
    if charged:
        result = sweep(app)
        assert (result.charged, result.errors) == (2, [])
    rounds.mark_ordered(w.round, reference="PO-1",
                        expected_on=(w.round.closes_at + timedelta(days=2)).date(),
                        actor=w.organiser, now=utcnow())
    db.session.commit()
    return w, statements


def card_payments(statement: Statement) -> list[CardPayment]:
    return list(db.session.scalars(
        select(CardPayment).where(CardPayment.statement_id == statement.id)
        .order_by(CardPayment.id).execution_options(populate_existing=True)))


def refunds_of(payment: CardPayment) -> list[CardRefund]:
    return list(db.session.scalars(
        select(CardRefund).where(CardRefund.card_payment_id == payment.id)
        .order_by(CardRefund.id).execution_options(populate_existing=True)))


def refund_event(event_type: str, refund: CardRefund, payment: CardPayment, status: str):
    return stripe_event(event_type, refund_object(
        refund.refund_id, status=status, amount=refund.amount_pence,
        payment_intent=payment.payment_intent_id, refund_key=refund.idempotency_key))


def assert_stripe_refunds(app, payment: CardPayment, amounts: list[int]) -> None:
    """Stripe holds exactly these refunds (in any order) on the payment's PaymentIntent,
    one per refund of ours (by key), never more than the card took. A refund we hold as
    failed is left out: localstripe made it, and its refusal was a faked webhook."""
    db.session.refresh(payment)
    refused = {r.idempotency_key for r in refunds_of(payment) if r.status == "failed"}
    at_stripe = [r for r in refunds_at_stripe(app, payment.payment_intent_id)
                 if r.metadata.to_dict().get("refund_key") not in refused]
    assert sorted(r.amount for r in at_stripe) == sorted(amounts), (
        f"Stripe refunded {[r.amount for r in at_stripe]} on {payment.payment_intent_id}, "
        f"expected {amounts}")
    ours = {r.idempotency_key: r for r in refunds_of(payment) if r.status != "failed"}
    keys = [r.metadata.to_dict().get("refund_key") for r in at_stripe]
    assert sorted(keys) == sorted(ours), "one Stripe refund for each refund of ours"
    for refund in at_stripe:
        assert ours[refund.metadata["refund_key"]].amount_pence == refund.amount
    assert sum(r.amount for r in at_stripe) <= payment.amount_pence


# --- card already charged ------------------------------------------------------------------------


def test_a_short_delivery_refunds_the_charged_card_exactly_the_difference_once(card_app):
    w, (flat1, flat2) = ordered_card_round(card_app, charged=True)
    [payment] = card_payments(flat2)
    assert (payment.amount_pence, payment.credited_pence) == (500, 500)

    result = save(w, {"Tinned tomatoes": (12, 2)})  # 2 damaged: Flat 2 gets 4 tins, £3.33

    assert (result.statements_changed, result.refunds_queued, result.owed_back_pence) == (
        1, 1, 0)
    [refund] = refunds_of(payment)
    assert (refund.amount_pence, refund.reason, refund.status) == (
        167, "delivery_changed", "pending")
    db.session.refresh(payment)
    assert (payment.credited_pence, payment.refunded_pence) == (333, 167)
    assert bills(w) == {"Flat 1": (500, 500, "paid", 0), "Flat 2": (333, 333, "paid", 0)}

    swept = sweep(card_app)

    assert (swept.refunded, swept.charged, swept.errors) == (1, 0, [])
    [refund] = refunds_of(payment)
    assert refund.status == "succeeded" and refund.refund_id.startswith("re_")
    assert_stripe_refunds(card_app, payment, [167])
    assert_refunded_pence_matches_refunds(payment)
    # Its webhook arriving after the answer settles nothing more.
    answer = post_event(card_app.test_client(),
                        refund_event("refund.updated", refund, payment, "succeeded"))
    assert (answer.status_code, answer.get_json()["outcome"]) == (200, "no change")
    [flat1_payment] = card_payments(flat1)
    assert refunds_of(flat1_payment) == []

    # The same delivery saved again: nothing more is refunded.
    again = save(w, {"Tinned tomatoes": (12, 2)})
    assert (again.statements_changed, again.refunds_queued) == (0, 0)
    assert len(refunds_of(payment)) == 1
    assert sweep(card_app).refunded == 0

    # Two more tins turn out damaged: only the new difference goes back.
    shorter = save(w, {"Tinned tomatoes": (12, 4)})  # Flat 2 gets 2 tins, £1.67

    assert (shorter.statements_changed, shorter.refunds_queued) == (1, 1)
    assert sweep(card_app).refunded == 1
    assert [(r.amount_pence, r.status) for r in refunds_of(payment)] == [
        (167, "succeeded"), (166, "succeeded")]
    assert_stripe_refunds(card_app, payment, [167, 166])  # 333p: 500p taken, 167p owed
    assert bills(w) == {"Flat 1": (500, 500, "paid", 0), "Flat 2": (167, 167, "paid", 0)}
    db.session.refresh(payment)
    assert (payment.credited_pence, payment.refunded_pence) == (167, 333)
    assert refunds.refund_still_owed(payment) == 0
    assert reconcile(card_app.config)[1] == []


def test_a_delivery_that_takes_everything_off_a_charged_card_refunds_it_in_full(card_app):
    """Nothing of Flat 2's arrived: all of its card payment goes back, and no more."""
    w, (_flat1, flat2) = ordered_card_round(card_app, charged=True)
    [payment] = card_payments(flat2)

    save(w, {"Tinned tomatoes": (6, 0)})
    save(w, {"Tinned tomatoes": (6, 0)})
    sweep(card_app)

    assert bills(w)["Flat 2"] == (0, 0, "settled", 0)
    assert_stripe_refunds(card_app, payment, [500])
    assert refunds.queue_refund(payment, 1, reason="delivery_changed", now=utcnow(),
                                keep_pence=0) is None
    assert_refunded_pence_matches_refunds(payment)


# --- card not yet charged ------------------------------------------------------------------------


def test_a_delivery_saved_before_the_charge_sweep_is_charged_at_the_new_total(card_app):
    w, (flat1, flat2) = ordered_card_round(card_app, charged=False)

    result = save(w, {"Tinned tomatoes": (12, 2)})

    assert (result.statements_changed, result.refunds_queued) == (1, 0)
    assert bills(w) == {"Flat 1": (500, 0, "due", 0), "Flat 2": (333, 0, "due", 0)}
    swept = sweep(card_app)

    assert (swept.charged, swept.refunded, swept.errors) == (2, 0, [])
    assert bills(w) == {"Flat 1": (500, 500, "paid", 0), "Flat 2": (333, 333, "paid", 0)}
    [payment] = card_payments(flat2)
    assert (payment.status, payment.amount_pence, payment.credited_pence) == (
        "succeeded", 333, 333)
    amounts = {pi.id: (pi.status, pi.amount) for pi in payment_intents_at_stripe(card_app)}
    assert amounts == {payment.payment_intent_id: ("succeeded", 333),
                       card_payments(flat1)[0].payment_intent_id: ("succeeded", 500)}
    assert refunds_at_stripe(card_app, payment.payment_intent_id) == []


def _with_dear_plums(w, units_lost: int = 2, plum_pence: int = 300):
    """Flat 2 loses `units_lost` tins and gets as many plum tomatoes at `plum_pence` each."""
    tins = item(w, "Tinned tomatoes")
    return save(w, {"Tinned tomatoes": (12 - units_lost, 0)}, [delivery.Substitute(
        tins.id, units_lost, plum_pence, name="Plum tomatoes", unit_description="400g tin")])


def test_a_substitute_above_the_agreed_maximum_is_not_charged_but_asks_the_resident(
        card_app):
    w, (_flat1, flat2) = ordered_card_round(card_app, charged=False)
    agreed = cards.consent_of(w.round.id, flat2.household_id).max_pence
    assert agreed == 500

    _with_dear_plums(w)  # 4 tins (333p) + 2 plums (600p) = 933p

    assert bills(w)["Flat 2"] == (933, 0, "due", 0)
    swept = sweep(card_app)

    assert swept.charged == 1  # Flat 1 only
    db.session.refresh(flat2)
    assert (flat2.payment_status, flat2.needs_action_reason, flat2.paid_pence) == (
        "needs_action", "over_consent", 0)
    assert card_payments(flat2) == []
    assert len(payment_intents_at_stripe(card_app)) == 1


def test_a_corrected_delivery_within_the_agreed_maximum_is_charged_again(card_app):
    """Flat 2's bill went over what it agreed (the sweep asked the resident); the plums'
    price is then corrected to 80p: £4.93 is within the £5.00 agreed, so the statement is
    due again and the next sweep charges the card, without the resident."""
    w, (_flat1, flat2) = ordered_card_round(card_app, charged=False)
    _with_dear_plums(w)
    sweep(card_app)
    db.session.refresh(flat2)
    assert flat2.payment_status == "needs_action"

    _with_dear_plums(w, plum_pence=80)  # 4 tins (333p) + 2 plums (160p) = 493p

    db.session.refresh(flat2)
    assert (flat2.total_pence, flat2.payment_status, flat2.needs_action_reason) == (
        493, "due", None)
    assert sweep(card_app).charged == 1
    assert bills(w)["Flat 2"] == (493, 493, "paid", 0)


def test_a_substitute_on_a_charged_card_never_takes_it_past_the_agreed_maximum(card_app):
    """Flat 2's card took £5.00 (all it agreed to) at close; a substitute now makes its
    bill £9.33. The £4.33 more would take the card to £9.33 in all for the round, past
    the £5.00 agreed: the resident is asked instead (docs/domain-rules.md: "A card is
    never charged more without the resident")."""
    w, (_flat1, flat2) = ordered_card_round(card_app, charged=True)
    agreed = cards.consent_of(w.round.id, flat2.household_id).max_pence

    _with_dear_plums(w)

    assert bills(w)["Flat 2"] == (933, 500, "due", 0)
    sweep(card_app)

    db.session.refresh(flat2)
    taken = sum(p.amount_pence - p.refunded_pence for p in card_payments(flat2)
                if p.status == "succeeded")
    assert taken <= agreed, (
        f"the sweep took {taken}p in all from Flat 2's card for this round, above the "
        f"{agreed}p it agreed to: charge_sweep.start_attempt must count what the card "
        "already paid towards the statement (see the report's diff)")
    assert (flat2.payment_status, flat2.needs_action_reason) == ("needs_action",
                                                                 "over_consent")


def test_a_substitute_within_the_agreed_maximum_is_charged_on_top_of_the_first_charge(
        card_app):
    """Flat 2 loses 2 tins (−167p) and gets 2 plums at 83p (+166p): its card already took
    £5.00; the bill is £4.99, so 1p goes back (below anything to charge)."""
    w, (_flat1, flat2) = ordered_card_round(card_app, charged=True)
    [payment] = card_payments(flat2)

    _with_dear_plums(w, plum_pence=83)
    sweep(card_app)

    assert bills(w)["Flat 2"] == (499, 499, "paid", 0)
    assert_stripe_refunds(card_app, payment, [1])


# --- a refund Stripe refuses ---------------------------------------------------------------------


def test_a_refused_delivery_refund_is_shown_and_asked_again_once(card_app):
    """localstripe never refuses a refund (nor sends refund webhooks): Stripe's
    refund.failed is faked, signed, as in test_card_refunds.py."""
    w, (_flat1, flat2) = ordered_card_round(card_app, charged=True)
    [payment] = card_payments(flat2)
    save(w, {"Tinned tomatoes": (12, 2)})
    sweep(card_app)
    [refused] = refunds_of(payment)

    answer = post_event(card_app.test_client(),
                        refund_event("refund.failed", refused, payment, "failed"))

    assert (answer.status_code, answer.get_json()["outcome"]) == (200, "failed")
    db.session.expire_all()
    assert (refused.status, payment.refunded_pence, payment.credited_pence) == (
        "failed", 0, 333)
    assert refunds.refund_still_owed(payment) == 167
    # The statement keeps its new total: the 167p is owed back to the card, not to the bill.
    assert bills(w)["Flat 2"] == (333, 333, "paid", 0)
    url = f"/organise/{w.group.id}/rounds/{w.round.id}/payments"
    organiser = card_app.test_client()
    organiser.post("/login", data={"email": w.organiser.email,
                                   "password": factories.PASSWORD})
    page = organiser.get(url).get_data(as_text=True)
    assert "A refund of £1.67 to their card did not go through." in page
    assert f"{url}/card/{payment.id}/refund-again" in page

    assert organiser.post(f"{url}/card/{payment.id}/refund-again").status_code == 303
    assert organiser.post(f"{url}/card/{payment.id}/refund-again").status_code == 303
    assert sweep(card_app).refunded == 1

    first, second = refunds_of(payment)
    assert (second.amount_pence, second.reason, second.status) == (
        167, "asked_again", "succeeded")
    assert second.idempotency_key != first.idempotency_key
    assert_stripe_refunds(card_app, payment, [167])
    assert refunds.refund_still_owed(payment) == 0
    assert_refunded_pence_matches_refunds(payment)


def test_a_later_save_after_a_refused_refund_gives_back_only_the_new_difference(card_app):
    """The refused 167p is still owed back (asked again by an organiser); a later, shorter
    save refunds only its own 166p, and asking again then asks for the 167p alone."""
    w, (_flat1, flat2) = ordered_card_round(card_app, charged=True)
    [payment] = card_payments(flat2)
    save(w, {"Tinned tomatoes": (12, 2)})
    sweep(card_app)
    [refused] = refunds_of(payment)
    post_event(card_app.test_client(), refund_event("refund.failed", refused, payment,
                                                    "failed"))

    result = save(w, {"Tinned tomatoes": (12, 4)})
    sweep(card_app)

    assert result.refunds_queued == 1
    assert [(r.amount_pence, r.status) for r in refunds_of(payment)] == [
        (167, "failed"), (166, "succeeded")]
    db.session.refresh(payment)
    assert refunds.refund_still_owed(payment) == 167
    refunds.retry_failed_refund(payment, actor=w.organiser, now=utcnow())
    db.session.commit()
    sweep(card_app)
    assert_stripe_refunds(card_app, payment, [166, 167])
    assert bills(w)["Flat 2"] == (167, 167, "paid", 0)
    assert_refunded_pence_matches_refunds(payment)


def test_a_bill_that_goes_back_up_after_a_refused_refund_uses_the_money_still_held(
        card_app):
    """Two tins were first saved as damaged (167p to go back to the card), Stripe refused
    that refund, then receiving was corrected: everything arrived. The 167p never left
    the group, so the bill is paid as it was, and the card is not charged again."""
    w, (_flat1, flat2) = ordered_card_round(card_app, charged=True)
    [payment] = card_payments(flat2)
    save(w, {"Tinned tomatoes": (12, 2)})
    sweep(card_app)
    [refused] = refunds_of(payment)
    post_event(card_app.test_client(), refund_event("refund.failed", refused, payment,
                                                    "failed"))

    save(w, {"Tinned tomatoes": (12, 0)})
    swept = sweep(card_app)

    charges = card_payments(flat2)
    db.session.refresh(payment)
    assert (len(charges), swept.charged, payment.credited_pence,
            refunds.refund_still_owed(payment), bills(w)["Flat 2"]) == (
        1, 0, 500, 0, (500, 500, "paid", 0)), (
        "the 167p whose refund Stripe refused is still with the group, yet the card was "
        f"charged again ({[c.amount_pence for c in charges]}) and the page still offers "
        f"to refund {refunds.refund_still_owed(payment)}p: delivery._move_money must "
        "credit it back to the statement first (see the report's diff)")


def test_a_bill_that_goes_back_up_before_its_refund_was_sent_keeps_exactly_the_bill(
        card_app):
    """Saved short (167p queued back to the card), then corrected before the sweep ran:
    whatever the sweep does, the card ends paying exactly the bill."""
    w, (_flat1, flat2) = ordered_card_round(card_app, charged=True)
    save(w, {"Tinned tomatoes": (12, 2)})

    save(w, {"Tinned tomatoes": (12, 0)})
    sweep(card_app)

    assert bills(w)["Flat 2"] == (500, 500, "paid", 0)
    kept = 0
    for payment in card_payments(flat2):
        at_stripe = refunds_at_stripe(card_app, payment.payment_intent_id)
        kept += payment.amount_pence - sum(r.amount for r in at_stripe)
        assert_refunded_pence_matches_refunds(payment)
    assert kept == 500
    assert reconcile(card_app.config)[1] == []
