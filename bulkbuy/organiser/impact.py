"""The impact report for funders and the council: organisers and community workers of
the group see it (another group's answers 404, a resident 403); its charts are images of
their own, and its figures are also a spreadsheet (CSV)."""

from __future__ import annotations

from flask import Response, render_template, request
from flask_babel import gettext as _
from flask_login import login_required

from bulkbuy.models import utcnow
from bulkbuy.organiser import bp
from bulkbuy.organiser.common import _staff
from bulkbuy.services import impact, impact_charts

#: The charts' own policy: an SVG shown as an image runs no script, and needs pygal's
#: inline <style> (the pages' policy forbids inline styles).
CHART_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


@bp.route("/<int:group_id>/impact")
@login_required
def impact_report(group_id: int):
    """The report for the period in the query string (the last 12 months by default);
    a bad date answers 400 with its message beside it."""
    group, _member = _staff(group_id)
    found = impact.report(group, request.args, utcnow())
    return render_template(
        "organiser/impact.html", group=group, report=found, figures=impact.figures(found)
        if not found.errors else [], words=impact, title=_("Impact report"),
    ), 400 if found.errors else 200


@bp.route("/<int:group_id>/impact.csv")
@login_required
def impact_csv(group_id: int):
    """The report's figures as a spreadsheet, for the same period."""
    group, _member = _staff(group_id)
    found = impact.report(group, request.args, utcnow())
    if found.errors:
        return impact_report(group_id)
    name = f"impact-{group.id}-{found.first}-{found.last}.csv"
    return Response(impact.as_csv(found), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/<int:group_id>/impact/<any(households, money):chart>.svg")
@login_required
def impact_chart(group_id: int, chart: str):
    """One of the report's charts, as an SVG image, for the same period."""
    group, _member = _staff(group_id)
    found = impact.report(group, request.args, utcnow())
    if found.errors:
        return impact_report(group_id)
    return Response(impact_charts.render(chart, found), mimetype="image/svg+xml",
                    headers={"Content-Security-Policy": CHART_POLICY,
                             "Cache-Control": "private, no-cache"})
