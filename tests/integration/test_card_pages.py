"""The resident's card pages: agreeing to pay by card, saving a card, and "Pay now".

Against localstripe (a fake Stripe server) over real HTTP; the card itself is
typed into Stripe.js in the browser tests (tests/e2e/test_card_journeys.py).
"""

from datetime import timedelta

import pytest
from sqlalchemy import select

from bulkbuy import sweeps
from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, CardConsent, SavedCard, Statement, utcnow
from bulkbuy.services import closing, pledges
from bulkbuy.services.payments import charge_sweep
from bulkbuy.services.payments import saved_cards as cards
from tests import factories, stripe_helpers
from tests.conftest import make_app
from tests.pages import count, page
from tests.stripe_helpers import (
    CARD_DECLINED_ON_CHARGE,
    CARD_NEEDS_AUTH,
    closed_card_round,
    save_card,
)


def _pledged_world(units: int = 6):
    w = factories.world(products=(("Tinned tomatoes", 12, 1000),))
    pledges.set_pledge(w.round.items[0], w.households[0], units, 0, entered_by=w.residents[0],
                       now=utcnow(), max_units=999)
    db.session.commit()
    return w


def _login(client, email):
    return client.post("/login", data={"email": email, "password": "password123"})


def test_without_stripe_settings_my_orders_says_cash_only_and_refuses_cards(db_url):
    app = make_app(db_url)  # TestConfig: no Stripe key
    with app.app_context():
        w = _pledged_world()
        client = app.test_client()
        _login(client, w.residents[0].email)
        text = page(client.get("/my-orders"))
        assert "Card payments are not set up here. Please pay in cash" in text
        round_page = page(client.get(f"/rounds/{w.round.id}"))
        assert "You pay in cash at a drop-in." in round_page
        assert "Pay by card" not in round_page
        response = client.post(f"/rounds/{w.round.id}/pay-by-card", data={"agree": "yes"})
        assert response.status_code == 303
        assert count(CardConsent) == 0 and count(SavedCard) == 0
        db.session.remove()
        db.engine.dispose()


def test_with_stripe_set_up_the_round_page_says_card_or_cash(card_app):
    w = _pledged_world()
    client = card_app.test_client()
    _login(client, w.residents[0].email)
    assert "Pay by card or in cash at a drop-in. No card is needed." in page(
        client.get(f"/rounds/{w.round.id}"))


def test_agreeing_needs_the_tick_and_changes_nothing_without_it(card_app):
    w = _pledged_world()
    client = card_app.test_client()
    _login(client, w.residents[0].email)
    response = client.post(f"/rounds/{w.round.id}/pay-by-card", data={})
    assert response.status_code == 303
    assert "Tick the box to agree" in page(client.get("/my-orders"))
    assert count(CardConsent) == 0 and count(SavedCard) == 0


def test_agreeing_records_the_most_and_opens_the_card_page_with_stripe_js(card_app):
    w = _pledged_world(units=6)  # 6 of 12 at £10 a box: the most is £5.00
    client = card_app.test_client()
    _login(client, w.residents[0].email)
    text = page(client.get("/my-orders"))
    assert "It is never more than £5, plus the gift you choose above (if any)." in text

    response = client.post(f"/rounds/{w.round.id}/pay-by-card", data={"agree": "yes"})

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "It will be no more than £5." in html
    assert card_app.config["STRIPE_JS_URL"] in html
    consent = db.session.scalar(select(CardConsent))
    assert (consent.household_id, consent.max_pence) == (w.households[0].id, 500)
    card = db.session.scalar(select(SavedCard))
    assert card.status == "pending" and card.setup_intent_id.startswith("seti_")
    assert f'data-secret="{card.setup_intent_id}_secret_' in html
    # Stripe.js may load and talk to Stripe on this page only.
    csp = response.headers["Content-Security-Policy"]
    base = card_app.config["STRIPE_API_BASE"]
    assert f"script-src 'self' {base}" in csp and f"connect-src 'self' {base}" in csp
    assert "sk_test" not in html
    assert db.session.scalar(select(AuditEntry.action).where(
        AuditEntry.action == "card.consent")) == "card.consent"


def test_a_card_saved_at_stripe_is_kept_only_after_reading_stripe(card_app):
    w = _pledged_world()
    client = card_app.test_client()
    _login(client, w.residents[0].email)
    client.post(f"/rounds/{w.round.id}/pay-by-card", data={"agree": "yes"})
    card = db.session.scalar(select(SavedCard))

    # The browser claims success, but nothing was confirmed at Stripe: not kept.
    client.post("/card/saved", data={"setup_intent": card.setup_intent_id})
    db.session.refresh(card)
    assert card.status == "pending" and card.payment_method_id is None
    assert "Your card was not saved" in page(client.get("/my-orders"))

    # Someone else's SetupIntent id: refused too.
    client.post("/card/saved", data={"setup_intent": "seti_not_ours"})
    db.session.refresh(card)
    assert card.status == "pending"


def test_a_resident_with_a_saved_card_agrees_again_when_the_order_grows(card_app):
    w = _pledged_world(units=6)
    save_card(w.households[0], w.residents[0])
    client = card_app.test_client()
    _login(client, w.residents[0].email)
    client.post(f"/rounds/{w.round.id}/pay-by-card", data={"agree": "yes"})
    assert "You pay by card (ending 4242). We take no more than £5." in page(
        client.get("/my-orders"))

    pledges.set_pledge(w.round.items[0], w.households[0], 12, 0, entered_by=w.residents[0],
                       now=utcnow(), max_units=999)
    db.session.commit()
    text = page(client.get("/my-orders"))
    assert "Your order has grown. You agreed to £5. The most is now £10." in text

    client.post(f"/rounds/{w.round.id}/pay-by-card", data={"agree": "yes"})
    assert db.session.scalar(select(CardConsent.max_pence)) == 1000
    assert "We take no more than £10." in page(client.get("/my-orders"))


def test_pay_now_is_only_for_the_household_itself(card_app):
    w, statements = closed_card_round(residents=2)
    client = card_app.test_client()
    _login(client, w.residents[0].email)
    assert client.get(f"/pay/{statements[0].id}").status_code == 200
    assert client.get(f"/pay/{statements[1].id}").status_code == 404
    assert client.post(f"/pay/{statements[1].id}/charge").status_code == 404
    assert client.get("/pay/999999").status_code == 404


def test_a_card_that_needs_the_bank_gets_a_confirm_button_on_our_page(card_app):
    w, statements = closed_card_round(residents=2, numbers=(CARD_NEEDS_AUTH, None))
    sweeps.sweep_payments(utcnow(), config=card_app.config)
    client = card_app.test_client()
    _login(client, w.residents[0].email)

    home = page(client.get("/"))
    assert "Your card payment needs you." in home and "Pay now" in home
    response = client.get(f"/pay/{statements[0].id}")
    text = page(response)
    assert "Your bank wants you to confirm this payment." in text
    assert "Confirm with my bank" in text and "Pay with another card" in text
    assert 'data-mode="confirm"' in response.get_data(as_text=True)


def test_after_a_decline_the_resident_pays_with_another_card_on_our_page(card_app):
    w, statements = closed_card_round(residents=2, numbers=(CARD_DECLINED_ON_CHARGE, None))
    sweeps.sweep_payments(utcnow(), config=card_app.config)
    statement = statements[0]
    db.session.refresh(statement)
    assert (statement.payment_status, statement.needs_action_reason) == ("needs_action",
                                                                          "declined")
    client = card_app.test_client()
    _login(client, w.residents[0].email)
    assert "Your card did not work. Nothing was taken." in page(
        client.get(f"/pay/{statement.id}"))

    # "Pay with another card": a new SetupIntent; Stripe.js confirms it (done here
    # server-side), then the page posts its id and we charge with the resident present.
    response = client.post(f"/pay/{statement.id}/new-card")
    assert response.status_code == 200 and "Pay £5" in page(response)
    save_card(w.households[0], w.residents[0])  # a good card replaces the declined one
    client.post(f"/pay/{statement.id}/charge")

    db.session.refresh(statement)
    assert (statement.payment_status, statement.paid_pence) == ("paid", statement.total_pence)
    assert "Paid in full. Thank you." in page(client.get(f"/pay/{statement.id}"))


def test_a_statement_too_small_for_a_card_says_pay_in_cash(card_app):
    w = factories.world(products=(("Tinned tomatoes", 120, 1000),))  # 8.33p a tin
    pledges.set_pledge(w.round.items[0], w.households[0], 120, 0, entered_by=w.residents[0],
                       now=utcnow(), max_units=999)
    pledges.set_pledge(w.round.items[0], w.households[1], 0, 0, entered_by=w.residents[1],
                       now=utcnow(), max_units=999)
    db.session.commit()
    # One household takes the box; make its statement small by hand (a 20p balance).
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    statement = db.session.scalar(select(Statement))
    statement.paid_pence = statement.total_pence - 20
    db.session.commit()
    client = card_app.test_client()
    _login(client, w.residents[0].email)
    assert "This is too small to pay by card." in page(client.get(f"/pay/{statement.id}"))
    assert cards.card_of(w.households[0].id) is None


def test_a_due_statement_the_sweep_will_charge_says_so_and_offers_no_button(card_app):
    w, statements = closed_card_round(residents=2)
    client = card_app.test_client()
    _login(client, w.residents[0].email)

    text = page(client.get(f"/pay/{statements[0].id}"))

    assert charge_sweep.sweep_will_charge(statements[0])
    assert "We will take it from your card ending 4242 soon." in text
    assert "with my card ending" not in text and "Pay with another card" not in text


def test_a_saved_card_without_agreement_for_this_round_is_offered_not_promised(card_app):
    """The household saved a card for an earlier round but did not agree to card payment
    for this one: the sweep will not take it, so the page must not say it will, and the
    resident can pay now with the saved card (they are here) or another card."""
    w, statements = closed_card_round(residents=2, consent=False)
    statement = statements[0]
    client = card_app.test_client()
    _login(client, w.residents[0].email)

    text = page(client.get(f"/pay/{statement.id}"))

    assert not charge_sweep.sweep_will_charge(statement)
    assert "soon" not in text
    assert "Pay £5 with my card ending 4242" in text and "Pay with another card" in text
    assert sweeps.sweep_payments(utcnow(), config=card_app.config).charged == 0
    client.post(f"/pay/{statement.id}/charge")
    db.session.refresh(statement)
    assert (statement.payment_status, statement.paid_pence) == ("paid", statement.total_pence)


def test_only_the_household_itself_can_finish_saving_its_card(card_app):
    """A neighbour who learnt another household's SetupIntent id cannot make our app keep
    that card (nor see whether it worked): only a member of the household can."""
    w = _pledged_world()
    mine, neighbour = card_app.test_client(), card_app.test_client()
    _login(mine, w.residents[0].email)
    _login(neighbour, w.residents[1].email)
    mine.post(f"/rounds/{w.round.id}/pay-by-card", data={"agree": "yes"})
    card = db.session.scalar(select(SavedCard))
    client = stripe_helpers._client()
    pm = client.v1.payment_methods.create(params={"type": "card", "card": {
        "number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    client.v1.setup_intents.confirm(card.setup_intent_id, params={"payment_method": pm.id})

    neighbour.post("/card/saved", data={"setup_intent": card.setup_intent_id})

    db.session.refresh(card)
    assert card.status == "pending" and card.payment_method_id is None
    mine.post("/card/saved", data={"setup_intent": card.setup_intent_id})
    db.session.refresh(card)
    assert card.status == "saved" and card.payment_method_id == pm.id


@pytest.mark.parametrize("next_url", [
    "//evil.example/", "/\\evil.example/", "https://evil.example/",
    "/\t/evil.example/", "/\r/evil.example/", "/\n/evil.example/", "/x\\..\\\\evil.example/",
])
def test_after_saving_a_card_the_browser_only_goes_to_a_page_of_ours(card_app, next_url):
    w = _pledged_world()
    client = card_app.test_client()
    _login(client, w.residents[0].email)

    response = client.post("/card/saved", data={"setup_intent": "seti_x", "next": next_url})

    assert response.status_code == 303 and response.headers["Location"] == "/my-orders"
