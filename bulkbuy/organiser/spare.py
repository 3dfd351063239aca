"""Spare units: staff sell what arrived beyond what households get (at a price, with a
receipt) or give it away (saying why). On a tablet or a phone."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from bulkbuy.domain.money import format_pence
from bulkbuy.models import Group, Round, utcnow
from bulkbuy.models.spare import BUYER_MAX, REASON_MAX, RECEIPT_MAX
from bulkbuy.organiser import bp
from bulkbuy.organiser.common import _round_in, _staff
from bulkbuy.services import ServiceError, delivery
from bulkbuy.services import spare as spare_service
from bulkbuy.transactions import undone_on_error
from bulkbuy.validation import clean_text, parse_pounds, record_id, whole_number

#: The two forms of each product, and the fields each sends.
ACTIONS = {"sell": ("units", "price", "receipt", "buyer"), "give": ("units", "reason")}


def _spare_round(group_id: int, round_id: int) -> tuple[Group, Round]:
    """Staff of the group, and a round of it that was delivered (or finished)."""
    group, _member = _staff(group_id)
    return group, _round_in(group, round_id, spare_service.SHOWN_ROUNDS)


@bp.route("/<int:group_id>/rounds/<int:round_id>/spare", methods=["GET", "POST"])
@login_required
def spare(group_id: int, round_id: int):
    """The round's spare units, product by product, with a form to sell some and one to
    give some away; and what was sold or given away already."""
    group, rnd = _spare_round(group_id, round_id)
    if request.method == "GET":
        return _render(group, rnd)
    action = request.form.get("action", "")
    if action not in ACTIONS:
        abort(400)
    item_id = record_id(request.form.get("item")) or 0
    typed = {name: request.form.get(name, "") for name in ACTIONS[action]}
    errors: dict[str, str] = {}
    try:
        units = whole_number(typed["units"], _("How many"), minimum=1,
                             maximum=delivery.MOST_UNITS)
    except ValueError as error:
        errors["units"] = str(error)
    if action == "sell":
        price = None
        if typed["price"].strip():
            try:
                price = parse_pounds(typed["price"])
            except ValueError as error:
                errors["price"] = str(error)
        else:
            errors["price"] = _("Enter the price of one, like 0.50.")
        try:
            receipt = clean_text(typed["receipt"], _("Receipt number"),
                                 max_length=RECEIPT_MAX)
        except ValueError as error:
            errors["receipt"] = str(error)
        try:
            buyer = clean_text(typed["buyer"], _("Who bought them"), max_length=BUYER_MAX,
                               required=False)
        except ValueError as error:
            errors["buyer"] = str(error)
    else:
        try:
            reason = clean_text(typed["reason"], _("The reason"), max_length=REASON_MAX,
                                multiline=True)
        except ValueError as error:
            errors["reason"] = str(error)
    if not errors:
        try:
            with undone_on_error():
                if action == "sell":
                    row = spare_service.sell(rnd, item_id, units, price, receipt, buyer,
                                             actor=current_user, now=utcnow())
                else:
                    row = spare_service.give_away(rnd, item_id, units, reason,
                                                  actor=current_user, now=utcnow())
        except ServiceError as error:
            if error.field is None:
                flash(error.message, "error")
                return redirect(url_for("organiser.spare", group_id=group.id,
                                        round_id=rnd.id), 303)
            errors[error.field] = error.message
    if errors:
        return _render(group, rnd, errors=errors, typed=typed, error_form=(action, item_id),
                       status=400)
    if action == "sell":
        flash(_("Sold: %(units)s × %(product)s for %(amount)s (receipt %(receipt)s).",
                units=row.units, product=row.item.name, amount=format_pence(row.cash_pence),
                receipt=row.receipt_number), "success")
    else:
        flash(_("Given away: %(units)s × %(product)s.", units=row.units,
                product=row.item.name), "success")
    return redirect(url_for("organiser.spare", group_id=group.id, round_id=rnd.id)
                    + f"#spare-{row.round_item_id}", 303)


def _render(group, rnd, *, errors=None, typed=None, error_form=None, status=200):
    return render_template(
        "organiser/spare.html", group=group, round=rnd, page=spare_service.spare_page(rnd),
        open_to_change=rnd.status == "delivered", errors=errors or {}, typed=typed or {},
        error_form=error_form, title=_("Spare units: %(round)s", round=rnd.title),
    ), status
