"""APScheduler 3 running the sweeps on a timer (see STACK.md traps 1-3 and 13).

Jobs are plain periodic sweeps that look for due work in the database, so a
missed or doubled tick does no harm: coalesce, one instance at a time, and
no misfire limit.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from bulkbuy.extensions import db
from bulkbuy.models import utcnow
from bulkbuy.services import sweeps

log = logging.getLogger(__name__)


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


def add_sweeps(scheduler: BaseScheduler, app: Flask) -> BaseScheduler:
    """Add the round, mail and payment sweeps; the round sweep runs often enough
    that a round closes within 60 s of its deadline."""
    every = int(app.config.get("SWEEP_SECONDS", 20))
    jobs = [(sweeps.sweep_rounds, every), (sweeps.sweep_notifications, 30),
            (sweeps.sweep_payments, int(app.config.get("PAYMENT_SWEEP_SECONDS", 30)))]
    for sweep, seconds in jobs:
        scheduler.add_job(
            _job(app, sweep), "interval", seconds=seconds, id=sweep.__name__,
            coalesce=True, max_instances=1, misfire_grace_time=None, next_run_time=utcnow(),
        )
    return scheduler


def background(app: Flask) -> BackgroundScheduler:
    """A scheduler running in a thread of this process (development)."""
    return add_sweeps(BackgroundScheduler(timezone="UTC"), app)


def blocking(app: Flask) -> BlockingScheduler:
    """A scheduler that is the whole process (production: run exactly one)."""
    return add_sweeps(BlockingScheduler(timezone="UTC"), app)
