"""The group's audit log: who did what, and when, for organisers (every entry) and
community workers (drop-in entries only), on a page or as a spreadsheet."""

from __future__ import annotations

from flask import Response, render_template, request
from flask_babel import gettext as _
from flask_login import login_required

from bulkbuy.organiser import bp
from bulkbuy.organiser.common import _staff
from bulkbuy.services import audit_log


@bp.route("/<int:group_id>/audit")
@login_required
def audit(group_id: int):
    """The log, newest first, a page at a time, narrowed by the filters in the query
    string; a bad filter answers 400 with its message next to it."""
    group, member = _staff(group_id)
    log = audit_log.read_log(group, request.args, dropin_only=member.role == "worker")
    return _render(group, log)


@bp.route("/<int:group_id>/audit.csv")
@login_required
def audit_csv(group_id: int):
    """Every entry the same filters match (up to audit_log.CSV_MOST_ROWS), as a
    spreadsheet; workers get drop-in entries only, as on the page."""
    group, member = _staff(group_id)
    log = audit_log.read_log(group, request.args, dropin_only=member.role == "worker",
                             everything=True)
    if log.errors:
        return _render(group, log)
    return Response(
        audit_log.as_csv(log, group.timezone), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="audit-log-{group.id}.csv"'})


def _render(group, log):
    return render_template(
        "organiser/audit_log.html", group=group, log=log,
        title=_("Drop-in log") if log.dropin_only else _("Audit log"),
    ), 400 if log.errors else 200
