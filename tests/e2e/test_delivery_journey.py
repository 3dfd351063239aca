"""Delivery day in Debian's Chromium, against localstripe (#14's journey).

The organiser receives a short delivery with one substitute; a card household sees its
refund line and its new total; a cash household keeps what it is owed for its next
order at the tablet; the worker ticks three bags collected and takes cash for one; the
organiser's settling-up page balances. Every page visited gets `check_page` (axe, target
sizes, 320px reflow), the tablet's at tablet size. The README's delivery-day pictures are
taken here (`make screenshots`).

The round: a case of 12 tins is £10 and a sack of rice £31.50. Flats 1, 2 and 3 ordered
6 tins each, in that order, and Flat 4 (which pays by card) 6 tins last; Flat 2 a sack
of rice too. Two cases (24 tins) and the sack were ordered.
"""

from __future__ import annotations

import re
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from bulkbuy import sweeps
from bulkbuy.extensions import db
from bulkbuy.models import CardRefund, Round, Statement, utcnow
from bulkbuy.services import closing, pledges, rounds, tablet
from bulkbuy.services.payments import cash as cash_service
from bulkbuy.services.payments import saved_cards as cards
from tests import factories, stripe_helpers
from tests.e2e import screenshots
from tests.e2e.conftest import PHONE, check_page

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture then skips (fails when CI=true) and says why
    expect = None

PASSWORD = factories.PASSWORD
TABLET = {"width": 800, "height": 1280}
FLAT_2_PIN = "8642"


def _delivery_day_world() -> dict:
    """The round above, closed, Flat 4's card charged, Flats 2 and 3 paid in cash, ordered."""
    now = utcnow()
    made = factories.world(residents=4, products=(("Tinned tomatoes", 12, 1000),
                                                  ("Rice", 1, 3150)), now=now)
    made.round.collection_place = "Community room"
    db.session.commit()
    items = {i.name: i for i in made.round.items}
    for number, home in enumerate(made.households):
        pledges.set_pledge(items["Tinned tomatoes"], home, 6, 0,
                           entered_by=made.residents[number], now=now, max_units=99)
        if number == 1:
            pledges.set_pledge(items["Rice"], home, 1, 0, entered_by=made.residents[1],
                               now=now, max_units=99)
        db.session.commit()
    stripe_helpers.save_card(made.households[3], made.residents[3])
    cards.give_consent(made.round, made.households[3], user=made.residents[3], now=now)
    tablet.set_pin(made.households[1], FLAT_2_PIN, actor=made.worker, now=now)
    db.session.commit()
    closed_at = made.round.closes_at + timedelta(seconds=1)
    assert closing.close_round(made.round.id, closed_at).status == "closed"
    db.session.commit()
    sweeps.sweep_payments(utcnow(), config=current_app.config)  # Flat 4's card: £5
    bills = {s.household_id: s for s in db.session.scalars(
        select(Statement).where(Statement.round_id == made.round.id))}
    flat2, flat3 = bills[made.households[1].id], bills[made.households[2].id]
    cash_service.record_cash(flat2, flat2.total_pence, "R-21", actor=made.worker, now=now)
    cash_service.record_cash(flat3, flat3.total_pence, "R-31", actor=made.worker, now=now)
    rounds.mark_ordered(db.session.get(Round, made.round.id), reference="PO-9",
                        expected_on=(closed_at + timedelta(days=2)).date(),
                        actor=made.organiser, now=closed_at)
    db.session.commit()
    found = {"group": made.group.id, "round": made.round.id,
             "tins": items["Tinned tomatoes"].id, "rice": items["Rice"].id,
             "paid": {h.label: (bills[h.id].payment_status, bills[h.id].paid_pence)
                      for h in made.households}}
    db.session.remove()
    return found


def sign_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def test_delivery_day_from_a_short_delivery_to_books_that_balance(card_live_app,
                                                                  card_context):
    with card_live_app.app_context():
        ids = _delivery_day_world()
    assert ids["paid"] == {"Flat 1": ("due", 0), "Flat 2": ("paid", 3650),
                           "Flat 3": ("paid", 500), "Flat 4": ("paid", 500)}
    group, round_id, tins, rice = ids["group"], ids["round"], ids["tins"], ids["rice"]

    # The organiser receives it: 4 tins damaged, no rice, 2 tins of plum tomatoes instead.
    organiser = card_context(viewport=PHONE).new_page()
    sign_in(organiser, "org@oak.test")
    organiser.goto(f"/organise/{group}/rounds/{round_id}")
    organiser.get_by_role("link", name="What arrived").click()
    expect(organiser.get_by_role("heading", level=1)).to_have_text("What arrived")
    check_page(organiser)
    organiser.locator(f"#damaged-{tins}").fill("4")
    organiser.locator(f"#arrived-{rice}").fill("0")
    line = organiser.locator(f"#line-{tins}")
    line.get_by_text("Something else came instead").click()
    line.get_by_label("What came instead of Tinned tomatoes").select_option("new")
    line.get_by_label("Its name, if it is not on the list").fill("Plum tomatoes")
    line.get_by_label("What one is, like 400g tin").fill("400g tin")
    line.get_by_label("Price of one, in pounds").fill("0.85")
    line.get_by_label("How many came").fill("2")
    organiser.get_by_label("The supplier's invoice total, in pounds (optional)").fill("18.37")
    organiser.get_by_role("button", name="Save what arrived").click()
    expect(organiser.get_by_role("status").first).to_contain_text(
        "Saved what arrived. 2 household bill(s) changed")
    # 20 tins cost £16.67, the plums £1.70: £18.37, as the invoice says.
    expect(organiser.get_by_text("They match.")).to_be_visible()
    check_page(organiser)
    screenshots.save(organiser, "organiser-what-arrived", full_page=True)

    with card_live_app.app_context():  # the payment sweep sends Flat 4's refund
        sweeps.sweep_payments(utcnow(), config=current_app.config)
        refunds = [(r.amount_pence, r.status) for r in db.session.scalars(select(CardRefund))]
        db.session.remove()
    assert refunds == [(163, "succeeded")]

    # The card household sees what changed and its new total.
    card_home = card_context(viewport=PHONE).new_page()
    sign_in(card_home, "r4@oak.test")
    card_home.goto(f"/rounds/{round_id}")
    expect(card_home.get_by_text(
        "4 of 6 Tinned tomatoes did not arrive or came damaged: −£3.33")).to_be_visible()
    expect(card_home.get_by_text(
        "2 Plum tomatoes sent instead of Tinned tomatoes: +£1.70")).to_be_visible()
    expect(card_home.get_by_role("row", name=re.compile("You owe"))).to_contain_text("£3.37")
    expect(card_home.get_by_role("row", name=re.compile("Paid in full"))).to_be_visible()
    check_page(card_home)
    screenshots.save(card_home, "resident-what-changed", full_page=True)

    # At the drop-in, Flat 2 keeps the £31.50 it paid for the rice for its next order.
    worker_tablet = card_context(viewport=TABLET).new_page()
    sign_in(worker_tablet, "worker@oak.test")
    worker_tablet.goto("/tablet/start")
    worker_tablet.get_by_role("button", name="Start the tablet").click()
    worker_tablet.get_by_role("button", name="Flat 2", exact=True).click()
    worker_tablet.get_by_label("Your 4-number PIN").fill(FLAT_2_PIN)
    worker_tablet.get_by_role("button", name="Continue").click()
    expect(worker_tablet.get_by_text("We owe you £31.50 of the cash you paid.")).to_be_visible()
    expect(worker_tablet.get_by_text(
        "1 of 1 Rice did not arrive or came damaged: −£31.50")).to_be_visible()
    worker_tablet.get_by_text("Helper: hand back £31.50 or keep it").click()
    worker_tablet.get_by_label("Helper's password").fill(PASSWORD)
    worker_tablet.get_by_role("button", name="Keep £31.50 for my next order").click()
    expect(worker_tablet.get_by_text(
        "You have £31.50 kept for your next order. It comes off your next bill by itself."
    )).to_be_visible()
    check_page(worker_tablet)
    screenshots.save(worker_tablet, "tablet-kept-for-next-order")
    worker_tablet.get_by_role("button", name="Done").click()

    # Collection: three bags ticked, and Flat 1's £5 taken with its bag.
    worker = card_context(viewport=PHONE).new_page()
    sign_in(worker, "worker@oak.test")
    worker.goto(f"/organise/{group}/rounds/{round_id}/collection")
    check_page(worker)
    for flat, cash in (("Flat 1", "5"), ("Flat 2", None), ("Flat 3", None)):
        bag = worker.locator("li, section, article").filter(
            has=worker.get_by_role("heading", name=flat, exact=True)).last
        if cash:
            bag.get_by_label("Cash, in pounds").fill(cash)
            bag.get_by_label("Receipt number").fill("R-11")
        bag.get_by_role("button", name=re.compile(r"^Collected")).click()
        expect(worker.get_by_role("status").first).to_be_visible()
    expect(worker.locator(".bag-count")).to_contain_text("1 still to collect.")
    check_page(worker)
    screenshots.save(worker, "worker-collection-day", full_page=True)

    # The books balance to the penny.
    organiser.goto(f"/organise/{group}/rounds/{round_id}/settlement")
    expect(organiser.get_by_text("The books balance to the penny.")).to_be_visible()
    check_page(organiser)
    screenshots.save(organiser, "organiser-settling-up", full_page=True)
    with card_live_app.app_context():
        bills = {s.household.label: (s.total_pence, s.paid_pence, s.payment_status,
                                     s.owed_back_pence)
                 for s in db.session.scalars(select(Statement).where(
                     Statement.round_id == round_id))}
        db.session.remove()
    assert bills == {"Flat 1": (500, 500, "paid", 0), "Flat 2": (500, 500, "paid", 0),
                     "Flat 3": (500, 500, "paid", 0), "Flat 4": (337, 337, "paid", 0)}
