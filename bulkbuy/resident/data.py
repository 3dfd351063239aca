"""A household's data in its own hands: what we keep (the privacy page), the download
of it, and asking for it to be erased."""

from __future__ import annotations

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from bulkbuy.models import utcnow
from bulkbuy.resident import bp
from bulkbuy.services import ServiceError, privacy
from bulkbuy.transactions import undone_on_error
from bulkbuy.validation import record_id


@bp.route("/privacy")
def privacy_page():
    return render_template("privacy.html",
                           audit_days=current_app.config["AUDIT_RETENTION_DAYS"],
                           title=_("Privacy: what we keep about you"))


@bp.route("/my/data")
@login_required
def my_data():
    return render_template("resident/my_data.html",
                           memberships=privacy.households_of(current_user),
                           requests=privacy.requests_of(current_user),
                           title=_("Your data"))


@bp.route("/my/data.zip", methods=["POST"])
@login_required
def my_data_zip():
    # A POST (with its CSRF token), so no other site can start a download; like every
    # page, the answer carries Cache-Control: no-store (bulkbuy.web).
    with undone_on_error():
        archive = privacy.data_download(current_user, now=utcnow())
    filename = f"bulkbuy-data-{utcnow():%Y-%m-%d}.zip"
    return Response(archive, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.route("/my/data/erase-request", methods=["GET", "POST"])
@login_required
def erase_request():
    memberships = privacy.households_of(current_user)
    chosen = record_id(request.values.get("household_id"))
    if chosen is None and len(memberships) == 1:
        chosen = memberships[0].household_id
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            with undone_on_error():
                privacy.ask_for_erasure(current_user, chosen,
                                        confirmed=request.form.get("confirm") == "yes",
                                        now=utcnow())
        except ServiceError as error:
            errors[error.field or "confirm"] = error.message
        else:
            flash(_("We have your request. Staff of your group will look at it and "
                    "tell you."), "success")
            return redirect(url_for("resident.my_data"), 303)
    return render_template("resident/erase_request.html", memberships=memberships,
                           chosen=chosen, errors=errors,
                           title=_("Ask us to erase your household's data")
                           ), 400 if errors else 200
