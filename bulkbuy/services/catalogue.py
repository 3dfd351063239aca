"""Suppliers and products, including importing a supplier's price list from CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from bulkbuy.extensions import db
from bulkbuy.models import Product, Supplier, User
from bulkbuy.services import ServiceError, audit, pictures, writes
from bulkbuy.validation import clean_text, optional_pounds, parse_pounds, whole_number

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

    take("name", lambda: clean_text(name, _l("Name"), max_length=NAME_LENGTH))
    take("unit_description", lambda: clean_text(unit_description, _l("Unit"), max_length=100))
    take(
        "case_size",
        lambda: whole_number(case_size, _l("Case size"), minimum=1, maximum=MAX_CASE_SIZE),
    )
    take("case_price_pence", lambda: parse_pounds(case_price or ""))
    take(
        "retail_price_pence",
        lambda: optional_pounds(retail_price),
    )
    take(
        "supplier_code",
        lambda: clean_text(supplier_code, _l("Code"), max_length=40, required=False),
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


@dataclass(frozen=True)
class ProductList:
    """One page of a supplier's products (by name), and how many match in all."""

    products: list[Product]
    total: int
    page: int
    pages: int
    search: str


#: Products on one page of a supplier's list, and at most on the new-round form (a
#: supplier with thousands is searched, not scrolled).
PRODUCTS_PER_PAGE = 100
MAX_PRODUCTS_ON_FORM = 200


def product_list(supplier: Supplier, *, search: str | None = None, page: int = 1,
                 per_page: int = PRODUCTS_PER_PAGE, active_only: bool = False) -> ProductList:
    """Page `page` (from 1; past the end gives the last) of the supplier's products
    whose name or code contains `search` (any case), by name."""
    search = " ".join((search or "").split())[:100]
    where = [Product.supplier_id == supplier.id]
    if active_only:
        where.append(Product.active.is_(True))
    if search:
        pattern = "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace(
            "_", "\\_") + "%"
        where.append(or_(func.lower(Product.name).like(pattern, escape="\\"),
                         func.lower(Product.supplier_code).like(pattern, escape="\\")))
    total = db.session.scalar(select(func.count()).select_from(Product).where(*where))
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    products = list(db.session.scalars(
        select(Product).where(*where).order_by(Product.name, Product.id)
        .limit(per_page).offset((page - 1) * per_page)))
    return ProductList(products, total, page, pages, search)


def create_supplier(group_id: int, name: str, contact: str | None, *, actor: User) -> Supplier:
    """Add a supplier to the group; names are unique within a group."""
    existing = db.session.scalar(
        select(Supplier).where(Supplier.group_id == group_id, Supplier.name == name)
    )
    taken = _l("There is already a supplier with that name.")
    if existing is not None:
        raise ServiceError(taken)
    supplier = Supplier(group_id=group_id, name=name, contact=contact)
    writes.add_or_refuse(supplier, taken)
    audit.record("supplier.created", actor=actor, group_id=group_id, subject=supplier)
    return supplier


def update_supplier(supplier: Supplier, name: str, contact: str | None, *, actor: User) -> None:
    """Change a supplier's name and contact; names stay unique within the group (the
    same name at the same moment is refused by the database, with the same words).
    Rounds keep their own copy of what they buy, so nothing else changes. Audited."""
    taken = _l("There is already a supplier with that name.")
    clash = db.session.scalar(
        select(Supplier.id).where(Supplier.group_id == supplier.group_id,
                                  Supplier.name == name, Supplier.id != supplier.id)
    )
    if clash is not None:
        raise ServiceError(taken, field="name")
    before = supplier.name
    supplier.name, supplier.contact = name, contact
    writes.add_or_refuse(supplier, taken, field="name")
    audit.record("supplier.updated", actor=actor, group_id=supplier.group_id, subject=supplier,
                 name_before=before, name_after=name)


def set_product_active(product: Product, active: bool, *, actor: User) -> bool:
    """Hide a product from new rounds (`active=False`) or show it again. Rounds that
    already have it keep it. Returns whether anything changed; a change is audited."""
    if bool(product.active) == bool(active):
        return False
    product.active = bool(active)
    audit.record("product.shown" if active else "product.hidden", actor=actor,
                 group_id=product.supplier.group_id, subject=product)
    return True


@dataclass(frozen=True)
class PictureFiles:
    """Pictures sent with a form: {file name as sent: bytes}, where they are stored
    (pictures.directory) and the most one may be."""

    files: dict[str, bytes]
    folder: Path
    max_bytes: int = pictures.DEFAULT_MAX_BYTES


def save_product(
    supplier: Supplier, fields: ProductFields, *, actor: User, product: Product | None = None,
    picture: PictureFiles | None = None,
) -> Product:
    """Create a product, or update `product`; open rounds keep their own copy. With
    `picture` (one file), the product gets it too (pictures.set_product_picture: a
    picture refused refuses the whole save)."""
    clash = db.session.scalar(
        select(Product).where(
            Product.supplier_id == supplier.id,
            Product.name == fields.name,
            Product.id != (product.id if product else -1),
        )
    )
    taken = _l("This supplier already has a product with that name.")
    if clash is not None:
        raise ServiceError(taken)
    if fields.supplier_code:
        code_clash = db.session.scalar(
            select(Product).where(
                Product.supplier_id == supplier.id,
                Product.supplier_code == fields.supplier_code,
                Product.id != (product.id if product else -1),
            ).limit(1)
        )
        if code_clash is not None:
            raise ServiceError(
                _l("%(name)s already has this code. Each product needs its own code.",
                   name=code_clash.name),
                field="supplier_code",
            )
    if product is None:
        product = Product(supplier_id=supplier.id)
    for key, value in fields.__dict__.items():
        setattr(product, key, value)
    writes.add_or_refuse(product, taken)
    audit.record(
        "product.saved", actor=actor, group_id=supplier.group_id, subject=product,
        case_size=fields.case_size, case_price_pence=fields.case_price_pence,
    )
    for data in (picture.files.values() if picture else ()):
        pictures.set_product_picture(product, data, picture.folder, actor=actor,
                                     max_bytes=picture.max_bytes)
    return product


REQUIRED_COLUMNS = ("name", "unit", "case_size", "case_price")
OPTIONAL_COLUMNS = ("retail_price", "code", "picture")
#: Pictures one import may bring.
MAX_IMPORT_PICTURES = 300
#: Products one file may hold: a supplier's whole list fits, and a mistaken or hostile
#: file of 100,000 rows is refused before any row is checked.
MAX_IMPORT_ROWS = 5_000
#: Problems listed one by one; the rest are counted ("and 950 more").
MAX_LISTED_ERRORS = 50


@dataclass
class ImportReport:
    """What a price-list import did, or (when `errors`) why it did nothing.

    `errors` lists the first MAX_LISTED_ERRORS problems; `more_errors` counts the
    rest."""

    errors: list[tuple[int, str]] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    more_errors: int = 0
    #: Products whose picture the import set or changed.
    pictures: int = 0

    def add_error(self, line: int, message) -> None:
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append((line, message))
        else:
            self.more_errors += 1


def _more_rows_than(text: str, limit: int) -> bool:
    """Whether the CSV text has more than `limit` records (quoted line breaks count
    as one record), read no further than needed."""
    for count, _row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if count > limit:
            return True
    return False


def _file_key(name: str) -> str:
    """A picture's file name as the CSV's `picture` cell may name it: without any folder
    a browser sent, in any case ("Tins/Beans.JPG" is "beans.jpg")."""
    return name.replace("\\", "/").rsplit("/", 1)[-1].strip().lower()


def import_price_list(supplier: Supplier, text: str, *, actor: User,
                      picture_files: PictureFiles | None = None) -> ImportReport:
    """Import a CSV price list for `supplier`: all rows, or none.

    Columns: name, unit, case_size, case_price (pounds, e.g. 12.50), and
    optionally retail_price (pounds per unit), code and picture. A row matches an
    existing product by code when it has one, else by name. A `picture` cell names one
    of `picture_files` (chosen with the CSV, by file name, any case); the product gets
    that picture, made small (pictures.make_picture: a picture refused is that row's
    error). A name not chosen this time keeps the picture an existing product already
    has (the same price list imported again without its pictures), and is an error
    otherwise; an empty cell changes nothing. Every bad row
    is reported with its line number (the first MAX_LISTED_ERRORS, then a count);
    if any row is bad, nothing changes. A file of more than MAX_IMPORT_ROWS
    products is refused before any row is checked.
    """
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        report.add_error(1, _("Missing columns: %(columns)s", columns=", ".join(missing)))
        return report
    unknown = [h for h in header if h not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        report.add_error(1, _("Unknown columns: %(columns)s", columns=", ".join(unknown)))
        return report
    reader.fieldnames = header
    if _more_rows_than(text, MAX_IMPORT_ROWS + 1):  # + 1: the header
        report.add_error(1, _("This file has more than %(n)s products. Split it into files "
                              "of %(n)s or fewer and import each.", n=f"{MAX_IMPORT_ROWS:,}"))
        return report

    rows: list[tuple[int, ProductFields]] = []
    picture_names: dict[int, str] = {}
    seen_names: dict[str, int] = {}
    seen_codes: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                report.add_error(line, _("This row has more cells than the header"))
                continue
            if not any((v or "").strip() for v in row.values()):
                continue
            fields, errors = check_product_fields(
                row.get("name"), row.get("unit"), row.get("case_size"), row.get("case_price"),
                row.get("retail_price"), row.get("code"),
            )
            if errors:
                for message in errors.values():
                    report.add_error(line, message)
                continue
            picture_names[line] = _file_key(row.get("picture") or "")
            name_key = fields.name.lower()
            if name_key in seen_names:
                report.add_error(line, _("Same name as line %(line)s", line=seen_names[name_key]))
                continue
            seen_names[name_key] = line
            if fields.supplier_code:
                if fields.supplier_code in seen_codes:
                    report.add_error(line, _("Same code as line %(line)s",
                                             line=seen_codes[fields.supplier_code]))
                    continue
                seen_codes[fields.supplier_code] = line
            rows.append((line, fields))
    except csv.Error as error:
        report.add_error(reader.line_num,
                         _("This is not a CSV file we can read (%(error)s)", error=error))
    if report.errors:
        return report
    if not rows:
        report.add_error(1, _("The file has no products in it"))
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
            report.add_error(line, _(
                "Code %(code)s belongs to %(owner)s, but %(other)s already has this name",
                code=fields.supplier_code, owner=by_this_code.name, other=by_this_name.name,
            ))
            continue
        product = by_this_code or by_this_name
        if product is not None:
            if product.id in taken:
                report.add_error(line, _("Same product as line %(line)s", line=taken[product.id]))
                continue
            taken[product.id] = line
        matches.append((line, fields, product))
    if report.errors:
        return report
    chosen = {_file_key(name): data for name, data in
              (picture_files.files.items() if picture_files else ())}
    made: dict[str, bytes] = {}  # file key: the picture made small
    for line, _fields, product in matches:
        key = picture_names.get(line)
        if not key or key in made:
            continue
        if key not in chosen:
            if product is None or not product.picture:
                report.add_error(line, _("Choose the picture %(name)s with the price list, "
                                         "or leave its cell empty", name=key))
            continue
        try:
            made[key] = pictures.make_picture(chosen[key], max_bytes=picture_files.max_bytes)
        except ServiceError as error:
            report.add_error(line, _("Picture %(name)s: %(problem)s", name=key,
                                     problem=error.message))
    if report.errors:
        return report
    stored = {key: pictures.write_picture(small, picture_files.folder)
              for key, small in made.items()}
    pictured: list[Product] = []
    for line, fields, product in matches:
        if product is None:
            product = Product(supplier_id=supplier.id)
            db.session.add(product)
            report.created += 1
        else:
            report.updated += 1
        for key, value in fields.__dict__.items():
            setattr(product, key, value)
        product.active = True
        name = stored.get(picture_names.get(line, ""))
        if name is not None and product.picture != name:
            product.picture = name
            pictured.append(product)
    db.session.flush()
    report.pictures = len(pictured)
    # Rounds showing these products show their new pictures at once.
    pictures.pages_show_it_afresh([p.id for p in pictured])
    audit.record(
        "products.imported", actor=actor, group_id=supplier.group_id, subject=supplier,
        created=report.created, updated=report.updated, pictures=report.pictures,
    )
    return report
