"""POST /stripe/webhook: Stripe's events, signature checked on the raw body."""

from __future__ import annotations

import logging

from flask import current_app, request

from bulkbuy.adapters import stripe_gateway as gateway
from bulkbuy.extensions import csrf, db, limiter
from bulkbuy.models import utcnow
from bulkbuy.payments import bp
from bulkbuy.services import stripe_events

log = logging.getLogger(__name__)


@bp.route("/stripe/webhook", methods=["POST"])
@csrf.exempt
@limiter.exempt
def stripe_webhook():
    """400 for a forged, stale or unreadable event (nothing changes); else 200, quickly.

    An event already handled, or about a payment that is not ours, is 200 too,
    so Stripe stops sending it.
    """
    try:
        event = gateway.parse_webhook(
            request.get_data(cache=False), request.headers.get("Stripe-Signature"),
            current_app.config.get("STRIPE_WEBHOOK_SECRET") or "",
        )
    except gateway.WebhookError as exc:
        log.warning("stripe webhook refused: %s", exc)
        return {"error": str(exc)}, 400
    try:
        outcome = stripe_events.handle_event(event, utcnow())
    except Exception:
        db.session.rollback()
        log.exception("stripe webhook %s (%s) failed; Stripe will send it again",
                      event.id, event.type)
        return {"error": "not handled"}, 500
    log.info("stripe webhook %s (%s): %s", event.id, event.type, outcome)
    return {"received": True, "outcome": outcome}, 200
