"""Collection day: what happened to each household's bag of a delivered round.

A household of the round with no row here is still waiting to collect.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bulkbuy.extensions import db
from bulkbuy.models.accounts import Household, User
from bulkbuy.models.rounds import Round
from bulkbuy.models.types import UTCDateTime

#: collected: handed over (to the household or a neighbour for it) — final;
#: kept: not collected yet, kept for later (may still be collected or given away);
#: given_away: not collected, given away (to a food bank, say) — final.
HANDOVER_STATUSES = ("collected", "kept", "given_away")
#: Longest neighbour's name and reason (the columns' sizes).
NAME_MAX = 80
REASON_MAX = 200


class BagHandover(db.Model):
    """One household's bag of one round: collected, kept for later or given away,
    by which worker and when."""

    __tablename__ = "bag_handovers"
    __table_args__ = (
        # One bag per household per round: two workers ticking it at once tick it once.
        UniqueConstraint("round_id", "household_id"),
        CheckConstraint(
            f"status IN ({', '.join(repr(s) for s in HANDOVER_STATUSES)})",
            name="status_known",
        ),
        CheckConstraint("status = 'collected' OR reason IS NOT NULL",
                        name="reason_when_not_collected"),
        CheckConstraint("collected_by_name IS NULL OR status = 'collected'",
                        name="neighbour_only_when_collected"),
        CheckConstraint("status <> 'kept' OR kept_at IS NOT NULL", name="kept_has_time"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"))
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    #: One of HANDOVER_STATUSES.
    status: Mapped[str] = mapped_column(String(20))
    #: The neighbour who collected it for the household; None: the household itself.
    collected_by_name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    #: Why it was kept or given away, in the worker's words (a bag kept and then
    #: collected keeps its reason for keeping).
    reason: Mapped[str | None] = mapped_column(String(REASON_MAX))
    #: When it was set aside for later, if it was (kept as it moves on).
    kept_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Who did the latest step, and when.
    handled_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    handled_at: Mapped[datetime] = mapped_column(UTCDateTime)

    round: Mapped[Round] = relationship()
    household: Mapped[Household] = relationship()
    handled_by: Mapped[User] = relationship()
