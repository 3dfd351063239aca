"""The group's solidarity pot: its balance and entries, donations, its rule, and which
households it supports. Organisers only (workers get 403): who is supported is private."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from bulkbuy.domain.money import format_pence
from bulkbuy.models import Group, utcnow
from bulkbuy.organiser import bp
from bulkbuy.organiser.common import _organiser, pounds_text
from bulkbuy.services import ServiceError, organising, solidarity
from bulkbuy.transactions import undone_on_error
from bulkbuy.validation import clean_text, optional_pounds, parse_pounds, whole_number


def _pot_url(group: Group) -> str:
    return url_for("organiser.solidarity_pot", group_id=group.id)


@bp.route("/<int:group_id>/solidarity-pot")
@login_required
def solidarity_pot(group_id: int):
    """The pot's balance, money in and out, its entries, its rule and the households."""
    return _render_pot(_organiser(group_id))


def _render_pot(group: Group, errors=None, typed=None, status=200):
    page = solidarity.pot_page(group)
    typed = typed or {}
    typed.setdefault("rule", {"share": str(page.goods_share_percent),
                              "cap": pounds_text(page.cap_pence)})
    return render_template("organiser/solidarity_pot.html", group=group, pot=page,
                           errors=errors or {}, typed=typed,
                           title=_("Solidarity pot")), status


@bp.route("/<int:group_id>/solidarity-pot/donations", methods=["POST"])
@login_required
def record_pot_donation(group_id: int):
    """Record money given to the pot, with where it came from."""
    group = _organiser(group_id)
    typed = {k: request.form.get(k, "") for k in ("amount", "note")}
    errors: dict[str, str] = {}
    try:
        amount = parse_pounds(typed["amount"])
    except ValueError as error:
        errors["amount"] = str(error)
    try:
        note = clean_text(typed["note"], _("Where it came from"), max_length=200,
                          required=False)
    except ValueError as error:
        errors["note"] = str(error)
    if not errors:
        try:
            with undone_on_error():
                solidarity.record_donation(group, amount, note, actor=current_user,
                                           now=utcnow())
        except ServiceError as error:
            errors[error.field or "amount"] = error.message
    if errors:
        return _render_pot(group, {"donation": errors}, {"donation": typed}, 400)
    flash(_("%(amount)s put in the solidarity pot.", amount=format_pence(amount)), "success")
    return redirect(_pot_url(group), 303)


@bp.route("/<int:group_id>/solidarity-pot/rule", methods=["POST"])
@login_required
def save_pot_rule(group_id: int):
    """Set the share of goods the pot pays and the most per household per round."""
    group = _organiser(group_id)
    typed = {k: request.form.get(k, "") for k in ("share", "cap")}
    errors: dict[str, str] = {}
    try:
        share = whole_number(typed["share"], _("Share of goods"), maximum=100)
    except ValueError as error:
        errors["share"] = str(error)
    try:
        cap = optional_pounds(typed["cap"])
    except ValueError as error:
        errors["cap"] = str(error)
    if not errors:
        try:
            with undone_on_error():
                solidarity.save_rule(group, share, cap, actor=current_user, now=utcnow())
        except ServiceError as error:
            errors[error.field or "share"] = error.message
    if errors:
        return _render_pot(group, {"rule": errors}, {"rule": typed}, 400)
    flash(_("The pot's rule is saved."), "success")
    return redirect(_pot_url(group) + "#rule", 303)


@bp.route("/<int:group_id>/solidarity-pot/households/<int:household_id>", methods=["POST"])
@login_required
def set_pot_support(group_id: int, household_id: int):
    """Mark a household as one the pot helps (supported=1), or no longer (supported=0)."""
    group = _organiser(group_id)
    household = organising.household_of_group(group, household_id)
    if household is None or household.removed_at is not None:
        abort(404)
    supported = request.form.get("supported") == "1"
    try:
        with undone_on_error():
            solidarity.set_supported(group, household, supported, actor=current_user,
                                     now=utcnow())
    except ServiceError as error:
        return _render_pot(group, {"households": {"household": error.message}}, {}, 400)
    if supported:
        flash(_("The pot now helps %(household)s.", household=household.label), "success")
    else:
        flash(_("The pot no longer helps %(household)s.", household=household.label),
              "success")
    return redirect(_pot_url(group) + f"#household-{household.id}", 303)
