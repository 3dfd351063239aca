"""Suppliers and products, including importing a supplier's price list from CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import select

from bulkbuy.domain.money import parse_pounds
from bulkbuy.extensions import db
from bulkbuy.models import Product, Supplier, User
from bulkbuy.services import ServiceError, audit
from bulkbuy.validation import clean_text, whole_number

MAX_CASE_SIZE = 10_000
NAME_LENGTH = 100


@dataclass(frozen=True)
class ProductFields:
    """A product's details as checked values (money in pence)."""

    name: str
    unit_description: str
    case_size: int
    case_price_pence: int
    retail_price_pence: int | None = None
    supplier_code: str | None = None


def check_product_fields(
    name: str | None,
    unit_description: str | None,
    case_size: str | None,
    case_price: str | None,
    retail_price: str | None = None,
    supplier_code: str | None = None,
) -> tuple[ProductFields | None, dict[str, str]]:
    """Check typed product details. Returns (fields, {}) or (None, {field: message})."""
    errors: dict[str, str] = {}
    values: dict[str, object] = {}

    def take(key, check):
        try:
            values[key] = check()
        except ValueError as error:
            errors[key] = str(error)

    take("name", lambda: clean_text(name, "Name", max_length=NAME_LENGTH))
    take("unit_description", lambda: clean_text(unit_description, "Unit", max_length=100))
    take(
        "case_size",
        lambda: whole_number(case_size, "Case size", minimum=1, maximum=MAX_CASE_SIZE),
    )
    take("case_price_pence", lambda: parse_pounds(case_price or ""))
    take(
        "retail_price_pence",
        lambda: parse_pounds(retail_price) if (retail_price or "").strip() else None,
    )
    take(
        "supplier_code",
        lambda: clean_text(supplier_code, "Code", max_length=40, required=False),
    )
    if errors:
        return None, errors
    return ProductFields(**values), {}


def suppliers_of(group_id: int) -> list[Supplier]:
    """The group's suppliers, by name."""
    return list(db.session.scalars(
        select(Supplier).where(Supplier.group_id == group_id).order_by(Supplier.name)
    ))


def supplier_of_group(group_id: int, supplier_id: int) -> Supplier | None:
    """The supplier with this id if it is the group's, else None."""
    supplier = db.session.get(Supplier, supplier_id)
    return supplier if supplier is not None and supplier.group_id == group_id else None


def product_of_supplier(supplier: Supplier, product_id: int) -> Product | None:
    """The product with this id if it is on `supplier`'s list, else None."""
    product = db.session.get(Product, product_id)
    return product if product is not None and product.supplier_id == supplier.id else None


def active_products(supplier: Supplier) -> list[Product]:
    """The supplier's products a new round may offer (active ones), by name."""
    return list(db.session.scalars(
        select(Product)
        .where(Product.supplier_id == supplier.id, Product.active.is_(True))
        .order_by(Product.name)
    ))


def create_supplier(group_id: int, name: str, contact: str | None, *, actor: User) -> Supplier:
    """Add a supplier to the group; names are unique within a group."""
    existing = db.session.scalar(
        select(Supplier).where(Supplier.group_id == group_id, Supplier.name == name)
    )
    if existing is not None:
        raise ServiceError("There is already a supplier with that name.")
    supplier = Supplier(group_id=group_id, name=name, contact=contact)
    db.session.add(supplier)
    db.session.flush()
    audit.record("supplier.created", actor=actor, group_id=group_id, subject=supplier)
    return supplier


def save_product(
    supplier: Supplier, fields: ProductFields, *, actor: User, product: Product | None = None
) -> Product:
    """Create a product, or update `product`; open rounds keep their own copy."""
    clash = db.session.scalar(
        select(Product).where(
            Product.supplier_id == supplier.id,
            Product.name == fields.name,
            Product.id != (product.id if product else -1),
        )
    )
    if clash is not None:
        raise ServiceError("This supplier already has a product with that name.")
    if product is None:
        product = Product(supplier_id=supplier.id)
        db.session.add(product)
    for key, value in fields.__dict__.items():
        setattr(product, key, value)
    db.session.flush()
    audit.record(
        "product.saved", actor=actor, group_id=supplier.group_id, subject=product,
        case_size=fields.case_size, case_price_pence=fields.case_price_pence,
    )
    return product


REQUIRED_COLUMNS = ("name", "unit", "case_size", "case_price")
OPTIONAL_COLUMNS = ("retail_price", "code")


@dataclass
class ImportReport:
    """What a price-list import did, or (when `errors`) why it did nothing."""

    errors: list[tuple[int, str]] = field(default_factory=list)
    created: int = 0
    updated: int = 0


def import_price_list(supplier: Supplier, text: str, *, actor: User) -> ImportReport:
    """Import a CSV price list for `supplier`: all rows, or none.

    Columns: name, unit, case_size, case_price (pounds, e.g. 12.50), and
    optionally retail_price (pounds per unit) and code. A row matches an
    existing product by code when it has one, else by name. Every bad row
    is reported with its line number; if any row is bad, nothing changes.
    """
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        report.errors.append((1, "Missing columns: " + ", ".join(missing)))
        return report
    unknown = [h for h in header if h not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        report.errors.append((1, "Unknown columns: " + ", ".join(unknown)))
        return report
    reader.fieldnames = header

    rows: list[tuple[int, ProductFields]] = []
    seen_names: dict[str, int] = {}
    seen_codes: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                report.errors.append((line, "This row has more cells than the header"))
                continue
            if not any((v or "").strip() for v in row.values()):
                continue
            fields, errors = check_product_fields(
                row.get("name"), row.get("unit"), row.get("case_size"), row.get("case_price"),
                row.get("retail_price"), row.get("code"),
            )
            if errors:
                report.errors.extend((line, message) for message in errors.values())
                continue
            name_key = fields.name.lower()
            if name_key in seen_names:
                report.errors.append((line, f"Same name as line {seen_names[name_key]}"))
                continue
            seen_names[name_key] = line
            if fields.supplier_code:
                if fields.supplier_code in seen_codes:
                    report.errors.append(
                        (line, f"Same code as line {seen_codes[fields.supplier_code]}")
                    )
                    continue
                seen_codes[fields.supplier_code] = line
            rows.append((line, fields))
    except csv.Error as error:
        report.errors.append((reader.line_num, f"This is not a CSV file we can read ({error})"))
    if report.errors:
        return report
    if not rows:
        report.errors.append((1, "The file has no products in it"))
        return report

    existing = db.session.scalars(select(Product).where(Product.supplier_id == supplier.id)).all()
    by_code = {p.supplier_code: p for p in existing if p.supplier_code}
    by_name = {p.name.lower(): p for p in existing}
    matches = []
    taken: dict[int, int] = {}
    for line, fields in rows:
        by_this_code = by_code.get(fields.supplier_code) if fields.supplier_code else None
        by_this_name = by_name.get(fields.name.lower())
        if by_this_code and by_this_name and by_this_code is not by_this_name:
            report.errors.append((line, (
                f"Code {fields.supplier_code} belongs to {by_this_code.name}, but "
                f"{by_this_name.name} already has this name"
            )))
            continue
        product = by_this_code or by_this_name
        if product is not None:
            if product.id in taken:
                report.errors.append((line, f"Same product as line {taken[product.id]}"))
                continue
            taken[product.id] = line
        matches.append((fields, product))
    if report.errors:
        return report
    for fields, product in matches:
        if product is None:
            product = Product(supplier_id=supplier.id)
            db.session.add(product)
            report.created += 1
        else:
            report.updated += 1
        for key, value in fields.__dict__.items():
            setattr(product, key, value)
        product.active = True
    db.session.flush()
    audit.record(
        "products.imported", actor=actor, group_id=supplier.group_id, subject=supplier,
        created=report.created, updated=report.updated,
    )
    return report
