"""Suppliers and the products they sell, in cases."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bulkbuy.extensions import db
from bulkbuy.models.types import UTCDateTime, utcnow


class Supplier(db.Model):
    __tablename__ = "suppliers"
    __table_args__ = (UniqueConstraint("group_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    contact: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    products: Mapped[list[Product]] = relationship(
        back_populates="supplier", order_by="Product.name"
    )


class Product(db.Model):
    """A product as the supplier sells it today. Rounds copy what they need."""

    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("supplier_id", "name"),
        CheckConstraint("case_size >= 1", name="case_size_positive"),
        CheckConstraint("case_price_pence >= 0", name="case_price_non_negative"),
        CheckConstraint(
            "retail_price_pence IS NULL OR retail_price_pence >= 0",
            name="retail_price_non_negative",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    #: What one unit is, in the shopper's words: "400g tin", "1kg of rice".
    unit_description: Mapped[str] = mapped_column(String(100))
    #: Units in one case.
    case_size: Mapped[int] = mapped_column(Integer)
    #: Price of a whole case in pence, VAT included.
    case_price_pence: Mapped[int] = mapped_column(Integer)
    #: Shop price of one unit in pence, for the savings report; optional.
    retail_price_pence: Mapped[int | None] = mapped_column(Integer)
    #: The supplier's own product code, used to match rows on CSV import.
    supplier_code: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The stored picture's file name under instance/pictures (bulkbuy.services.pictures).
    picture: Mapped[str | None] = mapped_column(String(80))

    supplier: Mapped[Supplier] = relationship(back_populates="products")
