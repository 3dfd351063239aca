"""What organisers use: suppliers, products, rounds, households and invites."""

from flask import Blueprint

bp = Blueprint("organiser", __name__)

from bulkbuy.organiser import routes  # noqa: E402,F401
