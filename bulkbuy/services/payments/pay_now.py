"""Residents paying by card on our pages: the use cases behind `bulkbuy.payments.routes`.

Each function loads what it needs, applies the rules and writes through the
session; none commits, except through the `commit` callable it is given
(`transactions.commit_now`) where a record must be durable before Stripe is
asked: the resident waits on the page, so the attempt is committed, Stripe asked
and its answer committed within the one request. The statement and the attempt
move only as `bulkbuy.domain.payment_states` allows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from bulkbuy.adapters import stripe_gateway as gateway
from bulkbuy.domain import statuses
from bulkbuy.domain.statuses import AttemptStatus, StatementStatus
from bulkbuy.extensions import db
from bulkbuy.models import CardConsent, CardPayment, Household, Round, SavedCard, Statement, User
from bulkbuy.services import ServiceError, drop_ins, solidarity
from bulkbuy.services.payments import attempts, charge_sweep
from bulkbuy.services.payments import saved_cards as cards

log = logging.getLogger(__name__)


def round_or_none(round_id: int) -> Round | None:
    """The round with this id, or None."""
    return db.session.get(Round, round_id)


def statement_or_none(statement_id: int) -> Statement | None:
    """The statement with this id, or None (the caller checks it is the resident's own)."""
    return db.session.get(Statement, statement_id)


def latest_attempt(statement: Statement) -> CardPayment | None:
    """The statement's card attempt with the highest number, or None if it has none."""
    return db.session.scalar(
        select(CardPayment).where(CardPayment.statement_id == statement.id)
        .order_by(CardPayment.attempt.desc()).limit(1))


# --- agreeing to pay by card, and saving a card -------------------------------------------


@dataclass(frozen=True)
class CardAgreement:
    """What agreeing to pay by card did: the consent given and, either the household's
    ready card (nothing more to do) or the client secret of a SetupIntent for Stripe.js
    to save a card with."""

    consent: CardConsent
    card: SavedCard | None
    client_secret: str | None
    #: The group's next drop-in times, for the save-card page (paying in cash instead).
    drop_ins: list[drop_ins.DropInTime] = field(default_factory=list)


def agree_to_pay_by_card(config, rnd: Round, household_id: int, *, user: User,
                         now: datetime, gift_kind: str | None = None,
                         gift_fixed_pence: int | None = None) -> CardAgreement:
    """Record the household's consent to be charged up to its maximum for this open round
    and, when it has no ready card, start saving one (a Stripe Customer and SetupIntent).

    Raises ServiceError (the round is not open, nothing is ordered, Stripe cannot be
    reached); the caller then keeps nothing of it.
    """
    household = db.session.get(Household, household_id)
    gift = solidarity.gift_choice(gift_kind, gift_fixed_pence)  # refused: nothing changes
    consent = cards.give_consent(rnd, household, user=user, now=now, gift=gift)
    card = cards.card_of(household.id)
    if card is not None and card.is_ready:
        return CardAgreement(consent=consent, card=card, client_secret=None)
    secret = cards.start_saving_card(config, household, user=user, now=now)
    # The save-card page names the next drop-ins (paying in cash instead).
    return CardAgreement(consent=consent, card=None, client_secret=secret,
                         drop_ins=drop_ins.upcoming(rnd.group_id, now))


def household_saving_card(setup_intent_id: str) -> Household | None:
    """The household whose card is being saved with this SetupIntent, or None (no id, or
    not one of ours). The caller checks that it is the signed-in resident's household."""
    if not setup_intent_id:
        return None
    card = db.session.scalar(select(SavedCard).where(
        SavedCard.setup_intent_id == setup_intent_id))
    return None if card is None else db.session.get(Household, card.household_id)


# --- our "complete payment" page ----------------------------------------------------------


@dataclass(frozen=True)
class PayPage:
    """What our "complete payment" page shows for one statement."""

    attempt: CardPayment | None
    card: SavedCard | None
    #: The PaymentIntent's client secret when the bank wants the resident to confirm.
    confirm_secret: str | None
    owed_pence: int
    cards_on: bool
    minimum_pence: int
    chargeable: bool
    will_charge: bool
    #: The group's next drop-in times (where to pay in cash instead).
    drop_ins: list[drop_ins.DropInTime] = field(default_factory=list)


def pay_page(config, statement: Statement, now: datetime | None = None) -> PayPage:
    """Everything the pay page shows. Writes nothing.

    Asks Stripe for the latest attempt's client secret only when that attempt waits
    for the resident's bank (and the statement needs action); if Stripe cannot be
    reached the page is shown without the "confirm with my bank" step.
    """
    attempt = latest_attempt(statement)
    on = cards.cards_on(config)
    confirm_secret = None
    if (on and attempt is not None and attempt.status == AttemptStatus.REQUIRES_ACTION
            and attempt.payment_intent_id
            and statement.payment_status == StatementStatus.NEEDS_ACTION):
        try:
            confirm_secret = gateway.payment_intent_client_secret(
                config, attempt.payment_intent_id)
        except gateway.GatewayError:
            confirm_secret = None
    return PayPage(
        attempt=attempt, card=cards.card_of(statement.household_id),
        confirm_secret=confirm_secret, owed_pence=statement.total_pence - statement.paid_pence,
        cards_on=on, minimum_pence=cards.MINIMUM_CHARGE_PENCE,
        chargeable=statement.round.status in statuses.CHARGEABLE_ROUNDS,
        will_charge=charge_sweep.sweep_will_charge(statement),
        drop_ins=drop_ins.upcoming(statement.round.group_id, now or datetime.now(UTC)),
    )


def open_to_card_payment(config, statement: Statement) -> bool:
    """Cards are on and the statement may be paid now (due or needing action)."""
    return cards.cards_on(config) and statement.payment_status in statuses.OPEN_TO_PAYMENT


@dataclass(frozen=True)
class NewCard:
    """A card about to be typed in: the SetupIntent's client secret for Stripe.js, and the
    group's next drop-in times (the save-card page names them: paying in cash instead)."""

    client_secret: str
    drop_ins: list[drop_ins.DropInTime] = field(default_factory=list)


def start_new_card(config, statement: Statement, *, user: User, now: datetime) -> NewCard:
    """Start saving a card typed in now to pay this statement with (a new SetupIntent;
    the card is kept for later too). Returns its client secret for Stripe.js, with the
    group's next drop-in times. Raises ServiceError when Stripe cannot be reached."""
    household = db.session.get(Household, statement.household_id)
    secret = cards.start_saving_card(config, household, user=user, now=now)
    return NewCard(client_secret=secret,
                   drop_ins=drop_ins.upcoming(statement.round.group_id, now))


def pay_with_card_now(config, statement: Statement, setup_intent_id: str | None, *,
                      user: User, now: datetime, commit: Callable[[], None]) -> CardPayment:
    """Charge what the statement still owes to the household's card, with the resident
    present; first keep the card just saved on our page when `setup_intent_id` names one.

    The card just saved is made durable (`commit`) before the charge is tried, so it
    stays saved whatever the charge does; the attempt is committed before Stripe is
    asked (`pay_now`). Returns the attempt; its status says what happened.
    Raises ServiceError when the card was not saved or nothing can be charged now.
    """
    if setup_intent_id:
        household = db.session.get(Household, statement.household_id)
        cards.finish_saving_card(config, household, setup_intent_id, user=user, now=now)
        commit()
    return pay_now(statement, config=config, now=now, commit=commit)


def check_latest_attempt(config, statement: Statement, *, now: datetime) -> CardPayment | None:
    """After Stripe.js asked the bank: read the latest attempt's PaymentIntent from Stripe
    itself and record its status (never the browser's word).

    Returns the attempt when this paid it, else None. Does nothing when cards are off
    or there is no attempt.
    """
    attempt = latest_attempt(statement)
    if attempt is None or not cards.cards_on(config):
        return None
    word = check_at_stripe(attempt, config=config, now=now)
    return attempt if word == "paid" else None


def pay_now(statement: Statement, *, config, now: datetime,
            commit: Callable[[], None]) -> CardPayment:
    """Charge what is still owed to the household's saved card, with the resident present.

    Used by our "complete payment" page after the resident saved a card there
    (or to retry their saved card). The attempt is recorded and committed
    before Stripe is asked (`commit`), exactly as the sweep does. Returns the
    attempt; its status says what happened ("requires_action": confirm with
    Stripe.js). Raises ServiceError when nothing can be charged now, having
    written nothing (the caller rolls its transaction back), or when Stripe
    refuses our key (the attempt is then undone and committed).
    """
    card = cards.card_of(statement.household_id)
    if card is None or not card.is_ready:
        raise ServiceError(_l("Save a card first."))
    claimed = attempts.claim_statement(
        statement.id, "resident_pays_by_card",
        Statement.total_pence - Statement.paid_pence >= gateway.MINIMUM_CHARGE_PENCE,
        Statement.round_id.in_(
            select(Round.id).where(Round.status.in_(statuses.CHARGEABLE_ROUNDS))))
    if not claimed:
        raise ServiceError(_l("There is nothing to pay by card on this now."))
    db.session.refresh(statement)
    payment = attempts.record_attempt(statement, "on_session", now)
    commit()
    payment_id = payment.id
    try:
        outcome = gateway.charge_off_session(
            config, customer_id=card.customer_id, payment_method_id=card.payment_method_id,
            amount_pence=payment.amount_pence, idempotency_key=payment.idempotency_key,
            metadata=payment.metadata_for_stripe, off_session=False,
        )
    except gateway.GatewayError as exc:
        # Stripe refused the request itself, not the card (a card error comes back as a
        # "declined" outcome): our key, our settings, or an answer we do not expect.
        attempts.undo_attempt(payment_id, now)
        commit()
        log.error("stripe refused our request; no card is charged until it is fixed: %s",
                  exc)
        raise ServiceError(_l("Card payments are not working just now. Nothing was "
                              "taken. Please try again later, or pay in cash.")) from None
    payment = db.session.get(CardPayment, payment_id)
    attempts.settle_attempt(payment, outcome.kind, now=now,
                            payment_intent_id=outcome.payment_intent_id,
                            error_code=outcome.error_code)
    commit()
    return payment


def check_at_stripe(payment: CardPayment, *, config, now: datetime) -> str:
    """Ask Stripe for an attempt's PaymentIntent and apply its status (after our page's
    Stripe.js step). The browser's word is never taken for it. Returns what
    `attempts.settle_attempt` did ("no change" when Stripe cannot be asked).
    Commits nothing: the caller's transaction keeps it."""
    if payment.payment_intent_id is None:
        return "no change"
    try:
        info = gateway.retrieve_payment_intent(config, payment.payment_intent_id)
    except gateway.GatewayError:
        return "no change"
    return attempts.settle_attempt(payment, attempts.attempt_status_for(info.status), now=now)
