"""Drop-in session sheets: what was done on each tablet session."""

from __future__ import annotations

from flask import (
    abort,
    render_template,
)
from flask_babel import gettext as _
from flask_login import login_required

from bulkbuy.models import utcnow
from bulkbuy.organiser import bp
from bulkbuy.organiser.common import (
    _staff,
)
from bulkbuy.services import (
    organising,
    tablet,
)


@bp.route("/<int:group_id>/tablet-sessions")
@login_required
def tablet_sessions(group_id: int):
    """The group's tablet sessions, newest first (staff)."""
    group, _member = _staff(group_id)
    return render_template("organiser/tablet_sessions.html", group=group,
                           sessions=organising.recent_tablet_sessions(group),
                           title=_("Drop-in sessions"))


@bp.route("/<int:group_id>/tablet-sessions/<int:session_id>")
@login_required
def tablet_sheet(group_id: int, session_id: int):
    """A drop-in session's sheet, printable as the receipt sheet."""
    group, _member = _staff(group_id)
    found = organising.tablet_session_of_group(group, session_id)
    if found is None:
        abort(404)
    return render_template("organiser/tablet_sheet.html", group=group,
                           sheet=tablet.session_sheet(found, utcnow()),
                           title=_("Drop-in session sheet"))
