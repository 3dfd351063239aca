"""Signing in and out, and joining a group with an invite code."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from bulkbuy.auth import routes  # noqa: E402,F401  (routes register themselves on bp)
