"""Gifts to the solidarity pot (issue #17 point 3, "in"): chosen with the card consent
or handed over with cash, a line of their own on the bill, received by the pot only
with the money (once per card charge or cash payment), and given back with it.

Oak Estate's round: tinned tomatoes (12 a box, £10 a box), no fee. Three households
pledge 4 tins each: the box is shared £3.33, £3.33, £3.34 (the most each could owe is
£3.34); a round-up gives 67p, 67p, 66p.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, CardConsent, CardPayment, SolidarityEntry, utcnow
from bulkbuy.services import ServiceError, closing, pledges, solidarity
from bulkbuy.services.payments import attempts, pay_now, refunds
from bulkbuy.services.payments import cash as cash_service
from tests import factories
from tests.conftest import Auth
from tests.integration.test_card_charging import attempts_of, fresh, statements_of, sweep
from tests.stripe_helpers import CARD_OK, save_card

TINS = ("Tinned tomatoes", 12, 1000)


def gift_world(gifts, *, cards=True):
    """Three households pledge 4 tins each; household i saves a card and agrees to pay
    by card with gifts[i] ((kind, fixed pence) or None) when `cards`."""
    w = factories.world(residents=3, products=(TINS,))
    item = w.round.items[0]
    now = utcnow()
    for household, person, gift in zip(w.households, w.residents, gifts, strict=True):
        pledges.set_pledge(item, household, 4, 0, entered_by=person, now=now, max_units=999)
        db.session.commit()
        if cards:
            save_card(household, person, CARD_OK)
            kind, fixed = gift or (None, None)
            pay_now.agree_to_pay_by_card({}, w.round, household.id, user=person, now=now,
                                         gift_kind=kind, gift_fixed_pence=fixed)
            db.session.commit()
    return w


def close(w):
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    return statements_of(w)


def gifts(group_id: int) -> list[tuple[str, int]]:
    return [(r, a) for r, a in db.session.execute(
        select(SolidarityEntry.reason, SolidarityEntry.amount_pence)
        .where(SolidarityEntry.group_id == group_id).order_by(SolidarityEntry.id))]


def consent(w, number: int) -> CardConsent:
    return db.session.scalar(select(CardConsent).where(
        CardConsent.round_id == w.round.id,
        CardConsent.household_id == w.households[number].id))


def test_a_round_up_is_agreed_with_the_card_added_at_close_and_paid_into_the_pot_once(
        card_app, localstripe):
    w = gift_world([("round_up", None), ("fixed", 50), None])
    assert [consent(w, i).max_pence for i in range(3)] == [400, 384, 334]

    statements = close(w)

    assert [s.total_pence for s in statements] == [333, 333, 334]
    assert [s.gift_pence for s in statements] == [67, 50, 0]
    assert gifts(w.group.id) == []  # promised, not paid: the pot has nothing yet

    result = sweep(utcnow())

    assert result.charged == 3
    amounts = [attempts_of(fresh(s))[0].amount_pence for s in statements]
    assert amounts == [400, 383, 334]
    assert [s.payment_status for s in statements] == ["paid"] * 3
    assert [s.paid_pence for s in statements] == [333, 333, 334]
    assert sorted(gifts(w.group.id)) == [("gift", 50), ("gift", 67)]
    assert solidarity.balance(w.group.id) == 117
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "card.refund_queued")) == 0

    # The same answer again (a webhook after the sweep) adds nothing.
    payment = attempts_of(statements[0])[0]
    assert attempts.settle_attempt(payment, "succeeded", now=utcnow()) == "no change"
    sweep(utcnow() + timedelta(minutes=10))
    assert solidarity.balance(w.group.id) == 117


def test_the_bill_shows_the_gift_as_its_own_line(card_app, localstripe):
    w = gift_world([("round_up", None), None, None])
    close(w)
    sweep(utcnow())
    client = card_app.test_client()
    Auth(client).login(w.residents[0].email)
    page = client.get(f"/rounds/{w.round.id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Your gift to the group's solidarity pot</th><td class=\"num\">£0.67" in text
    assert "£0.67" in text


def test_a_gift_over_the_consent_is_trimmed_at_close_and_said_so(card_app, localstripe):
    w = gift_world([("fixed", 200), None, None])
    row = consent(w, 0)
    assert row.max_pence == 534
    row.max_pence = 400  # as if the bill grew past what was agreed with the gift
    db.session.commit()

    [first, *_rest] = close(w)

    assert first.gift_pence == 67
    trimmed = db.session.scalar(select(AuditEntry).where(
        AuditEntry.action == "solidarity.gift_trimmed"))
    assert trimmed is not None
    sweep(utcnow())
    assert attempts_of(fresh(first))[0].amount_pence == 400
    assert solidarity.balance(w.group.id) == 67


@pytest.mark.parametrize("kind, fixed, words", [
    ("fixed", 2001, "at most"), ("fixed", 0, "above"), ("tip", None, "from the list")])
def test_a_gift_refused_at_consent_changes_nothing(card_app, localstripe, kind, fixed, words):
    w = gift_world([None, None, None], cards=False)
    household, person = w.households[0], w.residents[0]
    save_card(household, person, CARD_OK)
    with pytest.raises(ServiceError) as refused:
        pay_now.agree_to_pay_by_card({}, w.round, household.id, user=person, now=utcnow(),
                                     gift_kind=kind, gift_fixed_pence=fixed)
    db.session.rollback()
    assert words in str(refused.value.message)
    assert consent(w, 0) is None


def test_cash_with_a_gift_pays_the_pot_and_goes_back_when_reversed(app):
    w = gift_world([None, None, None], cards=False)
    statements = close(w)
    worker = w.organiser
    with pytest.raises(ServiceError):
        cash_service.record_cash(statements[0], 333, "R-1", actor=worker, now=utcnow(),
                                 gift_pence=2500)
    db.session.rollback()
    assert gifts(w.group.id) == [] and fresh(statements[0]).paid_pence == 0

    payment = cash_service.record_cash(statements[0], 333, "R-1", actor=worker,
                                       now=utcnow(), gift_pence=100)
    db.session.commit()

    assert fresh(statements[0]).payment_status == "paid"
    assert statements[0].gift_pence == 100
    assert gifts(w.group.id) == [("gift", 100)]

    cash_service.reverse_cash(payment, "Wrong household", actor=worker, now=utcnow())
    db.session.commit()
    assert gifts(w.group.id) == [("gift", 100), ("gift_given_back", -100)]
    assert fresh(statements[0]).gift_pence == 0
    assert solidarity.balance(w.group.id) == 0


def test_a_round_cancelled_after_close_gives_card_gifts_back(card_app, localstripe):
    w = gift_world([("round_up", None), ("fixed", 50), None])
    statements = close(w)
    sweep(utcnow())
    assert solidarity.balance(w.group.id) == 117

    refunds.cancel_closed_round(w.round, actor=w.organiser, now=utcnow())
    db.session.commit()

    assert solidarity.balance(w.group.id) == 0
    refunded = [fresh_payment.refunded_pence for s in statements
                for fresh_payment in attempts_of(fresh(s))]
    assert refunded == [400, 383, 334]
    assert [s.gift_pence for s in statements] == [0, 0, 0]


def test_a_gift_the_pot_has_spent_is_kept_and_not_refunded(card_app, localstripe):
    w = gift_world([("round_up", None), None, None])
    statements = close(w)
    sweep(utcnow())
    # The pot spent the gift meanwhile (as on a supported household's bill).
    db.session.add(SolidarityEntry(group_id=w.group.id, amount_pence=-60,
                                   reason="round_help", recorded_at=utcnow()))
    db.session.commit()

    refunds.cancel_closed_round(w.round, actor=w.organiser, now=utcnow())
    db.session.commit()

    assert solidarity.balance(w.group.id) == 0  # never below 0
    [payment] = attempts_of(fresh(statements[0]))
    assert payment.refunded_pence == 400 - 60
    assert refunds.refund_still_owed(payment) == 0
    assert db.session.scalar(select(func.count()).select_from(CardPayment)) == 3


# --- defects found in review (potfix) ------------------------------------------------------------


def test_a_bill_back_up_after_a_delivery_refund_never_counts_the_gift_as_paid(
        card_app, localstripe):
    """Flat 3 (the last pledger, whose bill a shortfall shrinks) owes £3.34 and gives a
    66p round-up: its card takes £4.00. Two tins short: £1.67 goes back to the card.
    Corrected, everything came: the bill is £3.34 again. The 66p is the pot's; it must
    not also be credited to the bill (the card is charged the £1.67 again)."""
    from bulkbuy.services import rounds
    from tests.integration.test_delivery import save

    w = gift_world([None, None, ("round_up", None)])
    statements = close(w)
    sweep(utcnow())
    [payment] = attempts_of(fresh(statements[2]))
    assert (payment.amount_pence, payment.credited_pence) == (400, 334)
    rounds.mark_ordered(w.round, reference="PO-1",
                        expected_on=(w.round.closes_at + timedelta(days=2)).date(),
                        actor=w.organiser, now=utcnow())
    db.session.commit()

    save(w, {"Tinned tomatoes": (12, 2)})
    sweep(utcnow())
    save(w, {"Tinned tomatoes": (12, 0)})
    sweep(utcnow() + timedelta(minutes=10))

    bill = fresh(statements[2])
    charges = attempts_of(bill)
    credited = sum(c.credited_pence for c in charges if c.status == "succeeded")
    assert (bill.total_pence, bill.paid_pence, credited) == (334, 334, 334)
    assert solidarity.balance(w.group.id) == 66
    kept = sum(c.amount_pence - c.refunded_pence for c in charges
               if c.status == "succeeded")
    assert kept == 334 + 66  # the card paid the bill and the gift, once each


def test_a_round_with_a_card_gift_and_a_cash_gift_balances_and_can_be_finished(app):
    """Flat 1's card took £4.00: its £3.33 bill and a 67p gift (card rows written
    directly, as test_settlement.py does). Flat 2 paid £3.33 cash with £1 for the pot;
    Flat 3 paid £3.34 cash. Everything arrived and every bag was collected."""
    from bulkbuy.models import Round
    from bulkbuy.services import collection, delivery, rounds, settlement
    from tests.integration.test_settlement import figures, paid_by_card

    w = gift_world([None, None, None], cards=False)
    statements = close(w)
    card = paid_by_card(w, 1, 400, 333)
    solidarity.receive_card_gift(fresh(statements[0]), card.id, 67, utcnow())
    cash_service.record_cash(fresh(statements[1]), 333, "R-2", actor=w.worker,
                             now=utcnow(), gift_pence=100)
    cash_service.record_cash(fresh(statements[2]), 334, "R-3", actor=w.worker,
                             now=utcnow())
    db.session.commit()
    rnd = db.session.get(Round, w.round.id)
    rounds.mark_ordered(rnd, reference=None, expected_on=(rnd.closes_at + timedelta(
        days=2)).date(), actor=w.organiser, now=rnd.closes_at)
    delivery.record_delivery(rnd, [delivery.Arrived(rnd.items[0].id, 12, 0)], [], None,
                             drawn_version=rnd.delivery_version, actor=w.organiser,
                             now=utcnow())
    for household in w.households:
        collection.collect(rnd, household.id, neighbour_name=None, cash=None,
                           actor=w.worker, now=utcnow())
    db.session.commit()

    found = settlement.books(db.session.get(Round, w.round.id))

    shown = figures(found)
    assert (shown["card_in"], shown["cash_in"], shown["cash_gifts"], shown["received"],
            shown["paid"], shown["pot_gifts"], shown["accounted"]) == (
        400, 667, 100, 1167, 1000, 167, 1167)
    assert found.balanced and found.mismatches == [] and found.left == []
    settlement.finish_round(db.session.get(Round, w.round.id), actor=w.organiser,
                            now=utcnow())
    db.session.commit()
    assert db.session.get(Round, w.round.id).status == "complete"


def test_a_round_cancelled_after_close_whose_pot_spent_the_gift_balances(
        card_app, localstripe):
    """The pot spent 60p of Flat 1's 67p gift before the round was cancelled: the card
    gets £3.40 back, and the books account for the 60p the pot keeps."""
    from bulkbuy.models import Round
    from bulkbuy.services import settlement

    w = gift_world([("round_up", None), None, None])
    close(w)
    sweep(utcnow())
    db.session.add(SolidarityEntry(group_id=w.group.id, amount_pence=-60,
                                   reason="round_help", recorded_at=utcnow()))
    db.session.commit()
    refunds.cancel_closed_round(w.round, actor=w.organiser, now=utcnow())
    db.session.commit()

    found = settlement.books(db.session.get(Round, w.round.id))

    assert found.balanced and found.mismatches == []
    assert found.difference_pence == 0


def test_a_bill_paid_on_the_pay_page_drops_the_gift_it_did_not_charge(card_app, localstripe):
    """Flat 1 pays on its own pay page before the sweep: that charge is the bill only, so
    the 67p round-up planned at close is dropped from the bill (the pot never had it)."""
    from flask import current_app

    from bulkbuy.transactions import commit_now

    w = gift_world([("round_up", None), None, None])
    [first, *_rest] = close(w)
    assert first.gift_pence == 67

    attempt = pay_now.pay_now(first, config=current_app.config, now=utcnow(),
                              commit=commit_now)

    assert (attempt.amount_pence, attempt.status) == (333, "succeeded")
    bill = fresh(first)
    assert (bill.payment_status, bill.paid_pence, bill.gift_pence) == ("paid", 333, 0)
    assert solidarity.balance(w.group.id) == 0


def test_a_bill_written_off_drops_the_gift_still_to_come(card_app, localstripe):
    w = gift_world([("round_up", None), None, None])
    [first, *_rest] = close(w)
    assert first.gift_pence == 67

    cash_service.write_off(fresh(first), "group_covers", actor=w.organiser, now=utcnow())
    db.session.commit()

    bill = fresh(first)
    assert (bill.payment_status, bill.gift_pence) == ("settled", 0)
    assert solidarity.balance(w.group.id) == 0


def test_a_bill_paid_in_cash_without_a_gift_drops_the_card_gift(card_app, localstripe):
    w = gift_world([("round_up", None), None, None])
    [first, *_rest] = close(w)

    cash_service.record_cash(fresh(first), 333, "R-1", actor=w.worker, now=utcnow())
    db.session.commit()

    bill = fresh(first)
    assert (bill.payment_status, bill.gift_pence) == ("paid", 0)
    sweep(utcnow())
    assert attempts_of(fresh(first)) == [] and solidarity.balance(w.group.id) == 0


def test_the_card_agreement_names_the_gift_and_shows_the_most_agreed_with_it(card_app):
    """Flat 1's most is £3.34; the tick-box, in the same form as the gift choice, says the
    gift comes on top. Agreeing with a round-up (66p on £3.34), the most shown after is the
    one stored: £4.00."""
    from tests.pages import page

    w = gift_world([None, None, None], cards=False)
    client = card_app.test_client()
    Auth(client).login(w.residents[0].email)

    before = page(client.get("/my-orders"))
    assert ("It is never more than £3.34, plus the gift you choose above (if any)."
            in before)

    saving = client.post(f"/rounds/{w.round.id}/pay-by-card",
                         data={"agree": "yes", "gift": "round_up"})
    assert saving.status_code == 200
    assert "It will be no more than £4." in page(saving)
    assert consent(w, 0).max_pence == 400
    save_card(w.households[0], w.residents[0], CARD_OK)
    after = page(client.get("/my-orders"))
    assert "We take no more than £4." in after


def test_cash_whose_gift_the_pot_has_spent_cannot_be_reversed(app):
    """A £1 gift came with Flat 1's cash; the pot then spent 60p of it. Reversing the
    cash would leave the pot holding a gift that never existed: refused, nothing moves."""
    w = gift_world([None, None, None], cards=False)
    statements = close(w)
    payment = cash_service.record_cash(statements[0], 333, "R-1", actor=w.organiser,
                                       now=utcnow(), gift_pence=100)
    db.session.add(SolidarityEntry(group_id=w.group.id, amount_pence=-60,
                                   reason="round_help", recorded_at=utcnow()))
    db.session.commit()

    with pytest.raises(ServiceError) as refused:
        cash_service.reverse_cash(payment, "Wrong household", actor=w.organiser,
                                  now=utcnow())
    db.session.rollback()

    assert "solidarity pot" in str(refused.value.message)
    bill = fresh(statements[0])
    assert (bill.payment_status, bill.paid_pence, bill.gift_pence) == ("paid", 333, 100)
    assert db.session.get(type(payment), payment.id).reversed_at is None
    assert gifts(w.group.id) == [("gift", 100), ("round_help", -60)]


@pytest.mark.parametrize("damaged, status", [
    (12, "settled"),  # nothing came: nothing to pay, its £1.67 is held for it
    (2, "paid"),      # 10 came: Flat 3, last in the queue, gets 2 tins, paid by its £1.67
])
def test_a_delivery_that_leaves_nothing_to_pay_drops_the_gift_still_to_come(
        card_app, localstripe, damaged, status):
    """Flat 3 agreed a 66p round-up with its card, then paid £1.67 of its £3.34 in cash
    before the delivery. The delivery brings its bill down to what it has paid: the bill
    is done and the card will never be charged, so the gift that charge was to carry is
    dropped from the bill (the pot never had it), as when a bill is paid in cash or
    written off."""
    from bulkbuy.services import rounds
    from tests.integration.test_delivery import save

    w = gift_world([None, None, ("round_up", None)])
    *_rest, third = close(w)
    cash_service.record_cash(fresh(third), 167, "R-1", actor=w.worker, now=utcnow())
    db.session.commit()
    assert (fresh(third).payment_status, fresh(third).gift_pence) == ("due", 66)
    rounds.mark_ordered(w.round, reference="PO-1",
                        expected_on=(w.round.closes_at + timedelta(days=2)).date(),
                        actor=w.organiser, now=utcnow())
    db.session.commit()

    save(w, {"Tinned tomatoes": (12, damaged)})

    bill = fresh(third)
    assert bill.payment_status == status
    assert bill.paid_pence == bill.total_pence and bill.gift_pence == 0
    sweep(utcnow())
    assert attempts_of(fresh(third)) == [] and solidarity.balance(w.group.id) == 0
