"""Saving a household's card with Stripe, and its consent to be charged up to a maximum.

The app never sees a card number: Stripe.js on our page sends it to Stripe
with a SetupIntent's client secret, and we then read the outcome from Stripe
itself (`finish_saving_card`, or the `setup_intent.succeeded` webhook).
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from bulkbuy.adapters import stripe_gateway as gateway
from bulkbuy.domain.pot_gifts import FIXED, GiftChoice, consent_maximum
from bulkbuy.extensions import db
from bulkbuy.models import CardConsent, Household, Round, SavedCard, User
from bulkbuy.services import ServiceError, audit, writes
from bulkbuy.services.round_view import household_maximum

#: The smallest card charge (Stripe's minimum in GBP); less is paid in cash.
MINIMUM_CHARGE_PENCE = gateway.MINIMUM_CHARGE_PENCE

NOT_SAVED = _l("Your card was not saved. Nothing was taken. Please try again, or pay in cash.")
STRIPE_DOWN = _l("We could not reach the card company just now. Nothing was taken. "
                 "Please try again in a few minutes.")


def cards_on(config) -> bool:
    """Cards can be taken: a secret key and a publishable key are set."""
    return gateway.is_configured(config) and bool(config.get("STRIPE_PUBLISHABLE_KEY"))


def cards_configured(config) -> bool:
    """Stripe's secret key is set, so the sweep charges saved cards (the organiser's view;
    residents are offered cards only when `cards_on`)."""
    return gateway.is_configured(config)


def card_choice(config, rnd: Round, household_id: int) -> dict:
    """What My orders shows about paying by card for one open round."""
    if not cards_on(config):
        return {"cards_on": False}
    consent = consent_of(rnd.id, household_id)
    card = card_of(household_id)
    most = household_maximum(rnd, household_id)
    return {
        "cards_on": True,
        "card": card if card is not None and card.is_ready else None,
        "consent": consent,
        "covered": consent is not None and consent.max_pence >= most
        and card is not None and card.is_ready,
        "most_pence": most,
    }


def card_of(household_id: int) -> SavedCard | None:
    """The household's card at Stripe (being saved or ready), or None."""
    return db.session.scalar(select(SavedCard).where(SavedCard.household_id == household_id))


def consent_of(round_id: int, household_id: int) -> CardConsent | None:
    """The household's consent to be charged by card for the round, or None."""
    return db.session.scalar(select(CardConsent).where(
        CardConsent.round_id == round_id, CardConsent.household_id == household_id))


def give_consent(rnd: Round, household: Household, *, user: User, now: datetime,
                 gift: GiftChoice | None = None) -> CardConsent:
    """Record that the household's card may be charged up to its maximum as it stands now.

    Only while the round is open. Raising the figure later needs this again.
    `gift`: a gift to the solidarity pot with the bill (services.solidarity.gift_choice);
    the maximum agreed to then includes the gift on the largest bill. Agreeing again
    without one drops it. Audited.
    """
    if rnd.status != "open" or rnd.closes_at <= now:
        raise ServiceError(_l("This round is not open, so there is nothing to agree to now."))
    bill_most = household_maximum(rnd, household.id)
    if bill_most <= 0:
        raise ServiceError(_l("Order something first. Then you can choose to pay by card."))
    maximum = consent_maximum(gift, bill_most)
    consent = consent_of(rnd.id, household.id)
    if consent is None:
        consent = CardConsent(round_id=rnd.id, household_id=household.id, max_pence=maximum,
                              user_id=user.id, consented_at=now)
        if not writes.inserted(consent):  # the same "pay by card" sent twice at once
            consent = consent_of(rnd.id, household.id)
    consent.max_pence = maximum
    consent.user_id = user.id
    consent.consented_at = now
    consent.gift_kind = gift.kind if gift else None
    consent.gift_fixed_pence = gift.fixed_pence if gift and gift.kind == FIXED else None
    audit.record("card.consent", actor=user, group_id=rnd.group_id, household_id=household.id,
                 subject=rnd, max_pence=maximum, gift_kind=consent.gift_kind,
                 gift_fixed_pence=consent.gift_fixed_pence)
    db.session.flush()
    return consent


def start_saving_card(config, household: Household, *, user: User, now: datetime) -> str:
    """Make (or reuse) the household's Stripe Customer and a new SetupIntent.

    Returns the SetupIntent's client secret for Stripe.js. A card already
    saved stays in use until the new one is saved. Raises ServiceError.
    """
    card = card_of(household.id)
    try:
        if card is None:
            customer_id = gateway.create_customer(config, user.email, household.label,
                                                  household.id)
            card = SavedCard(household_id=household.id, customer_id=customer_id,
                             status="pending", updated_at=now)
            if not writes.inserted(card):
                # Started at the same moment by a second click: use that one's Customer
                # (the one just made at Stripe stays unused; it holds no card).
                card = card_of(household.id)
        intent = gateway.create_setup_intent(config, card.customer_id)
    except gateway.GatewayError as exc:
        raise ServiceError(STRIPE_DOWN) from exc
    card.setup_intent_id = intent.id
    card.updated_at = now
    db.session.flush()
    return intent.client_secret


def finish_saving_card(config, household: Household, setup_intent_id: str, *, user: User | None,
                       now: datetime) -> SavedCard:
    """Read a SetupIntent's outcome from Stripe and, if it saved a card, keep it.

    The browser only tells us which SetupIntent to look at; what it saved is
    read from Stripe. Raises ServiceError when it is not this household's
    SetupIntent or did not succeed.
    """
    card = card_of(household.id)
    if card is None or not setup_intent_id or card.setup_intent_id != setup_intent_id:
        raise ServiceError(NOT_SAVED)
    try:
        info = gateway.retrieve_saved_card(config, setup_intent_id)
    except gateway.GatewayError as exc:
        raise ServiceError(STRIPE_DOWN) from exc
    if info.status != "succeeded" or not info.payment_method_id:
        raise ServiceError(NOT_SAVED)
    keep_saved_card(card, info, now)
    audit.record("card.saved", actor=user, group_id=household.group_id,
                 household_id=household.id, subject=card, last4=info.last4)
    return card


def keep_saved_card(card: SavedCard, info: gateway.SavedCardInfo, now: datetime) -> bool:
    """Store a succeeded SetupIntent's card on the household (from our page or a webhook).

    Returns False when it is already stored (then only fills in the brand and last 4
    digits if they were not known: a webhook names the card but not those).
    """
    if card.status == "saved" and card.payment_method_id == info.payment_method_id:
        if (info.brand, info.last4) != (None, None):
            card.brand, card.last4 = info.brand or card.brand, info.last4 or card.last4
            db.session.flush()
        return False
    card.payment_method_id = info.payment_method_id
    # Another card's details never stay: unknown until read from Stripe.
    card.brand, card.last4 = info.brand, info.last4
    card.status = "saved"
    card.saved_at = now
    card.updated_at = now
    db.session.flush()
    return True

