"""Printed slips for households that hear from the group on paper: a round's slips to
print (every household that needs paper) and one household's slip."""

from __future__ import annotations

from flask import abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from bulkbuy.models import utcnow
from bulkbuy.organiser import bp
from bulkbuy.organiser.common import _staff
from bulkbuy.services import slips


@bp.route("/<int:group_id>/rounds/<int:round_id>/slips")
@login_required
def round_slips(group_id: int, round_id: int):
    """Every household of the round that needs its slip on paper (staff); `?which=all`
    prints one for every household of the round."""
    group, _member = _staff(group_id)
    which = request.args.get("which", "paper")
    try:
        found = slips.round_slips(group.id, round_id, utcnow(), which=which)
    except slips.NotFound:
        abort(404)
    return render_template(
        "slips/print.html", slips=found, timezone=group.timezone,
        back_url=url_for("organiser.round_detail", group_id=group.id, round_id=round_id),
        title=_("Slips to print"))


@bp.route("/<int:group_id>/rounds/<int:round_id>/slips/<int:household_id>")
@login_required
def household_slip(group_id: int, round_id: int, household_id: int):
    """One household's slip for the round (staff), whether or not it needs paper."""
    group, _member = _staff(group_id)
    try:
        slip = slips.household_slip(group.id, household_id, round_id, utcnow())
    except slips.NotFound:
        abort(404)
    return render_template(
        "slips/print.html", slips=[slip], timezone=group.timezone,
        back_url=url_for("organiser.round_detail", group_id=group.id, round_id=round_id),
        title=_("Slip for %(household)s", household=slip.household.label))
