"""What organisers use: suppliers, products, rounds, households and invites."""

from flask import Blueprint

bp = Blueprint("organiser", __name__)

from bulkbuy.organiser import (  # noqa: E402,F401  (each registers its views on bp)
    catalogue,
    collection,
    dropins,
    groups,
    households,
    money,
    packing,
    receiving,
    rounds,
    settlement,
    spare,
)
