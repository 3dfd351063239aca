"""Finishing the round (#14): one balance for the group's books, checked to the penny,
a CSV for the treasurer, and delivered -> complete once every bag and bill is done.

The world: tins are £12 a case of 12 (£1 a tin), beans £6 a case of 6 (£1 each); the
£3 delivery fee is shared equally (60p a household). Flats 1, 5 and 2 order 4 tins each
(in that order), Flats 3 and 4 three beans each. Bills at close: £4.60 and £3.60.

- Flat 1 pays £4.60 by card.
- Flat 5 had £1.50 credit from before (used at close) and paid £3.60 by card: 50p too
  much, whose refund fails.
- Flat 2 pays £4.60 cash; a tin came damaged, so the group holds £1 of it: handed back.
- Flat 4 pays £3.60 cash; a bean came damaged, so the group holds £1: kept as credit.
- Flat 3 pays £1 cash (and 50p typed by mistake, reversed); the rest, £2.60, written off.
- The supplier's invoice is £20; households now pay £19.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bulkbuy.extensions import db
from bulkbuy.models import (
    AuditEntry,
    BagHandover,
    CardPayment,
    CardRefund,
    CashPayment,
    HouseholdCredit,
    Round,
    Statement,
    utcnow,
)
from bulkbuy.services import (
    ServiceError,
    closing,
    collection,
    credits,
    delivery,
    rounds,
    settlement,
)
from bulkbuy.services.payments import cash as cash_service
from bulkbuy.services.payments import refunds
from tests import factories
from tests.integration.helpers.closing_checks import pledge


def statement_of(w, flat: int) -> Statement:
    db.session.expire_all()
    return db.session.scalar(select(Statement).where(
        Statement.round_id == w.round.id, Statement.household_id == w.households[flat - 1].id))


def paid_by_card(w, flat: int, amount: int, credited: int) -> CardPayment:
    """A card payment Stripe took, written directly: the card flows themselves (charging,
    answers, webhooks) are tested with localstripe in the payment tests."""
    statement = statement_of(w, flat)
    payment = CardPayment(statement_id=statement.id, round_id=w.round.id,
                          household_id=statement.household_id, attempt=1,
                          idempotency_key=f"test-{statement.id}", amount_pence=amount,
                          status="succeeded", payment_intent_id=f"pi_test_{statement.id}",
                          credited_pence=credited)
    db.session.add(payment)
    statement.paid_pence += credited
    statement.payment_status = "paid"
    db.session.commit()
    return payment


def delivered_world():
    """The world above, delivered, with money moved but nothing yet settled: both
    shortfalls held, Flat 3 owing £2.60, Flat 5's 50p refund failed."""
    now = utcnow()
    w = factories.world(residents=5, products=(("Tinned tomatoes", 12, 1200),
                                               ("Beans", 6, 600)), now=now)
    w.round.delivery_fee_pence, w.round.fee_split = 300, "equal"
    # Flat 5's credit from an earlier round (how one is kept: test_delivery.py).
    db.session.add(HouseholdCredit(group_id=w.group.id, household_id=w.households[4].id,
                                   amount_pence=150, reason="owed_back"))
    db.session.commit()
    for flat, name, units in ((1, "Tinned tomatoes", 4), (5, "Tinned tomatoes", 4),
                              (2, "Tinned tomatoes", 4), (3, "Beans", 3), (4, "Beans", 3)):
        pledge(w, flat - 1, name, units, now=now)
    assert closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    assert (statement_of(w, 5).total_pence, statement_of(w, 5).paid_pence) == (460, 150)

    paid_by_card(w, 1, 460, 460)
    overpaid = paid_by_card(w, 5, 360, 310)
    refund = refunds.queue_refund(overpaid, 50, reason="overpaid", now=now)
    refunds.refund_failed(refund, now)
    for flat, amount, receipt in ((2, 460, "R-2"), (4, 360, "R-4"), (3, 100, "R-3"),
                                  (3, 50, "R-3b")):
        cash_service.record_cash(statement_of(w, flat), amount, receipt, actor=w.worker,
                                 now=now)
    mistake = db.session.scalar(select(CashPayment).where(
        CashPayment.receipt_number == "R-3b"))
    cash_service.reverse_cash(mistake, "typed twice", actor=w.worker, now=now)
    db.session.commit()

    rnd = db.session.get(Round, w.round.id)
    rounds.mark_ordered(rnd, reference=None, expected_on=(rnd.closes_at + timedelta(
        days=2)).date(), actor=w.organiser, now=rnd.closes_at)
    items = {i.name: i.id for i in rnd.items}
    delivery.record_delivery(
        rnd, [delivery.Arrived(items["Tinned tomatoes"], 12, 1),
              delivery.Arrived(items["Beans"], 6, 1)], [], 2000,
        drawn_version=rnd.delivery_version, actor=w.organiser, now=now)
    db.session.commit()
    return w, overpaid


def settle_everything(w, overpaid: CardPayment) -> None:
    """Hand back Flat 2's £1, keep Flat 4's as credit, write off Flat 3's rest, ask for
    Flat 5's refund again (Stripe takes it), and hand over every bag."""
    now = utcnow()
    credits.hand_back(statement_of(w, 2), actor=w.worker, now=now)
    credits.keep_as_credit(statement_of(w, 4), actor=w.worker, now=now)
    cash_service.write_off(statement_of(w, 3), "group_covers", actor=w.organiser, now=now)
    again = refunds.retry_failed_refund(db.session.get(CardPayment, overpaid.id),
                                        actor=w.organiser, now=now)
    refunds.apply_refund_status(again, "succeeded", "re_test_1", now)
    rnd = db.session.get(Round, w.round.id)
    for household in w.households[:4]:
        collection.collect(rnd, household.id, neighbour_name=None, cash=None,
                           actor=w.worker, now=now)
    collection.give_away(rnd, w.households[4].id, "not collected in two weeks: food bank",
                         actor=w.worker, now=now)
    db.session.commit()


def figures(found: settlement.Books) -> dict[str, int | None]:
    return {figure.key: figure.pence for figure in found.figures}


def test_the_books_balance_to_the_penny_and_the_round_finishes_once_all_is_done(app):
    w, overpaid = delivered_world()
    rnd = db.session.get(Round, w.round.id)

    held = settlement.books(rnd)

    assert figures(held) == {
        # Goods now: tins 400 + 400 + 300, beans 300 + 200; fees 5 × 60.
        "goods": 1600, "fees": 300, "bills": 1900, "outstanding": 260,
        "card_in": 460 + 360, "card_refunded": 0, "cash_in": 460 + 360 + 100,
        "cash_handed_back": 0, "spare_sold": 0, "received": 1740, "credits_used": 150,
        "money_in": 1890,
        # Paid: 460 + 460 (150 credit + 310 card) + 360 + 260 + 100; held: 100 + 100.
        "paid": 1640, "cash_held": 200, "credits_issued": 0, "card_still_owed": 50,
        "spare_kept": 0, "accounted": 1890, "difference": 0,
        "invoice": 2000, "invoice_above_bills": 100, "invoice_below_bills": 0,
        "written_off": 0, "spare_off_deficit": 0, "deficit": 100,
        # Stripe's 1.5% + 20p, rounded up: 27p on £4.60, 26p on £3.60.
        "card_fees": 27 + 26,
    }
    assert held.balanced and held.mismatches == []
    with pytest.raises(ServiceError) as refused:
        settlement.finish_round(rnd, actor=w.organiser, now=utcnow())
    db.session.rollback()
    assert refused.value.message == (
        "The round cannot be finished yet: 5 bags not collected or given away; "
        "1 household still owes money; £2 of cash to hand back or keep as credit; "
        "£0.50 of card refunds that did not go through.")
    assert db.session.get(Round, w.round.id).status == "delivered"

    settle_everything(w, overpaid)
    done = settlement.books(db.session.get(Round, w.round.id))

    assert figures(done) == {
        "goods": 1600, "fees": 300, "bills": 1900, "outstanding": 0,
        "card_in": 820, "card_refunded": -50, "cash_in": 920, "cash_handed_back": -100,
        "spare_sold": 0, "received": 1590, "credits_used": 150, "money_in": 1740,
        "paid": 1640, "cash_held": 0, "credits_issued": 100, "card_still_owed": 0,
        "spare_kept": 0, "accounted": 1740, "difference": 0,
        "invoice": 2000, "invoice_above_bills": 100, "invoice_below_bills": 0,
        "written_off": 260, "spare_off_deficit": 0, "deficit": 360, "card_fees": 53,
    }
    assert done.balanced and done.left == []

    # A bag kept for later is not finished, nor is a refund Stripe has not confirmed.
    flat4 = w.households[3].id
    db.session.execute(update(BagHandover).where(BagHandover.household_id == flat4)
                       .values(status="kept", kept_at=utcnow(), reason="away"))
    refund = db.session.scalar(select(CardRefund).order_by(CardRefund.id.desc()))
    refund.status = "pending"
    db.session.commit()
    with pytest.raises(ServiceError) as refused:
        settlement.finish_round(db.session.get(Round, w.round.id), actor=w.organiser,
                                now=utcnow())
    db.session.rollback()
    assert refused.value.message == (
        "The round cannot be finished yet: 1 bag not collected or given away; "
        "1 card refund not yet confirmed by Stripe.")
    assert db.session.get(Round, w.round.id).status == "delivered"

    db.session.execute(update(BagHandover).where(BagHandover.household_id == flat4)
                       .values(status="collected"))
    db.session.get(CardRefund, refund.id).status = "succeeded"
    db.session.commit()
    settlement.finish_round(db.session.get(Round, w.round.id), actor=w.organiser,
                            now=utcnow())
    db.session.commit()

    assert db.session.get(Round, w.round.id).status == "complete"
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action ==
                                                       "round.completed"))
    assert (entry.actor_id, entry.subject_id) == (w.organiser.id, w.round.id)
    assert '"deficit_pence": 360' in entry.details
    with pytest.raises(ServiceError, match="already finished"):
        settlement.finish_round(db.session.get(Round, w.round.id), actor=w.organiser,
                                now=utcnow())


def test_books_broken_behind_the_apps_back_say_by_how_much_and_where(client, auth):
    w, overpaid = delivered_world()
    settle_everything(w, overpaid)
    url = f"/organise/{w.group.id}/rounds/{w.round.id}/settlement"
    auth.login(w.organiser.email)
    assert "The books balance to the penny." in client.get(url).get_data(as_text=True)

    flat1 = statement_of(w, 1)
    db.session.execute(update(Statement).where(Statement.id == flat1.id)
                       .values(paid_pence=453))  # someone's fix typed in a database tool
    db.session.commit()
    text = client.get(url).get_data(as_text=True)

    assert "The books balance to the penny." not in text
    assert "The books do not balance: £0.07 out." in text
    assert "£0.07 more came in than the bills, cash held and credits account for." in text
    assert (f'/organise/{w.group.id}/households/{w.households[0].id}/receipts">Flat 1</a>: '
            "£0.07 out") in text
    assert settlement.books(db.session.get(Round, w.round.id)).difference_pence == 7

    response = client.post(f"/organise/{w.group.id}/rounds/{w.round.id}/finish",
                           follow_redirects=True)
    assert "the books do not balance (£0.07 out)" in response.get_data(as_text=True)
    assert db.session.get(Round, w.round.id).status == "delivered"


def test_the_settlement_page_its_csv_and_finishing_for_organisers_only(client, auth):
    w, overpaid = delivered_world()
    settle_everything(w, overpaid)
    base = f"/organise/{w.group.id}/rounds/{w.round.id}"
    for who in ("r1@oak.test", w.worker.email):  # organisers only
        auth.login(who)
        for path in ("settlement", "settlement.csv"):
            assert client.get(f"{base}/{path}").status_code == 403, (who, path)
        assert client.post(f"{base}/finish").status_code == 403, who
    assert db.session.get(Round, w.round.id).status == "delivered"
    auth.login(w.organiser.email)

    text = client.get(f"{base}/settlement").get_data(as_text=True)
    assert "The books balance to the penny." in text
    assert "Finish the round" in text
    found = settlement.books(db.session.get(Round, w.round.id))
    for figure in found.figures:
        assert str(figure.label) in text

    response = client.get(f"{base}/settlement.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["figure", "pence", "pounds"]
    assert rows[1:] == [[str(f.label), str(f.pence), f"{'-' if f.pence < 0 else ''}"
                         f"{abs(f.pence) // 100}.{abs(f.pence) % 100:02d}"]
                        for f in found.figures]
    assert ["Refunded to cards", "-50", "-0.50"] in rows
    assert ["The group's deficit", "360", "3.60"] in rows

    response = client.post(f"{base}/finish", follow_redirects=True)
    assert "The round is finished." in response.get_data(as_text=True)
    assert db.session.get(Round, w.round.id).status == "complete"
    text = client.get(f"{base}/settlement").get_data(as_text=True)
    assert "This round is finished." in text and "Finish the round</button>" not in text

    # A round not yet delivered has no books to settle (set directly: only the status
    # matters here).
    db.session.execute(update(Round).where(Round.id == w.round.id).values(status="ordered"))
    db.session.commit()
    for path in ("settlement", "settlement.csv"):
        assert client.get(f"{base}/{path}").status_code == 404, path
    assert client.post(f"{base}/finish").status_code == 404
