"""Buying rounds, the products in them, and households' pledge lines."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bulkbuy.domain.statuses import RoundStatus
from bulkbuy.extensions import db
from bulkbuy.models.accounts import Group, Household, User
from bulkbuy.models.catalogue import Product, Supplier
from bulkbuy.models.types import UTCDateTime, utcnow

ROUND_STATUSES = tuple(RoundStatus)
FEE_SPLITS = ("by_value", "equal")
ALLOCATION_MODES = ("first_come", "pro_rata")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Round(db.Model):
    __tablename__ = "rounds"
    __table_args__ = (
        CheckConstraint(_in("status", ROUND_STATUSES), name="status_known"),
        CheckConstraint(_in("fee_split", FEE_SPLITS), name="fee_split_known"),
        CheckConstraint(_in("allocation_mode", ALLOCATION_MODES), name="allocation_mode_known"),
        CheckConstraint("delivery_fee_pence >= 0", name="delivery_fee_non_negative"),
        CheckConstraint(
            "min_order_pence IS NULL OR min_order_pence >= 0", name="min_order_non_negative"
        ),
        CheckConstraint("payment_days BETWEEN 1 AND 30", name="payment_days_range"),
        Index("ix_rounds_status_closes_at", "status", "closes_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    title: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    #: When a scheduled round opens by itself (UTC); None opens it by hand.
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The pledge deadline (UTC).
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivery_fee_pence: Mapped[int] = mapped_column(Integer, default=0)
    #: The round fails at close when the allocated goods total is below this.
    min_order_pence: Mapped[int | None] = mapped_column(Integer)
    fee_split: Mapped[str] = mapped_column(String(16), default="by_value")
    allocation_mode: Mapped[str] = mapped_column(String(16), default="first_come")
    collection_place: Mapped[str | None] = mapped_column(String(200))
    collection_time: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Bumped by every pledge change; the UPDATE that bumps it is the round lock.
    pledge_version: Mapped[int] = mapped_column(Integer, default=0)
    #: Bumped by the database (a trigger, migration 0008) on any other change to the round,
    #: to its products as pages show them, or to its supplier's name: with pledge_version,
    #: what kept pages of the round are keyed by (bulkbuy/fragment_cache.py).
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The one-time token of the form that created the round: the same form sent again
    #: (a double click) finds this round instead of making a second one.
    submission_token: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    #: When the round was closed (or failed); None while open.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Pence of goods ordered from the supplier (sum of cases × case price), set at close.
    goods_total_pence: Mapped[int | None] = mapped_column(Integer)
    #: When the 24-hour reminder was queued (so it is queued once).
    reminder_queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The payment window: households pay within this many days of the close.
    payment_days: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    #: The supplier's reference for the order, when they gave one (set when ordered).
    supplier_reference: Mapped[str | None] = mapped_column(String(80))
    #: The day the supplier expects to deliver (set when ordered; may be changed after).
    expected_delivery_on: Mapped[date | None] = mapped_column(Date)
    #: When an organiser marked the round ordered from the supplier, and who.
    ordered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ordered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Bumped by each saving of what arrived (a guarded UPDATE from the version the form
    #: was drawn from): two people saving at once get one result.
    delivery_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: When what arrived was last saved, and who saved it.
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: The supplier's invoice total as typed on the receive page (pence), when given.
    invoice_total_pence: Mapped[int | None] = mapped_column(Integer)

    group: Mapped[Group] = relationship()
    supplier: Mapped[Supplier] = relationship()
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    ordered_by: Mapped[User | None] = relationship(foreign_keys=[ordered_by_id])
    received_by: Mapped[User | None] = relationship(foreign_keys=[received_by_id])
    items: Mapped[list[RoundItem]] = relationship(
        back_populates="round", order_by="RoundItem.name"
    )

    @property
    def pay_by(self) -> datetime | None:
        """The end of the payment window (None until the round closed)."""
        if self.closed_at is None:
            return None
        return self.closed_at + timedelta(days=self.payment_days)


class RoundItem(db.Model):
    """A product in a round, with its case size and price copied when the round opens."""

    __tablename__ = "round_items"
    __table_args__ = (
        UniqueConstraint("round_id", "product_id"),
        CheckConstraint("case_size >= 1", name="case_size_positive"),
        CheckConstraint("case_price_pence >= 0", name="case_price_non_negative"),
        CheckConstraint("max_cases IS NULL OR max_cases >= 0", name="max_cases_non_negative"),
        CheckConstraint(
            "cases_ordered IS NULL OR cases_ordered >= 0", name="cases_ordered_non_negative"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    name: Mapped[str] = mapped_column(String(100))
    unit_description: Mapped[str] = mapped_column(String(100))
    case_size: Mapped[int] = mapped_column(Integer)
    #: Pence for a whole case, VAT included, as it was when the round opened.
    case_price_pence: Mapped[int] = mapped_column(Integer)
    #: Shop price of one unit in pence, as it was when the round opened (None: unknown).
    retail_price_pence: Mapped[int | None] = mapped_column(Integer)
    supplier_code: Mapped[str | None] = mapped_column(String(40))
    #: Optional cap on cases ordered (storage space, supplier stock).
    max_cases: Mapped[int | None] = mapped_column(Integer)
    #: Cases to order from the supplier, set when the round closes.
    cases_ordered: Mapped[int | None] = mapped_column(Integer)
    #: Bumped by the database (migration 0028's triggers) whenever a pledge line of this
    #: product is added, changed or removed: what the product alone would come to is
    #: kept under it (round_view.round_likely). Never written by the app.
    pledge_version: Mapped[int] = mapped_column(Integer, server_default="0",
                                                default=0)
    #: Set on a product the supplier sent instead of another of the round's products
    #: (added when what arrived is saved; one unit a "case", priced per unit).
    substitute_for_id: Mapped[int | None] = mapped_column(ForeignKey("round_items.id"))

    round: Mapped[Round] = relationship(back_populates="items")
    product: Mapped[Product] = relationship()


class PledgeLine(db.Model):
    """Units a household asked for, with their place in the queue.

    Raising a pledge adds a line at the back of the queue; lowering it trims
    the household's newest lines first (see bulkbuy.domain.pledge_queue).
    """

    __tablename__ = "pledge_lines"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_non_negative"),
        CheckConstraint("tolerance >= 0", name="tolerance_non_negative"),
        CheckConstraint("quantity + tolerance > 0", name="not_empty"),
        Index("ix_pledge_lines_item_household", "round_item_id", "household_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    round_item_id: Mapped[int] = mapped_column(ForeignKey("round_items.id"))
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    #: Global, increasing position in the queue; earlier is served first.
    queue_pos: Mapped[int] = mapped_column(BigInteger, unique=True)
    #: Units wanted.
    quantity: Mapped[int] = mapped_column(Integer)
    #: Extra units the household would take if they complete a case.
    tolerance: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Who typed it: the household's own user, or a worker or organiser for them.
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    household: Mapped[Household] = relationship()
    item: Mapped[RoundItem] = relationship()
