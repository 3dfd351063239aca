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
from flask_babel import ngettext
from flask_login import current_user, login_required

from bulkbuy import validation
from bulkbuy.domain.money import format_pence
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
    pictures,
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
                                       product=existing, picture=_picture_sent(form.picture))
        except ServiceError as error:
            getattr(form, error.field or "name").errors.append(error.message)
        else:
            # The price as it was read: "1,200.00" is £1,200 (a comma only between
            # thousands), so the organiser sees at once what was saved.
            flash(_("Product saved: %(name)s, a case of %(n)s for %(price)s.",
                    name=fields.name, n=fields.case_size,
                    price=format_pence(fields.case_price_pence)), "success")
            return redirect(
                url_for("organiser.supplier", group_id=group.id, supplier_id=supplier_id), 303
            )
    return render_template(
        "organiser/product_form.html", form=form, group=group, supplier=found_supplier,
        product=existing, title=_("Edit a product") if existing else _("Add a product"),
        picture_mb=max(1, pictures.picture_limit(current_app.config,
                                                 "PICTURE_MAX_BYTES") // 1_000_000),
    )


@bp.route("/<int:group_id>/suppliers/<int:supplier_id>/products/<int:product_id>/shown",
          methods=["POST"])
@login_required
def product_shown(group_id: int, supplier_id: int, product_id: int):
    """Hide a product from new rounds (`show=0`) or show it again (`show=1`)."""
    group = _organiser(group_id)
    found_supplier = _supplier(group, supplier_id)
    existing = catalogue.product_of_supplier(found_supplier, product_id)
    if existing is None:
        abort(404)
    show = request.form.get("show") == "1"
    catalogue.set_product_active(existing, show, actor=current_user)
    if show:
        flash(_("%(name)s can be chosen for new rounds again.", name=existing.name), "success")
    else:
        flash(_("%(name)s is hidden from new rounds. Rounds that have it keep it.",
                name=existing.name), "success")
    return redirect(
        url_for("organiser.supplier", group_id=group.id, supplier_id=supplier_id), 303
    )


def _picture_files(storages) -> catalogue.PictureFiles:
    """The picture files a form sent (none chosen: none), each read up to one byte past
    PICTURE_MAX_BYTES (the service refuses a larger one)."""
    most = pictures.picture_limit(current_app.config, "PICTURE_MAX_BYTES")
    files = {}
    for storage in storages:
        if storage and getattr(storage, "filename", None):
            files[storage.filename] = storage.read(most + 1)
    return catalogue.PictureFiles(files=files,
                                  folder=pictures.directory(current_app.instance_path),
                                  max_bytes=most)


def _picture_sent(field) -> catalogue.PictureFiles | None:
    """The product form's picture, or None when no file was chosen."""
    sent = _picture_files([field.data])
    return sent if sent.files else None


@bp.route("/<int:group_id>/suppliers/<int:supplier_id>/products/<int:product_id>/picture",
          methods=["POST"])
@login_required
def product_picture(group_id: int, supplier_id: int, product_id: int):
    """Take the product's picture away (`remove=1`). A new picture comes with the
    product form."""
    group = _organiser(group_id)
    found_supplier = _supplier(group, supplier_id)
    existing = catalogue.product_of_supplier(found_supplier, product_id)
    if existing is None:
        abort(404)
    if request.form.get("remove") == "1" and pictures.remove_product_picture(
            existing, actor=current_user):
        flash(_("The picture of %(name)s is taken away.", name=existing.name), "success")
    return redirect(url_for("organiser.product", group_id=group.id, supplier_id=supplier_id,
                            product_id=existing.id), 303)


@bp.route("/<int:group_id>/suppliers/<int:supplier_id>/edit", methods=["GET", "POST"])
@login_required
def edit_supplier(group_id: int, supplier_id: int):
    group = _organiser(group_id)
    found = _supplier(group, supplier_id)
    form = SupplierForm(obj=found)
    if form.validate_on_submit():
        try:
            with undone_on_error():
                catalogue.update_supplier(found, form.name.data, form.contact.data,
                                          actor=current_user)
        except ServiceError as error:
            form.name.errors.append(error.message)
        else:
            flash(_("Supplier saved."), "success")
            return redirect(
                url_for("organiser.supplier", group_id=group.id, supplier_id=found.id), 303
            )
    return render_template(
        "organiser/supplier_form.html", form=form, group=group, supplier=found,
        title=_("Change the supplier's details"),
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
                sent = [s for s in (form.pictures.data or []) if getattr(s, "filename", None)]
                if len(sent) > catalogue.MAX_IMPORT_PICTURES:
                    form.pictures.errors.append(
                        _("Choose at most %(n)s pictures at once.",
                          n=catalogue.MAX_IMPORT_PICTURES))
                else:
                    # All rows or none: a report with errors has changed nothing.
                    report = catalogue.import_price_list(
                        found_supplier, text, actor=current_user,
                        picture_files=_picture_files(sent))
                if report is not None and not report.errors:
                    flash(
                        _("Imported: %(created)s new, %(updated)s updated.",
                          created=report.created, updated=report.updated),
                        "success",
                    )
                    if report.pictures:
                        flash(ngettext("%(num)s product has a new picture.",
                                       "%(num)s products have a new picture.",
                                       report.pictures), "success")
                    return redirect(
                        url_for("organiser.supplier", group_id=group.id, supplier_id=supplier_id),
                        303,
                    )
    status = 400 if (form.errors or (report and report.errors)) else 200
    return render_template(
        "organiser/import.html", form=form, group=group, supplier=found_supplier, report=report,
        title=_("Import a price list"),
        # The CSV's columns: the file's format, the same in every language.
        columns=catalogue.REQUIRED_COLUMNS + catalogue.OPTIONAL_COLUMNS,
    ), status
