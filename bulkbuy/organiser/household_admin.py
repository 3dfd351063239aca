"""Looking after households: a new name or block, its language and paper news (staff),
merging two after a preview and removing one (organisers), and a link that brings a
person into a household (staff)."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from bulkbuy import access
from bulkbuy.models import utcnow
from bulkbuy.organiser import bp
from bulkbuy.organiser.common import _organiser, _staff
from bulkbuy.organiser.households import _render_households
from bulkbuy.qr import qr_svg
from bulkbuy.services import ServiceError, household_admin
from bulkbuy.transactions import undone_on_error
from bulkbuy.validation import clean_text, record_id


@bp.app_template_global()
def organises_group(group_id: int) -> bool:
    """Whether the signed-in person is an organiser of this group (the households page
    shows merge and remove to organisers only); asked once per request."""
    known = g.setdefault("organises_group", {})
    if group_id not in known:
        known[group_id] = access.membership(group_id).role == "organiser"
    return known[group_id]


def _live(group, household_id: int):
    household = household_admin.live_household(group, household_id)
    if household is None:
        abort(404)
    return household


def _back_to(household, search: str | None = None):
    return redirect(url_for("organiser.households", group_id=household.group_id,
                            q=search or None) + f"#household-{household.id}", 303)


@bp.route("/<int:group_id>/households/<int:household_id>/edit", methods=["POST"])
@login_required
def edit_household(group_id: int, household_id: int):
    """A household's new name or block (organisers and workers)."""
    group, _member = _staff(group_id)
    household = _live(group, household_id)
    errors: dict[str, str] = {}
    try:
        label = clean_text(request.form.get("label"), _("Name"), max_length=60)
    except ValueError as error:
        errors["label"] = str(error)
    try:
        block = clean_text(request.form.get("block"), _("Block"), max_length=60,
                           required=False)
    except ValueError as error:
        errors["block"] = str(error)
    if not errors:
        try:
            with undone_on_error():
                changed = household_admin.edit_household(household, label, block,
                                                          actor=current_user, now=utcnow())
        except ServiceError as error:
            errors[error.field or "label"] = error.message
    if errors:
        typed = {k: request.form.get(k, "") for k in ("label", "block")}
        return _render_households(group, {household.id: errors}, {household.id: typed}, 400,
                                  search=household.label)
    if changed:
        flash(_("Saved: %(household)s.", household=household.label), "success")
    return _back_to(household, request.form.get("q"))


@bp.route("/<int:group_id>/households/<int:household_id>/language", methods=["POST"])
@login_required
def set_household_language(group_id: int, household_id: int):
    """The language of a household's e-mails and slips, and whether its news is printed
    for it too (organisers and workers)."""
    group, _member = _staff(group_id)
    household = _live(group, household_id)
    code = request.form.get("locale", "")
    paper = request.form.get("paper_slips") == "y"
    try:
        with undone_on_error():
            changed = household_admin.set_language(household, code, paper,
                                                   actor=current_user)
    except ServiceError as error:
        return _render_households(group, {household.id: {"locale": error.message}},
                                  {household.id: {"locale": code}}, 400,
                                  search=household.label)
    if changed:
        flash(_("Saved: %(household)s.", household=household.label), "success")
    return _back_to(household, request.form.get("q"))


@bp.route("/<int:group_id>/households/<int:household_id>/merge", methods=["GET", "POST"])
@login_required
def merge_household(group_id: int, household_id: int):
    """Merge this household into another (`into`): a preview first, then the change
    (organisers)."""
    group = _organiser(group_id)
    merged = _live(group, household_id)
    source = request.form if request.method == "POST" else request.args
    into_id = record_id(source.get("into"))
    kept = household_admin.live_household(group, into_id) if into_id else None
    if kept is None or kept.id == merged.id:
        if into_id is not None or request.method == "POST":
            abort(404)
        return render_template(
            "organiser/household_merge.html", group=group, merged=merged, preview=None,
            candidates=household_admin.merge_candidates(merged), error=None,
            title=_("Merge %(household)s into another household", household=merged.label))
    error, merged_label = None, merged.label
    if request.method == "POST":
        try:
            with undone_on_error():
                household_admin.merge_households(kept, merged, actor=current_user,
                                                 now=utcnow())
        except ServiceError as refused:
            error = refused.message
        else:
            flash(_("Merged. %(merged)s is now part of %(kept)s.", merged=merged_label,
                    kept=kept.label), "success")
            return _back_to(kept)
    preview = household_admin.merge_preview(kept, merged)
    return render_template(
        "organiser/household_merge.html", group=group, merged=merged, preview=preview,
        candidates=None, error=error,
        title=_("Merge %(merged)s into %(kept)s?", merged=merged.label, kept=kept.label),
    ), 400 if error else 200


@bp.route("/<int:group_id>/households/<int:household_id>/remove", methods=["POST"])
@login_required
def remove_household(group_id: int, household_id: int):
    """Take a household off the list, its history kept (organisers)."""
    group = _organiser(group_id)
    household = _live(group, household_id)
    if request.form.get("confirm") != "yes":
        message = _("Tick the box to say their orders in open rounds will be withdrawn.")
        return _render_households(group, {household.id: {"confirm": message}}, {}, 400,
                                  search=household.label)
    try:
        with undone_on_error():
            removal = household_admin.remove_household(household, actor=current_user,
                                                       now=utcnow())
    except ServiceError as error:
        return _render_households(group, {household.id: {"confirm": error.message}}, {},
                                  400, search=household.label)
    flash(_("%(household)s is off the list. Its past rounds and payments are kept.",
            household=removal.old_label), "success")
    return redirect(url_for("organiser.households", group_id=group.id), 303)


@bp.route("/<int:group_id>/households/<int:household_id>/invite", methods=["POST"])
@login_required
def invite_to_household(group_id: int, household_id: int):
    """A single-use link for a person to get an account in this household, shown once
    with a QR code, and e-mailed when an address is given (organisers and workers)."""
    group, _member = _staff(group_id)
    household = _live(group, household_id)
    email = (request.form.get("email") or "").strip()
    try:
        with undone_on_error():
            made = household_admin.invite_to_household(household, actor=current_user,
                                                       now=utcnow(), email=email or None)
    except ServiceError as error:
        return _render_households(group, {household.id: {"email": error.message}},
                                  {household.id: {"email": email}}, 400,
                                  search=household.label)
    qr = qr_svg(made.url, title=_("QR code of the invite link"))
    return render_template(
        "organiser/household_invite_link.html", group=group, household=household,
        invite=made.invite, url=made.url, qr=qr,
        title=_("Invite link for %(household)s", household=household.label))
