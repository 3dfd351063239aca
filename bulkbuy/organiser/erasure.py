"""Households' requests to have their data erased (UK GDPR): organisers erase, or
refuse with a reason."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from bulkbuy.models import utcnow
from bulkbuy.organiser import bp
from bulkbuy.organiser.common import _organiser
from bulkbuy.services import ServiceError, privacy
from bulkbuy.transactions import undone_on_error
from bulkbuy.validation import clean_text


@bp.route("/<int:group_id>/erasure-requests")
@login_required
def erasure_requests(group_id: int):
    return _render(_organiser(group_id))


def _render(group, errors=None, typed=None, status=200):
    return render_template("organiser/erasure_requests.html", group=group,
                           listed=privacy.erasure_requests(group), errors=errors or {},
                           typed=typed or {}, title=_("Requests to erase data")), status


def _pending(group, household_id: int):
    req = privacy.pending_request_of(group, household_id)
    if req is None:
        abort(404)
    return req


@bp.route("/<int:group_id>/erasure-requests/<int:household_id>/erase", methods=["POST"])
@login_required
def confirm_erasure(group_id: int, household_id: int):
    group = _organiser(group_id)
    req = _pending(group, household_id)
    if request.form.get("confirm") != "yes":
        return _render(group, {household_id: {
            "confirm": _("Tick the box to say you have checked, then erase.")}}, status=400)
    try:
        with undone_on_error():
            household = privacy.confirm_erasure(req, actor=current_user, now=utcnow())
    except ServiceError as error:
        return _render(group, {household_id: {error.field or "confirm": error.message}},
                       status=400)
    flash(_("Erased. It is now called %(household)s; its money records stay.",
            household=household.label), "success")
    return redirect(url_for("organiser.erasure_requests", group_id=group.id), 303)


@bp.route("/<int:group_id>/erasure-requests/<int:household_id>/refuse", methods=["POST"])
@login_required
def refuse_erasure(group_id: int, household_id: int):
    group = _organiser(group_id)
    req = _pending(group, household_id)
    typed = request.form.get("reason", "")
    try:
        reason = clean_text(typed, _("Reason"), max_length=200, required=False)
        with undone_on_error():
            privacy.refuse_erasure(req, reason, actor=current_user, now=utcnow())
    except ValueError as error:
        return _render(group, {household_id: {"reason": str(error)}},
                       {household_id: typed}, 400)
    except ServiceError as error:
        return _render(group, {household_id: {error.field or "reason": error.message}},
                       {household_id: typed}, 400)
    flash(_("Refused. The household sees your reason."), "success")
    return redirect(url_for("organiser.erasure_requests", group_id=group.id), 303)
