"""Shared-tablet mode: a worker's tablet at a drop-in, residents taking turns on it."""

from flask import Blueprint

bp = Blueprint("tablet", __name__, url_prefix="/tablet")

from bulkbuy.tablet import routes  # noqa: E402,F401
