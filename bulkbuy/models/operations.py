"""What the running system records about itself: each sweep's last run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from bulkbuy.extensions import db
from bulkbuy.models.types import UTCDateTime


class SweepRun(db.Model):
    """The last run of one of the scheduler's sweeps (one row per sweep, overwritten):
    /healthz reports it, so a scheduler that stopped is seen."""

    __tablename__ = "sweep_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: False when the run raised (the error is in the scheduler's log).
    ok: Mapped[bool] = mapped_column(Boolean)
    #: The last run that finished without an error; None until one has.
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
