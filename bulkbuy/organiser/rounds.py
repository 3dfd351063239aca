"""Rounds from products: creating, opening, the order sheet, statements, ordered (and the
delivery day), cancel."""

from __future__ import annotations

import csv
import io
from datetime import date

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from bulkbuy import validation
from bulkbuy.domain import statuses
from bulkbuy.formatting import csv_safe
from bulkbuy.models import utcnow
from bulkbuy.organiser import bp
from bulkbuy.organiser.common import (
    CLOSED_STATUSES,
    _closed_round,
    _organiser,
    _round,
    pounds_text,
)
from bulkbuy.round_form import RoundForm
from bulkbuy.services import (
    ServiceError,
    catalogue,
    rounds,
    statements,
)
from bulkbuy.services.payments import overview, refunds
from bulkbuy.transactions import undone_on_error


@bp.route("/<int:group_id>/rounds/new", methods=["GET", "POST"])
@login_required
def new_round(group_id: int):
    group = _organiser(group_id)
    suppliers = catalogue.suppliers_of(group.id)
    supplier_id = validation.record_id(request.args.get("supplier"))
    chosen_supplier = next((s for s in suppliers if s.id == supplier_id), None)
    if chosen_supplier is None:
        return render_template(
            "rounds/choose_supplier.html", group=group, suppliers=suppliers, organiser=True,
            endpoint="organiser.new_round", title=_("New round: choose a supplier"),
        )
    listed = catalogue.product_list(chosen_supplier, search=request.args.get("q"),
                                    per_page=catalogue.MAX_PRODUCTS_ON_FORM, active_only=True)
    products = listed.products
    form = RoundForm(products, group.timezone)
    if form.validate_on_submit():
        chosen = [p for p in products if p.id in set(form.products.data)]
        try:
            with undone_on_error():
                rounds.start_round(
                    group, chosen_supplier, chosen, form.details(),
                    started_by=rounds.STARTED_BY_ORGANISER, user=current_user, now=utcnow())
        except ServiceError as error:
            form.closes_at.errors.append(error.message)
        else:
            flash(_("Round saved as a draft. Open it when you are ready."), "success")
            return redirect(url_for("organiser.dashboard", group_id=group.id), 303)
    return render_template(
        "rounds/form.html", form=form, group=group, supplier=chosen_supplier, organiser=True,
        listed=listed, endpoint="organiser.new_round",
        title=_("New round with %(supplier)s", supplier=chosen_supplier.name),
    )


@bp.route("/<int:group_id>/rounds/<int:round_id>/edit", methods=["GET", "POST"])
@login_required
def edit_round(group_id: int, round_id: int):
    """A draft round's form, filled in as the round is; saving copies the chosen
    products afresh. A round that is not a draft goes back to its page."""
    group = _organiser(group_id)
    rnd = _round(group, round_id)
    if rnd.status != "draft":
        flash(_("Only a draft round can be changed. This one is no longer a draft."), "error")
        return redirect(url_for("organiser.round_detail", group_id=group.id, round_id=rnd.id),
                        303)
    listed = catalogue.product_list(rnd.supplier, search=request.args.get("q"),
                                    per_page=catalogue.MAX_PRODUCTS_ON_FORM, active_only=True)
    products = listed.products
    form = RoundForm(products, group.timezone)
    if request.method == "GET":
        form.title.data = rnd.title
        form.products.data = [item.product_id for item in rnd.items]
        form.opens_at.data = rnd.opens_at
        form.closes_at.data = rnd.closes_at
        form.delivery_fee.data = pounds_text(rnd.delivery_fee_pence or None)
        form.min_order.data = pounds_text(rnd.min_order_pence)
        form.fee_split.data = rnd.fee_split
        form.allocation_mode.data = rnd.allocation_mode
        form.collection_place.data = rnd.collection_place
        form.collection_time.data = rnd.collection_time
        form.notes.data = rnd.notes
        form.payment_days.data = str(rnd.payment_days)
    if form.validate_on_submit():
        chosen = [p for p in products if p.id in set(form.products.data)]
        try:
            with undone_on_error():
                rounds.edit_draft(rnd, chosen, form.details(), actor=current_user, now=utcnow())
        except ServiceError as error:
            form.closes_at.errors.append(error.message)
        else:
            flash(_("Round saved. It is still a draft: open it when you are ready."), "success")
            return redirect(url_for("organiser.round_detail", group_id=group.id,
                                    round_id=rnd.id), 303)
    return render_template(
        "rounds/form.html", form=form, group=group, supplier=rnd.supplier, organiser=True,
        listed=listed, endpoint="organiser.edit_round",
        search_action=url_for("organiser.edit_round", group_id=group.id, round_id=rnd.id),
        title=_("Change the round: %(title)s", title=rnd.title),
    )


@bp.route("/<int:group_id>/rounds/<int:round_id>/open", methods=["POST"])
@login_required
def open_round(group_id: int, round_id: int):
    group = _organiser(group_id)
    rnd = _round(group, round_id)
    try:
        with undone_on_error():
            rounds.open_round(rnd, actor=current_user, now=utcnow())
    except ServiceError as error:
        flash(error.message, "error")
    else:
        flash(_("The round is open."), "success")
    return redirect(url_for("organiser.dashboard", group_id=group.id), 303)


@bp.route("/<int:group_id>/rounds/<int:round_id>")
@login_required
def round_detail(group_id: int, round_id: int):
    group = _organiser(group_id)
    rnd = _round(group, round_id)
    return _round_page(group, rnd, {}, {}, 200)


@bp.route("/<int:group_id>/rounds/<int:round_id>/order-sheet")
@login_required
def order_sheet(group_id: int, round_id: int):
    group = _organiser(group_id)
    rnd = _closed_round(group, round_id)
    return render_template(
        "organiser/order_sheet.html", group=group, round=rnd, sheet=statements.order_sheet(rnd),
        households=statements.statements_for(rnd), now=utcnow(),
        title=_("Order sheet: %(round)s", round=rnd.title),
    )


@bp.route("/<int:group_id>/rounds/<int:round_id>/order-sheet.csv")
@login_required
def order_sheet_csv(group_id: int, round_id: int):
    group = _organiser(group_id)
    rnd = _closed_round(group, round_id)
    sheet = statements.order_sheet(rnd)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["product", "supplier_code", "unit", "case_size", "cases",
                     "case_price", "line_total"])
    for line in sheet.lines:
        writer.writerow([
            csv_safe(line.item.name), csv_safe(line.item.supplier_code or ""),
            csv_safe(line.item.unit_description), line.item.case_size, line.cases,
            pounds_text(line.item.case_price_pence), pounds_text(line.line_total_pence),
        ])
    writer.writerow(["goods total", "", "", "", "", "", pounds_text(sheet.goods_total_pence)])
    writer.writerow(["delivery fee", "", "", "", "", "", pounds_text(sheet.fee_pence)])
    writer.writerow(["grand total", "", "", "", "", "", pounds_text(sheet.grand_total_pence)])
    return Response(
        out.getvalue(), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="order-round-{rnd.id}.csv"'},
    )


@bp.route("/<int:group_id>/rounds/<int:round_id>/statements")
@login_required
def round_statements(group_id: int, round_id: int):
    group = _organiser(group_id)
    rnd = _closed_round(group, round_id)
    explained = statements.statements_for(rnd)
    return render_template(
        "organiser/statements.html", group=group, round=rnd,
        statements=explained, sheet=statements.order_sheet(rnd),
        round_saving=statements.total_saving(explained),
        title=_("Statements: %(round)s", round=rnd.title),
    )


def _parse_day(text: str) -> date | None:
    """The day typed in a date box (YYYY-MM-DD); None when blank. ValueError in plain
    words when it is not a day."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(_("Enter a real date, like 2027-03-14")) from None


def _round_page(group, rnd, errors: dict[str, str], typed: dict[str, str], status: int):
    sheet = statements.order_sheet(rnd) if rnd.status in CLOSED_STATUSES else None
    round_saving = statements.round_saving_of(rnd) if sheet else None
    return render_template(
        "organiser/round.html", group=group, round=rnd, sheet=sheet, now=utcnow(),
        round_saving=round_saving, errors=errors, typed=typed, title=rnd.title,
    ), status


@bp.route("/<int:group_id>/rounds/<int:round_id>/ordered", methods=["POST"])
@login_required
def mark_ordered(group_id: int, round_id: int):
    """The order is placed with the supplier: their reference (optional) and the day they
    expect to deliver. Refused input shows the round page again with what was typed."""
    group = _organiser(group_id)
    rnd = _closed_round(group, round_id)
    typed = {"reference": request.form.get("reference", ""),
             "expected_on": request.form.get("expected_on", "")}
    errors: dict[str, str] = {}
    try:
        expected_on = _parse_day(typed["expected_on"])
    except ValueError as error:
        errors["expected_on"] = str(error)
    if not errors:
        try:
            with undone_on_error():
                rounds.mark_ordered(rnd, reference=typed["reference"],
                                    expected_on=expected_on, actor=current_user,
                                    now=utcnow())
        except ServiceError as error:
            if error.field is None:
                flash(error.message, "error")
                return redirect(url_for("organiser.round_detail", group_id=group.id,
                                        round_id=rnd.id), 303)
            errors[error.field] = error.message
    if errors:
        return _round_page(group, rnd, errors, typed, 400)
    flash(_("Marked as ordered from the supplier. Everyone who gets something is told the "
            "delivery day."), "success")
    return redirect(url_for("organiser.round_detail", group_id=group.id, round_id=rnd.id), 303)


@bp.route("/<int:group_id>/rounds/<int:round_id>/delivery-day", methods=["POST"])
@login_required
def change_delivery_day(group_id: int, round_id: int):
    """The supplier moved the delivery: a new expected day, and households are told."""
    group = _organiser(group_id)
    rnd = _closed_round(group, round_id)
    typed = {"new_expected_on": request.form.get("expected_on", "")}
    errors: dict[str, str] = {}
    try:
        expected_on = _parse_day(typed["new_expected_on"])
    except ValueError as error:
        errors["new_expected_on"] = str(error)
    if not errors:
        try:
            with undone_on_error():
                rounds.change_expected_delivery(rnd, expected_on, actor=current_user,
                                                now=utcnow())
        except ServiceError as error:
            if error.field is None:
                flash(error.message, "error")
                return redirect(url_for("organiser.round_detail", group_id=group.id,
                                        round_id=rnd.id), 303)
            errors["new_" + error.field] = error.message
    if errors:
        return _round_page(group, rnd, errors, typed, 400)
    flash(_("Delivery day changed. Everyone who gets something is told the new day."),
          "success")
    return redirect(url_for("organiser.round_detail", group_id=group.id, round_id=rnd.id), 303)


@bp.route("/<int:group_id>/rounds/<int:round_id>/cancel-after-close", methods=["GET", "POST"])
@login_required
def cancel_after_close(group_id: int, round_id: int):
    """Cancel a closed (or ordered) round: card payments are refunded, cash handed back."""
    group = _organiser(group_id)
    rnd = _round(group, round_id)
    if rnd.status not in statuses.CANCELLABLE_AFTER_CLOSE:
        abort(404)
    if request.method == "POST":
        try:
            with undone_on_error():
                queued = refunds.cancel_closed_round(rnd, actor=current_user,
                                                           now=utcnow())
        except ServiceError as error:
            flash(error.message, "error")
            return redirect(url_for("organiser.round_detail", group_id=group.id,
                                    round_id=rnd.id), 303)
        flash(_("The round is cancelled. %(n)s card payment(s) are being refunded. "
                "Hand back any cash below.", n=queued), "success")
        return redirect(url_for("organiser.round_payments", group_id=group.id,
                                round_id=rnd.id), 303)
    return render_template("organiser/cancel_after_close.html", group=group, round=rnd,
                           payments=overview.round_payments(rnd.id),
                           title=_("Cancel %(round)s?", round=rnd.title))
