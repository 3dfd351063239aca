"""APScheduler 3 running the sweeps on a timer.

Jobs are plain periodic sweeps that look for due work in the database, so a
missed or doubled tick does no harm: coalesce, one instance at a time, and
no misfire limit (APScheduler silently drops a job that misses its grace
time). Run one scheduler per deployment: one per gunicorn worker would run
every job once per worker. APScheduler is pinned below 4 (another API).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from bulkbuy.extensions import db
from bulkbuy.models import utcnow

log = logging.getLogger(__name__)

#: A periodic job: a sweep taking `now`, and the seconds between its runs.
Job = tuple[Callable[[datetime], object], int]


def _job(app: Flask, sweep):
    def run() -> None:
        with app.app_context():
            try:
                sweep(utcnow())
            except Exception:
                db.session.rollback()
                log.exception("sweep %s failed; the next tick tries again", sweep.__name__)
            finally:
                db.session.remove()

    run.__name__ = sweep.__name__
    return run


def add_sweeps(scheduler: BaseScheduler, app: Flask, jobs: Sequence[Job]) -> BaseScheduler:
    """Add each sweep as an interval job run in an app context, once at a time."""
    for sweep, seconds in jobs:
        scheduler.add_job(
            _job(app, sweep), "interval", seconds=seconds, id=sweep.__name__,
            coalesce=True, max_instances=1, misfire_grace_time=None, next_run_time=utcnow(),
        )
    return scheduler


def background(app: Flask, jobs: Sequence[Job]) -> BackgroundScheduler:
    """A scheduler running in a thread of this process (development)."""
    return add_sweeps(BackgroundScheduler(timezone="UTC"), app, jobs)


def blocking(app: Flask, jobs: Sequence[Job]) -> BlockingScheduler:
    """A scheduler that is the whole process (production: run exactly one)."""
    return add_sweeps(BlockingScheduler(timezone="UTC"), app, jobs)
