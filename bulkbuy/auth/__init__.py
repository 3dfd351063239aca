"""Signing in and out, joining a group, invites, account recovery and two-step sign-in."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

# Each module registers its views on bp.
from bulkbuy.auth import (  # noqa: E402,F401
    household_invite,
    invites,
    recovery,
    routes,
    two_step,
)
