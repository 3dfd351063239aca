"""Helpers for tests that pay by card against localstripe (a fake Stripe server).

`save_card` does server-side what Stripe.js does on our page: it makes a
PaymentMethod from a test card number, confirms the household's SetupIntent
with it, and lets `cards.finish_saving_card` read the outcome from Stripe.
"""

from __future__ import annotations

from datetime import timedelta

import stripe
from flask import current_app
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import Household, SavedCard, Statement, User, utcnow
from bulkbuy.services import closing, pledges
from bulkbuy.services.payments import saved_cards as cards
from tests import factories

#: Stripe's test cards, as localstripe knows them.
CARD_OK = "4242424242424242"
#: Needs 3-D Secure on every payment (also when saved, in localstripe).
CARD_NEEDS_AUTH = "4000002760003184"
#: Saves fine; every charge is declined.
CARD_DECLINED_ON_CHARGE = "4000000000000341"
#: Declined when saved.
CARD_DECLINED = "4000000000000002"

PUBLISHABLE_KEY = "pk_test_bulkbuy_localstripe"
WEBHOOK_SECRET = "whsec_bulkbuy_test"  # noqa: S105 - a test secret


def app_settings(base_url: str, **extra) -> dict:
    """App settings that point Stripe at a localstripe on `base_url`."""
    from devtools.localstripe_server import TEST_KEY

    return {
        "STRIPE_SECRET_KEY": TEST_KEY,
        "STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": base_url,
        "STRIPE_JS_URL": f"{base_url}/js.stripe.com/v3/",
        "STRIPE_TIMEOUT": 5.0,
        "STRIPE_REQUESTS_PER_SECOND": 1000.0,
        **extra,
    }


def _client() -> stripe.StripeClient:
    config = current_app.config
    return stripe.StripeClient(config["STRIPE_SECRET_KEY"],
                               base_addresses={"api": config["STRIPE_API_BASE"]},
                               max_network_retries=0)


def save_card(household: Household, user: User, number: str = CARD_OK) -> SavedCard:
    """Save a test card for the household through a real SetupIntent (committed)."""
    config = current_app.config
    cards.start_saving_card(config, household, user=user, now=utcnow())
    db.session.commit()
    card = cards.card_of(household.id)
    client = _client()
    pm = client.v1.payment_methods.create(params={
        "type": "card",
        "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
    })
    intent = client.v1.setup_intents.confirm(card.setup_intent_id,
                                             params={"payment_method": pm.id})
    if intent.status == "requires_action":
        # The resident passes 3-D Secure while saving (localstripe: confirm once more).
        client.v1.setup_intents.confirm(card.setup_intent_id)
    cards.finish_saving_card(config, household, card.setup_intent_id, user=user, now=utcnow())
    db.session.commit()
    return card


def closed_card_round(residents: int = 2, numbers: tuple[str, ...] | None = None,
                      units: int = 6, consent: bool = True):
    """A world whose residents each pledge `units` tins (12 a box, £10 a box), save a
    card (numbers[i], default CARD_OK) and agree to pay by card; then the round closes.

    Returns (world, statements in household order). With 2 residents and 6
    units each, each owes £5.00.
    """
    w = factories.world(residents=residents, products=(("Tinned tomatoes", 12, 1000),))
    item = w.round.items[0]
    now = utcnow()
    numbers = numbers or (CARD_OK,) * residents
    for household, person, number in zip(w.households, w.residents, numbers, strict=True):
        pledges.set_pledge(item, household, units, 0, entered_by=person, now=now,
                           max_units=999)
        db.session.commit()
        if number is not None:
            save_card(household, person, number)
            if consent:
                cards.give_consent(w.round, household, user=person, now=now)
                db.session.commit()
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    statements = [db.session.scalar(select(Statement).where(
        Statement.household_id == h.id, Statement.round_id == w.round.id))
        for h in w.households]
    return w, statements
