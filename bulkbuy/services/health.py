"""Is this deployment well: the database answers, and the scheduler's sweeps run.

The scheduler records each sweep's last run (`record_sweep`, called by
bulkbuy.sweeps around every scheduled sweep); /healthz reads them (`report`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from bulkbuy.extensions import db
from bulkbuy.models import SweepRun

#: A sweep is late when its last good run is older than this many of its intervals,
#: plus a minute (a slow sweep or a busy database is not yet a stopped scheduler).
LATE_AFTER_INTERVALS = 3


def record_sweep(name: str, finished_at: datetime, *, ok: bool) -> None:
    """Remember that the sweep `name` finished at `finished_at`, with or without an
    error (the caller commits). One upsert: two schedulers started by mistake both
    record, neither fails."""
    upsert = (postgresql.insert if db.session.get_bind().dialect.name == "postgresql"
              else sqlite.insert)
    row = upsert(SweepRun).values(name=name, finished_at=finished_at, ok=ok,
                                  last_ok_at=finished_at if ok else None)
    changes = {"finished_at": row.excluded.finished_at, "ok": row.excluded.ok}
    if ok:
        changes["last_ok_at"] = row.excluded.last_ok_at
    db.session.execute(row.on_conflict_do_update(index_elements=["name"], set_=changes))


@dataclass(frozen=True)
class SweepHealth:
    name: str
    every_seconds: int
    last_ok_at: datetime | None
    last_failed: bool
    late: bool


@dataclass(frozen=True)
class HealthReport:
    database_ok: bool
    sweeps: list[SweepHealth]

    @property
    def status(self) -> str:
        """"ok"; "degraded" when a sweep is late or its last run failed (pages still
        work); "down" when the database does not answer."""
        if not self.database_ok:
            return "down"
        if any(s.late or s.last_failed for s in self.sweeps):
            return "degraded"
        return "ok"


def report(now: datetime, intervals: dict[str, int]) -> HealthReport:
    """The database's answer to one trivial query, and for each scheduled sweep
    (`intervals`: name → seconds between runs) its last good run and whether it is late.
    Never raises for a database that is down: that is what it reports."""
    try:
        db.session.execute(text("SELECT 1"))
        runs = {r.name: r for r in db.session.scalars(select(SweepRun))}
    except SQLAlchemyError:
        db.session.rollback()
        return HealthReport(database_ok=False, sweeps=[])
    sweeps = []
    for name, seconds in sorted(intervals.items()):
        run = runs.get(name)
        last_ok = run.last_ok_at if run else None
        limit = timedelta(seconds=LATE_AFTER_INTERVALS * seconds + 60)
        sweeps.append(SweepHealth(
            name=name, every_seconds=seconds, last_ok_at=last_ok,
            last_failed=bool(run and not run.ok),
            late=last_ok is None or now - last_ok > limit))
    return HealthReport(database_ok=True, sweeps=sweeps)
