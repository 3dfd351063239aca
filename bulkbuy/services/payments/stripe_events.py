"""Acting on Stripe's webhook events: each event id once, in any order.

The event id is inserted first, in the same transaction as the event's effect,
so a second delivery finds it and does nothing; one arriving at the same moment
waits on the id's unique index and, once the first is committed, does nothing. Effects go
through `attempts.settle_attempt`, which only moves forward, so an old
event arriving after a newer one changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from bulkbuy.adapters import stripe_gateway as gateway
from bulkbuy.extensions import db
from bulkbuy.models import CardPayment, CardRefund, Household, SavedCard, StripeEvent
from bulkbuy.services import ServiceError, audit, writes
from bulkbuy.services.payments import attempts, refunds, saved_cards

log = logging.getLogger(__name__)


class RefusedEvent(ServiceError):
    """A webhook whose signature or body did not check out (answer 400; nothing changed)."""


def receive(payload: bytes, signature_header: str | None, *, config, now: datetime) -> str:
    """Check a webhook's signature on its raw body, then apply its event once (see
    `handle_event`). Returns what was done; the request's transaction keeps it.

    Raises RefusedEvent for a forged, stale or unreadable event, or when no webhook
    secret is configured; nothing is written then. Any other error means the event
    was not handled: it is logged and raised, and the caller rolls back and answers
    so that Stripe sends it again.
    """
    try:
        event = gateway.parse_webhook(payload, signature_header,
                                      config.get("STRIPE_WEBHOOK_SECRET") or "")
    except gateway.WebhookError as exc:
        log.warning("stripe webhook refused: %s", exc)
        raise RefusedEvent(str(exc)) from exc
    try:
        outcome = handle_event(event, now)
    except Exception:
        log.exception("stripe webhook %s (%s) failed; Stripe will send it again",
                      event.id, event.type)
        raise
    log.info("stripe webhook %s (%s): %s", event.id, event.type, outcome)
    return outcome


def handle_event(event: gateway.WebhookEvent, now: datetime) -> str:
    """Apply one checked event once, with its id recorded; returns what was done
    ("duplicate" if it was seen, or is being handled by a delivery at the same moment).

    Never raises for an event about something we do not know: that is logged
    and answered as handled. Commits nothing: the caller's transaction keeps
    the id and the effect together.
    """
    if db.session.get(StripeEvent, event.id) is not None:
        return "duplicate"
    seen = StripeEvent(id=event.id, type=event.type, outcome="", received_at=now)
    if not writes.inserted(seen):
        return "duplicate"
    outcome = _apply(event, now)
    seen.outcome = outcome[:120]
    return outcome


def _apply(event: gateway.WebhookEvent, now: datetime) -> str:
    obj = event.object
    if event.type.startswith("payment_intent."):
        return _payment_intent(event, obj, now)
    if event.type == "setup_intent.succeeded":
        return _setup_intent(obj, now)
    if event.type.startswith("refund.") or event.type == "charge.refund.updated":
        return _refund(obj, now)
    return "ignored"


def _payment_intent(event: gateway.WebhookEvent, obj: dict, now: datetime) -> str:
    pi_id = obj.get("id")
    if not pi_id:  # never match on a missing id (parse_webhook refuses these anyway)
        return "no payment intent id"
    payment = db.session.scalar(
        select(CardPayment).where(CardPayment.payment_intent_id == pi_id))
    if payment is None:
        payment = attempts.attempt_named_by(obj.get("metadata") or {},
                                                  unrecorded_only=True)
    if payment is None:
        log.warning("stripe webhook %s (%s) is about PaymentIntent %s, which is not ours",
                    event.id, event.type, pi_id)
        return "unknown payment"
    status = {
        "payment_intent.succeeded": "succeeded",
        "payment_intent.payment_failed": "declined",
        "payment_intent.requires_action": "requires_action",
        "payment_intent.canceled": "canceled",
    }.get(event.type)
    if status is None:
        return "ignored"
    if status == "declined" and obj.get("status") == "requires_action":
        status = "requires_action"
    error = obj.get("last_payment_error") or {}
    return attempts.settle_attempt(
        payment, status, now=now, payment_intent_id=pi_id,
        error_code=error.get("decline_code") or error.get("code"),
    )


def _setup_intent(obj: dict, now: datetime) -> str:
    card = db.session.scalar(select(SavedCard).where(SavedCard.setup_intent_id == obj.get("id")))
    if card is None:
        return "unknown setup intent"
    pm = obj.get("payment_method")
    if isinstance(pm, dict):
        pm = pm.get("id")
    if not pm:
        return "no payment method"
    info = gateway.SavedCardInfo(setup_intent_id=obj["id"], status="succeeded",
                                 customer_id=obj.get("customer"), payment_method_id=pm)
    if not saved_cards.keep_saved_card(card, info, now):
        return "no change"
    household = db.session.get(Household, card.household_id)
    audit.record("card.saved", actor=None, group_id=household.group_id,
                 household_id=household.id, subject=card, source="webhook")
    return "card saved"


def _refund(obj: dict, now: datetime) -> str:
    refund = None
    if obj.get("id"):
        refund = db.session.scalar(select(CardRefund).where(CardRefund.refund_id == obj["id"]))
    key = (obj.get("metadata") or {}).get("refund_key")
    if refund is None and key:
        refund = db.session.scalar(select(CardRefund).where(CardRefund.idempotency_key == key))
    if refund is None:
        log.warning("stripe webhook about refund %s, which is not ours", obj.get("id"))
        return "unknown refund"
    return refunds.apply_refund_status(refund, obj.get("status"), obj.get("id"), now)
