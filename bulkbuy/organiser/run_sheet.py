"""The drop-in run sheet: who the worker can expect, what money and news wait for each
household, and the slips to hand over. Printable."""

from __future__ import annotations

from flask import render_template
from flask_babel import gettext as _
from flask_login import login_required

from bulkbuy.models import utcnow
from bulkbuy.organiser import bp
from bulkbuy.organiser.common import _staff
from bulkbuy.services import run_sheet as run_sheets


@bp.route("/<int:group_id>/run-sheet")
@login_required
def run_sheet(group_id: int):
    """Who to expect at the drop-in (staff: organisers and workers)."""
    group, _member = _staff(group_id)
    return render_template("organiser/run_sheet.html", group=group,
                           sheet=run_sheets.run_sheet(group, utcnow()),
                           title=_("Drop-in run sheet"))
