"""Card payments for residents (saving a card, our "complete payment" page) and
Stripe's webhook. Cash is recorded by staff on the organiser's payments page."""

from flask import Blueprint

bp = Blueprint("payments", __name__)

from bulkbuy.payments import routes, webhook  # noqa: E402,F401
