"""Receiving a delivery: staff enter what arrived of each product (and what came instead),
and every household's bill follows the goods. On a phone or a tablet."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from bulkbuy.models import utcnow
from bulkbuy.organiser import bp
from bulkbuy.organiser.common import _round_in, _staff
from bulkbuy.services import ServiceError, delivery
from bulkbuy.transactions import undone_on_error
from bulkbuy.validation import clean_text, parse_pounds, record_id, whole_number

NEW_PRODUCT = "new"


def _receivable(group_id: int, round_id: int):
    group, _member = _staff(group_id)
    return group, _round_in(group, round_id, delivery.RECEIVABLE)


@bp.route("/<int:group_id>/rounds/<int:round_id>/receive", methods=["GET", "POST"])
@login_required
def receive(group_id: int, round_id: int):
    """What arrived, product by product; saving restates every household's bill."""
    group, rnd = _receivable(group_id, round_id)
    if request.method == "GET":
        return _render(group, rnd)
    page = delivery.receive_page(rnd)
    typed = request.form.to_dict()
    errors: dict[str, str] = {}
    arrived, substitutes = [], []
    for line in page.lines:
        item_id = line.item.id
        try:
            units = whole_number(typed.get(f"arrived-{item_id}"), _("How many arrived"),
                                 maximum=delivery.MOST_UNITS)
        except ValueError as error:
            errors[f"arrived-{item_id}"] = str(error)
            units = 0
        try:
            damaged = whole_number(typed.get(f"damaged-{item_id}") or "0", _("Damaged"),
                                   maximum=delivery.MOST_UNITS)
        except ValueError as error:
            errors[f"damaged-{item_id}"] = str(error)
            damaged = 0
        price = None
        if (typed.get(f"price-{item_id}") or "").strip():
            try:
                price = parse_pounds(typed[f"price-{item_id}"])
            except ValueError as error:
                errors[f"price-{item_id}"] = str(error)
        arrived.append(delivery.Arrived(item_id, units, damaged, price))
        substitute = _substitute(item_id, typed, errors)
        if substitute is not None:
            substitutes.append(substitute)
    invoice = None
    if (typed.get("invoice") or "").strip():
        try:
            invoice = parse_pounds(typed["invoice"])
        except ValueError as error:
            errors["invoice"] = str(error)
    version = record_id(typed.get("version")) or 0
    if not errors:
        try:
            with undone_on_error():
                result = delivery.record_delivery(
                    rnd, arrived, substitutes, invoice, drawn_version=version,
                    actor=current_user, now=utcnow())
        except ServiceError as error:
            if error.field is None:
                flash(error.message, "error")
                return redirect(url_for("organiser.receive", group_id=group.id,
                                        round_id=rnd.id), 303)
            errors[error.field] = error.message
    if errors:
        return _render(group, rnd, errors=errors, typed=typed, status=400)
    flash(_("Saved what arrived. %(n)s household bill(s) changed; each household is told.",
            n=result.statements_changed), "success")
    return redirect(url_for("organiser.receive", group_id=group.id, round_id=rnd.id), 303)


def _substitute(item_id: int, typed: dict, errors: dict) -> delivery.Substitute | None:
    """The substitute typed for one product, or None when none was entered."""
    choice = (typed.get(f"sub_product-{item_id}") or "").strip()
    name = (typed.get(f"sub_name-{item_id}") or "").strip()
    units_text = (typed.get(f"sub_units-{item_id}") or "").strip()
    price_text = (typed.get(f"sub_price-{item_id}") or "").strip()
    if not (choice or name or (units_text and units_text != "0") or price_text):
        return None
    units = 0
    try:
        units = whole_number(units_text, _("How many were sent instead"),
                             maximum=delivery.MOST_UNITS)
    except ValueError as error:
        errors[f"sub_units-{item_id}"] = str(error)
    price = None
    if price_text:
        try:
            price = parse_pounds(price_text)
        except ValueError as error:
            errors[f"sub_price-{item_id}"] = str(error)
    product_id = record_id(choice) if choice not in ("", NEW_PRODUCT) else None
    if choice not in ("", NEW_PRODUCT) and product_id is None:
        errors[f"sub_product-{item_id}"] = _("Choose the product sent instead.")
    if product_id is None and name:
        try:
            name = clean_text(name, _("Name"), max_length=100)
        except ValueError as error:
            errors[f"sub_name-{item_id}"] = str(error)
    unit = (typed.get(f"sub_unit-{item_id}") or "").strip()[:100]
    return delivery.Substitute(item_id, units, price, product_id=product_id,
                               name=name or None, unit_description=unit or None)


def _render(group, rnd, *, errors=None, typed=None, status=200):
    return render_template(
        "organiser/receive.html", group=group, round=rnd, page=delivery.receive_page(rnd),
        errors=errors or {}, typed=typed or {}, new_product=NEW_PRODUCT,
        title=_("What arrived: %(round)s", round=rnd.title),
    ), status
