"""The charge sweep's steps: which statements to charge, claiming one and recording its
attempt, asking Stripe, and recording the answer.

None of these commits. The job layer (`bulkbuy.payment_sweep`) makes each a unit of
work, so an attempt, with its idempotency key and metadata, is committed before
Stripe is asked and its answer committed after:
- a statement is claimed by one guarded UPDATE (due -> charging), so two
  schedulers never charge it both;
- failed and cancelled rounds are never charged (only statements of closed,
  ordered or delivered rounds are picked).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from bulkbuy.adapters import stripe_gateway as gateway
from bulkbuy.domain import statuses
from bulkbuy.domain.payment_states import STATEMENT
from bulkbuy.domain.statuses import AttemptStatus, StatementStatus
from bulkbuy.extensions import db
from bulkbuy.models import CardConsent, CardPayment, Round, SavedCard, Statement
from bulkbuy.services import solidarity
from bulkbuy.services.payments import attempts
from bulkbuy.services.payments.saved_cards import card_of
from bulkbuy.services.payments.throttle import Throttle

BATCH = 200


@dataclass
class PaymentSweep:
    """What one payment sweep did, for the command's output and the logs."""

    charged: int = 0
    needs_action: int = 0
    unknown: int = 0
    looked_up: int = 0
    refunded: int = 0
    errors: list[str] = field(default_factory=list)


def due_card_statement_ids(limit: int) -> list[int]:
    """Statements owed (at least Stripe's minimum) by households with a saved card that
    agreed to pay this round by card. Others pay on our page or in cash."""
    return list(db.session.scalars(
        select(Statement.id)
        .join(Round, Statement.round_id == Round.id)
        .join(SavedCard, SavedCard.household_id == Statement.household_id)
        .join(CardConsent, (CardConsent.round_id == Statement.round_id)
              & (CardConsent.household_id == Statement.household_id))
        .where(
            Statement.payment_status.in_(STATEMENT.sources("sweep_charges")),
            Statement.total_pence - Statement.paid_pence >= gateway.MINIMUM_CHARGE_PENCE,
            Round.status.in_(statuses.CHARGEABLE_ROUNDS),
            SavedCard.status == "saved",
        )
        .order_by(Statement.id)
        .limit(limit)
    ))


def sweep_will_charge(statement: Statement) -> bool:
    """Whether the payment sweep will take this due statement from the saved card."""
    most = db.session.scalar(select(CardConsent.max_pence).where(
        CardConsent.round_id == statement.round_id,
        CardConsent.household_id == statement.household_id))
    return would_charge(statement, card_of(statement.household_id), most,
                        card_kept_pence(statement.id))


def card_kept_pence(statement_id: int) -> int:
    """Pence cards already paid for the statement and not given back (refunds asked
    count as given back): what counts against the household's consent."""
    return db.session.scalar(
        select(func.coalesce(func.sum(CardPayment.amount_pence - CardPayment.refunded_pence),
                             0))
        .where(CardPayment.statement_id == statement_id,
               CardPayment.status == AttemptStatus.SUCCEEDED)) or 0


def would_charge(statement: Statement, card: SavedCard | None, consent_max: int | None,
                 card_kept: int = 0) -> bool:
    """The sweep's rule, given the household's card, the most it agreed to for this
    round and what its cards already paid for the statement (`card_kept_pence`): due, a
    card saved, agreed, within that maximum in all and at least Stripe's minimum."""
    owed = statement.total_pence - statement.paid_pence
    return (statement.payment_status == StatementStatus.DUE and card is not None
            and card.is_ready and consent_max is not None
            and gateway.MINIMUM_CHARGE_PENCE <= owed
            and owed + card_kept <= consent_max
            and statement.round.status in statuses.CHARGEABLE_ROUNDS)


def start_attempt(statement_id: int, now: datetime) -> CardPayment | None:
    """Claim a due statement and record the next off-session attempt (caller commits).

    Returns None when another sweep claimed it first, when it is above what
    the household agreed to (it becomes *needs action*), or when it is no
    longer chargeable.
    """
    claimed = attempts.claim_statement(
        statement_id, "sweep_charges",
        # Re-checked here: cash may have come in since the statement was listed.
        Statement.total_pence - Statement.paid_pence >= gateway.MINIMUM_CHARGE_PENCE,
        Statement.round_id.in_(
            select(Round.id).where(Round.status.in_(statuses.CHARGEABLE_ROUNDS))),
    )
    if not claimed:
        return None
    statement = db.session.get(Statement, statement_id)
    db.session.refresh(statement)
    amount = statement.total_pence - statement.paid_pence
    consented = db.session.scalar(
        select(CardConsent.max_pence).where(
            CardConsent.round_id == statement.round_id,
            CardConsent.household_id == statement.household_id)
    )
    # The consent is for the round in all: a card that paid before (a delivery raised
    # the bill since) counts against it.
    kept = card_kept_pence(statement_id)
    if consented is None or amount + kept > consented:
        attempts.mark_needs_action(statement, "over_consent", now)
        return None
    # A gift to the solidarity pot chosen with the consent rides on the charge, within it.
    gift = solidarity.card_gift_to_take(statement, amount, consented, kept)
    return attempts.record_attempt(statement, "off_session", now, gift_pence=gift)


@dataclass(frozen=True)
class ChargeRequest:
    """Everything one off-session charge sends, as plain values: a worker thread makes
    the call with no database session."""

    customer_id: str
    payment_method_id: str
    amount_pence: int
    idempotency_key: str
    metadata: dict[str, str]


def charge_request(payment: CardPayment) -> ChargeRequest | None:
    """The request for `payment`, or None when the household's card cannot be used."""
    card = card_of(payment.household_id)
    if card is None or not card.is_ready:
        return None
    return ChargeRequest(card.customer_id, card.payment_method_id, payment.amount_pence,
                         payment.idempotency_key, payment.metadata_for_stripe)


class StripeRefusedUs(Exception):
    """Stripe refused our request itself, not the card: our key (HTTP 401/403), an
    address without the endpoint (a wrong STRIPE_API_BASE: 404), or any other 4xx
    that is not a card error. Nothing was charged, and nothing will be until the
    settings are fixed. Not the resident's doing, so never shown to them as a decline."""


def send_charge(config, request: ChargeRequest) -> gateway.ChargeOutcome:
    """Stripe's answer to one charge (may run in a worker thread: touches no database).

    Only a card error (Stripe's CardError, with its code) comes back as "declined";
    no answer, 429 and 5xx come back as "unknown". Raises StripeRefusedUs for
    every other refusal (see there)."""
    try:
        return gateway.charge_off_session(
            config, customer_id=request.customer_id,
            payment_method_id=request.payment_method_id, amount_pence=request.amount_pence,
            idempotency_key=request.idempotency_key, metadata=request.metadata,
        )
    except gateway.GatewayError as exc:
        raise StripeRefusedUs(str(exc)) from None


NO_CARD = gateway.ChargeOutcome("declined", None, "no_card", "No saved card")


def heed(outcome: gateway.ChargeOutcome, throttle: Throttle) -> gateway.ChargeOutcome:
    """Let the throttle learn from an answer (slow down after a 429)."""
    if outcome.rate_limited:
        throttle.rate_limited()
    elif outcome.kind != "unknown":
        throttle.succeeded()
    return outcome


def ask_stripe(payment: CardPayment, *, config, throttle: Throttle) -> gateway.ChargeOutcome:
    """Send `payment`'s charge (again, with its own key) and return the answer; NO_CARD
    when the household's card cannot be used. Raises StripeRefusedUs."""
    request = charge_request(payment)
    if request is None:
        return NO_CARD
    throttle.wait()
    return heed(send_charge(config, request), throttle)


def record_answer(payment_id: int, outcome: gateway.ChargeOutcome, now: datetime,
                  result: PaymentSweep) -> None:
    """Record Stripe's answer to a charge (see attempts.settle_attempt), counted in
    `result`. An answer of HTTP 5xx is marked: Stripe replays it for that key."""
    payment = db.session.get(CardPayment, payment_id)
    word = attempts.settle_attempt(
        payment, outcome.kind, now=now, payment_intent_id=outcome.payment_intent_id,
        error_code=outcome.error_code,
        answered_5xx=outcome.kind == "unknown" and (outcome.http_status or 0) >= 500,
    )
    if word == "paid":
        result.charged += 1
    elif word in ("requires_action", "declined"):
        result.needs_action += 1
    elif word == "unknown":
        result.unknown += 1
        result.errors.append(outcome.message or "unknown")
