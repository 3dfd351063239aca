from __future__ import annotations

import csv
import io

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from bulkbuy import access
from bulkbuy.domain import statuses
from bulkbuy.domain.money import format_pence, parse_pounds
from bulkbuy.models import Group, Membership, Round, Supplier, utcnow
from bulkbuy.organiser import bp
from bulkbuy.organiser.forms import GroupSettingsForm, ImportForm, ProductForm, SupplierForm
from bulkbuy.round_form import RoundForm
from bulkbuy.services import (
    ServiceError,
    accounts,
    card_payments,
    cards,
    catalogue,
    organising,
    payments,
    rounds,
    statements,
    tablet,
)
from bulkbuy.transactions import undone_on_error
from bulkbuy.validation import clean_text

CLOSED_STATUSES = statuses.FINISHED_ROUNDS


def pounds_text(pence: int | None) -> str:
    """Pence as a plain number of pounds for a form field: 1250 -> '12.50'."""
    return "" if pence is None else f"{pence // 100}.{pence % 100:02d}"


def _organiser(group_id: int) -> Group:
    access.require_role(group_id, "organiser")
    return access.group_or_404(group_id)


def _supplier(group: Group, supplier_id: int) -> Supplier:
    supplier = catalogue.supplier_of_group(group.id, supplier_id)
    if supplier is None:
        abort(404)
    return supplier


def _round(group: Group, round_id: int) -> Round:
    rnd = rounds.round_of_group(group.id, round_id)
    if rnd is None:
        abort(404)
    return rnd


@bp.route("/")
@login_required
def index():
    groups = organising.organised_groups(current_user)
    if not groups:
        abort(403)
    if len(groups) == 1:
        return redirect(url_for("organiser.dashboard", group_id=groups[0].id))
    return render_template("organiser/index.html", groups=groups, title=_("Your groups"))


@bp.route("/<int:group_id>")
@login_required
def dashboard(group_id: int):
    group = _organiser(group_id)
    board = organising.dashboard(group)
    return render_template(
        "organiser/dashboard.html", group=group, rounds=board.rounds, suppliers=board.suppliers,
        settings_form=GroupSettingsForm(obj=group), title=group.name,
    )


@bp.route("/<int:group_id>/settings", methods=["POST"])
@login_required
def settings(group_id: int):
    group = _organiser(group_id)
    form = GroupSettingsForm()
    if form.validate_on_submit():
        organising.update_group_settings(
            group, require_round_approval=form.require_round_approval.data, actor=current_user)
        flash(_("Settings saved."), "success")
    return redirect(url_for("organiser.dashboard", group_id=group.id), 303)


@bp.route("/<int:group_id>/invite/reset", methods=["POST"])
@login_required
def reset_invite(group_id: int):
    group = _organiser(group_id)
    accounts.regenerate_invite_code(group, actor=current_user)
    flash(_("New invite code made. The old one no longer works."), "success")
    return redirect(url_for("organiser.dashboard", group_id=group.id), 303)


@bp.route("/<int:group_id>/households")
@login_required
def households(group_id: int):
    group, _member = _staff(group_id)
    return _render_households(group)


def _render_households(group, errors=None, typed=None, status=200):
    return render_template(
        "organiser/households.html", group=group, households=organising.households_of(group),
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
        label = clean_text(typed["label"], "Name", max_length=60)
    except ValueError as error:
        errors["label"] = str(error)
    try:
        block = clean_text(typed["block"], "Block", max_length=60, required=False)
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
        return _render_households(group, {household.id: {"pin": error.message}}, {}, 400)
    flash(_("New PIN set for %(household)s.", household=household.label), "success")
    return redirect(url_for("organiser.households", group_id=group.id)
                    + f"#household-{household.id}", 303)


@bp.route("/<int:group_id>/suppliers/new", methods=["GET", "POST"])
@login_required
def new_supplier(group_id: int):
    group = _organiser(group_id)
    form = SupplierForm()
    if form.validate_on_submit():
        try:
            with undone_on_error():
                supplier = catalogue.create_supplier(
                    group.id, form.name.data, form.contact.data, actor=current_user
                )
        except ServiceError as error:
            form.name.errors.append(error.message)
        else:
            flash(_("Supplier added."), "success")
            return redirect(
                url_for("organiser.supplier", group_id=group.id, supplier_id=supplier.id), 303
            )
    return render_template(
        "organiser/supplier_form.html", form=form, group=group, title=_("Add a supplier")
    )


@bp.route("/<int:group_id>/suppliers/<int:supplier_id>")
@login_required
def supplier(group_id: int, supplier_id: int):
    group = _organiser(group_id)
    found = _supplier(group, supplier_id)
    return render_template(
        "organiser/supplier.html", group=group, supplier=found, title=found.name
    )


@bp.route("/<int:group_id>/suppliers/<int:supplier_id>/products/new", methods=["GET", "POST"])
@bp.route(
    "/<int:group_id>/suppliers/<int:supplier_id>/products/<int:product_id>",
    methods=["GET", "POST"],
)
@login_required
def product(group_id: int, supplier_id: int, product_id: int | None = None):
    group = _organiser(group_id)
    found_supplier = _supplier(group, supplier_id)
    existing = None
    if product_id is not None:
        existing = catalogue.product_of_supplier(found_supplier, product_id)
        if existing is None:
            abort(404)
    form = ProductForm()
    if request.method == "GET" and existing is not None:
        form.name.data = existing.name
        form.unit_description.data = existing.unit_description
        form.case_size.data = str(existing.case_size)
        form.case_price.data = pounds_text(existing.case_price_pence)
        form.retail_price.data = pounds_text(existing.retail_price_pence)
        form.supplier_code.data = existing.supplier_code
    if form.validate_on_submit():
        fields = catalogue.ProductFields(
            name=form.name.data,
            unit_description=form.unit_description.data,
            case_size=form.case_size.data,
            case_price_pence=form.case_price.data,
            retail_price_pence=form.retail_price.data,
            supplier_code=form.supplier_code.data,
        )
        try:
            with undone_on_error():
                catalogue.save_product(found_supplier, fields, actor=current_user,
                                       product=existing)
        except ServiceError as error:
            form.name.errors.append(error.message)
        else:
            flash(_("Product saved."), "success")
            return redirect(
                url_for("organiser.supplier", group_id=group.id, supplier_id=supplier_id), 303
            )
    return render_template(
        "organiser/product_form.html", form=form, group=group, supplier=found_supplier,
        title=_("Edit a product") if existing else _("Add a product"),
    )


@bp.route("/<int:group_id>/suppliers/<int:supplier_id>/import", methods=["GET", "POST"])
@login_required
def import_products(group_id: int, supplier_id: int):
    group = _organiser(group_id)
    found_supplier = _supplier(group, supplier_id)
    form = ImportForm()
    report = None
    if form.validate_on_submit():
        upload = form.file.data
        raw = upload.read(current_app.config["MAX_CSV_BYTES"] + 1) if upload else b""
        if not raw:
            form.file.errors.append(_("Choose a CSV file"))
        elif len(raw) > current_app.config["MAX_CSV_BYTES"]:
            form.file.errors.append(_("The file must be smaller than 1 MB"))
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                form.file.errors.append(_("Save the file as CSV (UTF-8) and try again"))
            else:
                # All rows or none: a report with errors has changed nothing.
                report = catalogue.import_price_list(found_supplier, text, actor=current_user)
                if not report.errors:
                    flash(
                        _("Imported: %(created)s new, %(updated)s updated.",
                          created=report.created, updated=report.updated),
                        "success",
                    )
                    return redirect(
                        url_for("organiser.supplier", group_id=group.id, supplier_id=supplier_id),
                        303,
                    )
    status = 400 if (form.errors or (report and report.errors)) else 200
    return render_template(
        "organiser/import.html", form=form, group=group, supplier=found_supplier, report=report,
        title=_("Import a price list"),
    ), status


@bp.route("/<int:group_id>/rounds/new", methods=["GET", "POST"])
@login_required
def new_round(group_id: int):
    group = _organiser(group_id)
    suppliers = catalogue.suppliers_of(group.id)
    supplier_id = request.args.get("supplier", type=int)
    chosen_supplier = next((s for s in suppliers if s.id == supplier_id), None)
    if chosen_supplier is None:
        return render_template(
            "rounds/choose_supplier.html", group=group, suppliers=suppliers,
            endpoint="organiser.new_round", title=_("New round: choose a supplier"),
        )
    products = catalogue.active_products(chosen_supplier)
    form = RoundForm(products, group.timezone)
    if form.validate_on_submit():
        chosen = [p for p in products if p.id in set(form.products.data)]
        try:
            with undone_on_error():
                rounds.create_round(
                    group, chosen_supplier, chosen, form.details(),
                    created_by=current_user, now=utcnow(),
                )
        except ServiceError as error:
            form.closes_at.errors.append(error.message)
        else:
            flash(_("Round saved as a draft. Open it when you are ready."), "success")
            return redirect(url_for("organiser.dashboard", group_id=group.id), 303)
    return render_template(
        "rounds/form.html", form=form, group=group, supplier=chosen_supplier, organiser=True,
        title=_("New round with %(supplier)s", supplier=chosen_supplier.name),
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
    sheet = statements.order_sheet(rnd) if rnd.status in CLOSED_STATUSES else None
    return render_template(
        "organiser/round.html", group=group, round=rnd, sheet=sheet, now=utcnow(),
        title=rnd.title,
    )


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
            _csv_safe(line.item.name), _csv_safe(line.item.supplier_code or ""),
            _csv_safe(line.item.unit_description), line.item.case_size, line.cases,
            pounds_text(line.item.case_price_pence), pounds_text(line.line_total_pence),
        ])
    writer.writerow(["goods total", "", "", "", "", "", pounds_text(sheet.goods_total_pence)])
    writer.writerow(["delivery fee", "", "", "", "", "", pounds_text(sheet.fee_pence)])
    writer.writerow(["grand total", "", "", "", "", "", pounds_text(sheet.grand_total_pence)])
    return Response(
        out.getvalue(), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="order-round-{rnd.id}.csv"'},
    )


def _csv_safe(text: str) -> str:
    """Stop a spreadsheet from running a cell as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.route("/<int:group_id>/rounds/<int:round_id>/statements")
@login_required
def round_statements(group_id: int, round_id: int):
    group = _organiser(group_id)
    rnd = _closed_round(group, round_id)
    return render_template(
        "organiser/statements.html", group=group, round=rnd,
        statements=statements.statements_for(rnd), sheet=statements.order_sheet(rnd),
        title=_("Statements: %(round)s", round=rnd.title),
    )


@bp.route("/<int:group_id>/rounds/<int:round_id>/ordered", methods=["POST"])
@login_required
def mark_ordered(group_id: int, round_id: int):
    group = _organiser(group_id)
    rnd = _closed_round(group, round_id)
    try:
        with undone_on_error():
            rounds.mark_ordered(rnd, actor=current_user)
    except ServiceError as error:
        flash(error.message, "error")
    else:
        flash(_("Marked as ordered from the supplier."), "success")
    return redirect(url_for("organiser.round_detail", group_id=group.id, round_id=rnd.id), 303)


def _closed_round(group: Group, round_id: int) -> Round:
    rnd = _round(group, round_id)
    if rnd.status not in CLOSED_STATUSES:
        abort(404)
    return rnd


def _staff(group_id: int) -> tuple[Group, Membership]:
    """Organisers and community workers of the group (workers take cash at drop-ins)."""
    member = access.require_role(group_id, "organiser", "worker")
    return access.group_or_404(group_id), member


@bp.route("/<int:group_id>/rounds/<int:round_id>/payments")
@login_required
def round_payments(group_id: int, round_id: int):
    group, _member = _staff(group_id)
    rnd = _round(group, round_id)
    if rnd.status not in CLOSED_STATUSES and not (
        rnd.status == "cancelled" and rnd.goods_total_pence is not None
    ):
        abort(404)
    return _render_payments(group, rnd)


def _render_payments(group, rnd, errors=None, typed=None, status=200):
    return render_template(
        "organiser/payments.html", group=group, round=rnd,
        payments=payments.round_payments(rnd.id), sheet=statements.order_sheet(rnd),
        cards_on=cards.cards_configured(current_app.config),
        is_organiser=access.membership(group.id).role == "organiser",
        minimum_pence=cards.MINIMUM_CHARGE_PENCE,
        overdue=rnd.pay_by is not None and utcnow() > rnd.pay_by
        and rnd.status != "cancelled",
        errors=errors or {}, typed=typed or {}, title=_("Payments: %(round)s", round=rnd.title),
    ), status


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
                queued = card_payments.cancel_closed_round(rnd, actor=current_user,
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
                           payments=payments.round_payments(rnd.id),
                           title=_("Cancel %(round)s?", round=rnd.title))


@bp.route(
    "/<int:group_id>/rounds/<int:round_id>/payments/<int:statement_id>/write-off",
    methods=["POST"],
)
@login_required
def write_off(group_id: int, round_id: int, statement_id: int):
    """The group covers what a household still owes (or waives an amount too small for
    a card): an organiser's decision, recorded as the round's deficit."""
    group = _organiser(group_id)
    rnd = _closed_round(group, round_id)
    statement = payments.statement_of_round(rnd.id, statement_id)
    if statement is None:
        abort(404)
    try:
        with undone_on_error():
            written = payments.write_off(statement, request.form.get("reason", ""),
                                         actor=current_user, now=utcnow())
    except ServiceError as error:
        flash(error.message, "error")
    else:
        flash(_("Written off: %(amount)s for %(household)s.",
                amount=format_pence(written.amount_pence), household=statement.household.label),
              "success")
    return redirect(url_for("organiser.round_payments", group_id=group.id, round_id=rnd.id)
                    + f"#statement-{statement.id}", 303)


@bp.route(
    "/<int:group_id>/rounds/<int:round_id>/payments/card/<int:payment_id>/refund-again",
    methods=["POST"],
)
@login_required
def refund_again(group_id: int, round_id: int, payment_id: int):
    """Ask Stripe again for a refund it refused (an organiser's decision)."""
    group = _organiser(group_id)
    rnd = _round(group, round_id)
    payment = card_payments.card_payment_of_round(rnd.id, payment_id)
    if payment is None:
        abort(404)
    try:
        with undone_on_error():
            refund = card_payments.retry_failed_refund(payment, actor=current_user,
                                                       now=utcnow())
    except ServiceError as error:
        flash(error.message, "error")
    else:
        # A card payment's household is its statement's.
        flash(_("Asked again: %(amount)s goes back to the card of %(household)s.",
                amount=format_pence(refund.amount_pence),
                household=payment.statement.household.label),
              "success")
    return redirect(url_for("organiser.round_payments", group_id=group.id, round_id=rnd.id),
                    303)


@bp.route(
    "/<int:group_id>/rounds/<int:round_id>/payments/cash/<int:cash_id>/returned",
    methods=["POST"],
)
@login_required
def cash_returned(group_id: int, round_id: int, cash_id: int):
    group, _member = _staff(group_id)
    rnd = _round(group, round_id)
    cash = payments.cash_payment_of_round(group.id, rnd.id, cash_id)
    if cash is None:
        abort(404)
    try:
        with undone_on_error():
            payments.record_cash_returned(cash, actor=current_user, now=utcnow())
    except ServiceError as error:
        flash(error.message, "error")
    else:
        flash(_("Recorded: %(amount)s handed back.", amount=format_pence(cash.amount_pence)),
              "success")
    return redirect(url_for("organiser.round_payments", group_id=group.id, round_id=rnd.id),
                    303)


@bp.route(
    "/<int:group_id>/rounds/<int:round_id>/payments/<int:statement_id>/cash", methods=["POST"]
)
@login_required
def record_cash(group_id: int, round_id: int, statement_id: int):
    group, _member = _staff(group_id)
    rnd = _closed_round(group, round_id)
    statement = payments.statement_of_round(rnd.id, statement_id)
    if statement is None:
        abort(404)
    errors: dict[str, str] = {}
    amount_text = request.form.get("amount", "")
    receipt_text = request.form.get("receipt", "")
    try:
        amount = parse_pounds(amount_text)
    except ValueError as error:
        errors["amount"] = str(error)
    try:
        receipt = clean_text(receipt_text, "Receipt number", max_length=40)
    except ValueError as error:
        errors["receipt"] = str(error)
    if not errors:
        try:
            with undone_on_error():
                payments.record_cash(statement, amount, receipt, actor=current_user,
                                     now=utcnow())
        except ServiceError as error:
            errors[error.field or "amount"] = error.message
    if errors:
        typed = {"amount": amount_text, "receipt": receipt_text}
        return _render_payments(group, rnd, {statement_id: errors}, {statement_id: typed}, 400)
    flash(_("Cash recorded: %(amount)s from %(household)s.", amount=format_pence(amount),
            household=statement.household.label), "success")
    return redirect(
        url_for("organiser.round_payments", group_id=group.id, round_id=rnd.id)
        + f"#statement-{statement.id}", 303,
    )


@bp.route("/<int:group_id>/tablet-sessions")
@login_required
def tablet_sessions(group_id: int):
    """The group's tablet sessions, newest first (staff)."""
    group, _member = _staff(group_id)
    return render_template("organiser/tablet_sessions.html", group=group,
                           sessions=organising.recent_tablet_sessions(group),
                           title=_("Drop-in sessions"))


@bp.route("/<int:group_id>/tablet-sessions/<int:session_id>")
@login_required
def tablet_sheet(group_id: int, session_id: int):
    """A drop-in session's sheet, printable as the receipt sheet."""
    group, _member = _staff(group_id)
    found = organising.tablet_session_of_group(group, session_id)
    if found is None:
        abort(404)
    return render_template("organiser/tablet_sheet.html", group=group,
                           sheet=tablet.session_sheet(found, utcnow()),
                           title=_("Drop-in session sheet"))
