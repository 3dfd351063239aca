"""Suppliers and their products: forms, and CSV price lists imported all or nothing."""

from __future__ import annotations

from flask import (
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

from bulkbuy import validation
from bulkbuy.organiser import bp
from bulkbuy.organiser.common import (
    _organiser,
    _supplier,
    pounds_text,
)
from bulkbuy.organiser.forms import ImportForm, ProductForm, SupplierForm
from bulkbuy.services import (
    ServiceError,
    catalogue,
)
from bulkbuy.transactions import undone_on_error


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
    listed = catalogue.product_list(found, search=request.args.get("q"),
                                    page=validation.record_id(request.args.get("page")) or 1)
    return render_template(
        "organiser/supplier.html", group=group, supplier=found, listed=listed,
        title=found.name,
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
