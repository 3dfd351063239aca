"""POST /stripe/webhook: Stripe's events, signature checked on the raw body."""

from __future__ import annotations

from flask import current_app, request

from bulkbuy.extensions import csrf, limiter
from bulkbuy.models import utcnow
from bulkbuy.payments import bp
from bulkbuy.services.payments import stripe_events
from bulkbuy.transactions import undone_on_error


@bp.route("/stripe/webhook", methods=["POST"])
@csrf.exempt
@limiter.exempt
def stripe_webhook():
    """400 for a forged, stale or unreadable event (nothing changes); else 200, quickly.

    An event already handled, or about a payment that is not ours, is 200 too,
    so Stripe stops sending it. 500 when handling it failed (nothing of it stays),
    so Stripe sends it again.
    """
    try:
        with undone_on_error():
            outcome = stripe_events.receive(
                request.get_data(cache=False), request.headers.get("Stripe-Signature"),
                config=current_app.config, now=utcnow())
    except stripe_events.RefusedEvent as refused:
        return {"error": refused.message}, 400
    except Exception:  # logged by the service, and rolled back above
        return {"error": "not handled"}, 500
    return {"received": True, "outcome": outcome}, 200
