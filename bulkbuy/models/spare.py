"""Spare units of a delivered round: more arrived than households get, and staff sell
them (at a price, with a receipt) or give them away (with a reason)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bulkbuy.extensions import db
from bulkbuy.models.accounts import User
from bulkbuy.models.rounds import RoundItem
from bulkbuy.models.types import UTCDateTime, utcnow

#: sold: for cash, at a price each, with a paper receipt; given_away: for nothing.
SPARE_KINDS = ("sold", "given_away")
#: Longest buyer's name and reason (the columns' sizes).
BUYER_MAX = 80
REASON_MAX = 200
RECEIPT_MAX = 40


class SpareDisposal(db.Model):
    """Some spare units of one of a round's products (or of its substitute), sold or
    given away, by whom and when."""

    __tablename__ = "spare_disposals"
    __table_args__ = (
        # A receipt number is used once per group among spare sales: a form sent twice
        # records once.
        UniqueConstraint("group_id", "receipt_number"),
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("kind IN ('sold', 'given_away')", name="kind_known"),
        CheckConstraint(
            "kind <> 'sold' OR (unit_pence > 0 AND cash_pence = units * unit_pence "
            "AND receipt_number IS NOT NULL AND reason IS NULL)",
            name="sold_has_price_and_receipt"),
        CheckConstraint(
            "kind <> 'given_away' OR (unit_pence IS NULL AND cash_pence IS NULL "
            "AND receipt_number IS NULL AND reason IS NOT NULL)",
            name="given_away_has_reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    round_item_id: Mapped[int] = mapped_column(ForeignKey("round_items.id"), index=True)
    units: Mapped[int] = mapped_column(Integer)
    #: One of SPARE_KINDS.
    kind: Mapped[str] = mapped_column(String(20))
    #: The price of one unit sold, in pence (None when given away).
    unit_pence: Mapped[int | None] = mapped_column(Integer)
    #: Cash taken: units × unit_pence (None when given away).
    cash_pence: Mapped[int | None] = mapped_column(Integer)
    #: Who bought them, as the worker typed it (a flat or a name); optional.
    buyer: Mapped[str | None] = mapped_column(String(BUYER_MAX))
    #: The paper receipt's number (sold only).
    receipt_number: Mapped[str | None] = mapped_column(String(RECEIPT_MAX))
    #: Why, and to whom, they were given away (given away only).
    reason: Mapped[str | None] = mapped_column(String(REASON_MAX))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    item: Mapped[RoundItem] = relationship()
    recorded_by: Mapped[User] = relationship()
