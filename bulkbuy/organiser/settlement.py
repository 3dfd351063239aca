"""Settling up: the round's books on one page (checked to the penny), a CSV of them for
the treasurer, and finishing the round. Organisers only."""

from __future__ import annotations

import csv
import io

from flask import Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from bulkbuy.formatting import csv_safe
from bulkbuy.models import Group, Round, utcnow
from bulkbuy.organiser import bp
from bulkbuy.organiser.common import _organiser, _round_in
from bulkbuy.services import ServiceError, settlement
from bulkbuy.transactions import undone_on_error


def _settling_round(group_id: int, round_id: int) -> tuple[Group, Round]:
    """An organiser of the group, and a round of it that was delivered (or finished)."""
    group = _organiser(group_id)
    return group, _round_in(group, round_id, settlement.SHOWN_ROUNDS)


@bp.route("/<int:group_id>/rounds/<int:round_id>/settlement")
@login_required
def settlement_page(group_id: int, round_id: int):
    """Every figure of the round's books, whether they balance, and what is left before
    the round can be finished."""
    group, rnd = _settling_round(group_id, round_id)
    return render_template("organiser/settlement.html", group=group, round=rnd,
                           books=settlement.books(rnd),
                           title=_("Settling up: %(round)s", round=rnd.title))


def _pounds(pence: int) -> str:
    """Pence as plain pounds for a spreadsheet, with a minus when negative: -50 -> -0.50."""
    sign = "-" if pence < 0 else ""
    pounds, rest = divmod(abs(pence), 100)
    return f"{sign}{pounds}.{rest:02d}"


@bp.route("/<int:group_id>/rounds/<int:round_id>/settlement.csv")
@login_required
def settlement_csv(group_id: int, round_id: int):
    """The same figures as the page, one a row: figure, pence, pounds."""
    _group, rnd = _settling_round(group_id, round_id)
    found = settlement.books(rnd)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["figure", "pence", "pounds"])
    for figure in found.figures:
        if figure.pence is None:
            writer.writerow([csv_safe(str(figure.label)), "", ""])
        else:
            writer.writerow([csv_safe(str(figure.label)), figure.pence,
                             _pounds(figure.pence)])
    return Response(
        out.getvalue(), mimetype="text/csv",
        headers={"Content-Disposition":
                 f'attachment; filename="settlement-round-{rnd.id}.csv"'},
    )


@bp.route("/<int:group_id>/rounds/<int:round_id>/finish", methods=["POST"])
@login_required
def finish_round(group_id: int, round_id: int):
    """Mark the round complete, or say what is left to do first."""
    group, rnd = _settling_round(group_id, round_id)
    back = redirect(url_for("organiser.settlement_page", group_id=group.id, round_id=rnd.id),
                    303)
    try:
        with undone_on_error():
            settlement.finish_round(rnd, actor=current_user, now=utcnow())
    except ServiceError as error:
        flash(error.message, "error")
        return back
    flash(_("The round is finished. Its books are kept as they are now."), "success")
    return back
