"""What organisers use: suppliers, products, rounds, households and invites."""

from flask import Blueprint

bp = Blueprint("organiser", __name__)

from bulkbuy.organiser import (  # noqa: E402,F401  (each registers its views on bp)
    audit_log,
    catalogue,
    collection,
    drop_in_times,
    dropins,
    erasure,
    groups,
    household_admin,
    households,
    impact,
    member_reset,
    money,
    packing,
    receiving,
    rounds,
    run_sheet,
    settlement,
    slips,
    solidarity,
    spare,
    staff,
    time_credits,
)
