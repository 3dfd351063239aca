"""Packing a finished round: the pick list per product and a slip per household."""

from __future__ import annotations

from flask import (
    render_template,
    request,
)
from flask_babel import gettext as _
from flask_login import login_required

from bulkbuy.organiser import bp
from bulkbuy.organiser.common import (
    _closed_round,
    _staff,
)
from bulkbuy.services import packing

#: Paper sizes for slips; anything else asked for is shown as A4 (a view setting only).
SLIP_SIZES = ("a4", "a6")


@bp.route("/<int:group_id>/rounds/<int:round_id>/pick-list")
@login_required
def pick_list(group_id: int, round_id: int):
    """Per product, how many units go into each household's bag (staff; finished rounds)."""
    group, _member = _staff(group_id)
    rnd = _closed_round(group, round_id)
    return render_template("organiser/pick_list.html", group=group, round=rnd,
                           picks=packing.pick_list(rnd),
                           title=_("Pick list: %(round)s", round=rnd.title))


@bp.route("/<int:group_id>/rounds/<int:round_id>/packing-slips")
@login_required
def packing_slips(group_id: int, round_id: int):
    """A slip per household to put in its bag, A4 (one after another) or A6 (one a page)."""
    group, _member = _staff(group_id)
    rnd = _closed_round(group, round_id)
    size = request.args.get("size", "a4").strip().lower()
    if size not in SLIP_SIZES:
        size = "a4"
    return render_template("organiser/packing_slips.html", group=group, round=rnd,
                           slips=packing.packing_slips(rnd), size=size,
                           title=_("Packing slips: %(round)s", round=rnd.title))
