"""A group's households: the list, households added for people without e-mail, PINs."""

from __future__ import annotations

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from bulkbuy.models import utcnow
from bulkbuy.organiser import bp
from bulkbuy.organiser.common import (
    _staff,
)
from bulkbuy.services import (
    ServiceError,
    organising,
    tablet,
)
from bulkbuy.transactions import undone_on_error
from bulkbuy.validation import clean_text, record_id


@bp.route("/<int:group_id>/households")
@login_required
def households(group_id: int):
    group, _member = _staff(group_id)
    return _render_households(group, search=request.args.get("q"),
                              page=record_id(request.args.get("page")) or 1)


def _render_households(group, errors=None, typed=None, status=200, *, search=None, page=1):
    return render_template(
        "organiser/households.html", group=group,
        listed=organising.household_list(group, search=search, page=page),
        now=utcnow(), errors=errors or {}, typed=typed or {}, title=_("Households"),
    ), status


@bp.route("/<int:group_id>/households/assisted", methods=["POST"])
@login_required
def add_assisted_household(group_id: int):
    """A worker adds a household with no e-mail and no card; it uses the tablet with a PIN."""
    group, _member = _staff(group_id)
    typed = {k: request.form.get(k, "") for k in ("label", "block", "pin")}
    errors: dict[str, str] = {}
    try:
        label = clean_text(typed["label"], _("Name"), max_length=60)
    except ValueError as error:
        errors["label"] = str(error)
    try:
        block = clean_text(typed["block"], _("Block"), max_length=60, required=False)
    except ValueError as error:
        errors["block"] = str(error)
    if not errors:
        try:
            with undone_on_error():
                household = tablet.create_assisted_household(
                    group, label, block, typed["pin"], actor=current_user, now=utcnow())
        except ServiceError as error:
            errors[error.field or "label"] = error.message
    if errors:
        return _render_households(group, {"new": errors}, {"new": typed}, 400)
    flash(_("%(household)s added. They can use the tablet with their PIN.",
            household=household.label), "success")
    return redirect(url_for("organiser.households", group_id=group.id), 303)


@bp.route("/<int:group_id>/households/<int:household_id>/pin", methods=["POST"])
@login_required
def set_household_pin(group_id: int, household_id: int):
    """Set or reset a household's PIN (this also unlocks it)."""
    group, _member = _staff(group_id)
    household = organising.household_of_group(group, household_id)
    if household is None:
        abort(404)
    try:
        with undone_on_error():
            tablet.set_pin(household, request.form.get("pin", ""), actor=current_user,
                           now=utcnow())
    except ServiceError as error:
        # Shown on its own (found by its name), so the message is next to its form.
        return _render_households(group, {household.id: {"pin": error.message}}, {}, 400,
                                  search=household.label)
    flash(_("New PIN set for %(household)s.", household=household.label), "success")
    return redirect(url_for("organiser.households", group_id=group.id,
                            q=request.form.get("q") or None)
                    + f"#household-{household.id}", 303)
