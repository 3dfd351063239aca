"""The periodic sweeps: the scheduler's jobs and the commands' work.

Each takes `now` and finds due work in the database itself. A sweep owns its
transactions: each piece of work (one round closed, one batch of mail sent) is
a unit of work committed on its own (`transactions.unit_of_work`), so a
failure or a crash loses only the piece in hand and the next sweep does it.
Running one twice, late, or in two processes at once does each piece once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from bulkbuy import payment_sweep
from bulkbuy.extensions import db
from bulkbuy.models import utcnow
from bulkbuy.services import (
    closing,
    delivery,
    health,
    last_call,
    notifications,
    retention,
    rounds,
)
from bulkbuy.services.payments.charge_sweep import PaymentSweep
from bulkbuy.services.payments.throttle import Throttle
from bulkbuy.transactions import unit_of_work

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoundSweep:
    opened: int
    closed: list[closing.CloseResult]


def periodic_jobs(config) -> list[tuple[Callable[[datetime], object], int]]:
    """The sweeps the scheduler runs, with the seconds between runs: the round sweep
    often enough that a round closes within 60 s of its deadline."""
    return [(sweep_rounds, int(config.get("SWEEP_SECONDS", 20))),
            (sweep_notifications, 30),
            (sweep_payments, int(config.get("PAYMENT_SWEEP_SECONDS", 30))),
            (sweep_audit_retention, 3600),
            (sweep_last_calls, 300)]


def scheduled_jobs(config) -> list[tuple[Callable[[datetime], object], int]]:
    """periodic_jobs, each recording its last run for /healthz (services.health)."""
    return [(_recorded(sweep), seconds) for sweep, seconds in periodic_jobs(config)]


def _recorded(sweep: Callable[[datetime], object]) -> Callable[[datetime], object]:
    def run(now: datetime) -> object:
        try:
            result = sweep(now)
        except Exception:
            db.session.rollback()
            _record(sweep.__name__, ok=False)
            raise
        _record(sweep.__name__, ok=True)
        return result

    run.__name__ = sweep.__name__
    return run


def _record(name: str, *, ok: bool) -> None:
    try:
        with unit_of_work():
            health.record_sweep(name, utcnow(), ok=ok)
    except Exception:  # the record is a nicety: never hide the sweep's own outcome
        log.exception("could not record the run of sweep %s", name)


def sweep_rounds(now: datetime) -> RoundSweep:
    """Open scheduled rounds whose time has come, then close every round past its deadline."""
    with unit_of_work():
        opened = rounds.open_scheduled_rounds(now)
    return RoundSweep(opened=opened, closed=close_due_rounds(now))


def close_due_rounds(now: datetime) -> list[closing.CloseResult]:
    """Close every due round, each its own unit of work. One round's failure is rolled
    back and logged without stopping the others; it stays open for the next sweep."""
    results = []
    for round_id in closing.due_round_ids(now):
        try:
            with unit_of_work():
                result = closing.close_round(round_id, now)
        except Exception:
            log.exception("closing round %s failed; it stays open for the next sweep", round_id)
            continue
        if result is not None:
            results.append(result)
    return results


def sweep_notifications(now: datetime) -> int:
    """Queue due reminders and the news of bills that a delivery changed, then send what
    is in the outbox. Returns messages sent."""
    with unit_of_work():
        notifications.queue_reminders(now)
    with unit_of_work():
        delivery.queue_delivery_news(now)
    return send_outbox(now)


def sweep_last_calls(now: datetime) -> int:
    """Call out boxes one or two units short in rounds closing within a day, once each
    (services/last_call.py), each round its own unit of work. Returns calls made."""
    made = 0
    for round_id in last_call.due_round_ids(now):
        try:
            with unit_of_work():
                made += len(last_call.call_round(round_id, now))
        except Exception:
            log.exception("last calls of round %s failed; the next sweep tries again",
                          round_id)
    return made


def send_outbox(now: datetime, batch: int = 20) -> int:
    """Send queued messages, a batch per unit of work; returns how many were sent (see
    notifications.send_batch: at-least-once, never lost)."""
    sent = 0
    tried: set[int] = set()
    while True:
        with unit_of_work():
            done = notifications.send_batch(now, tried, batch)
        if done is None:
            return sent
        sent += done


def sweep_audit_retention(now: datetime, *, days: int | None = None) -> int:
    """Delete audit entries older than AUDIT_RETENTION_DAYS, a batch per unit of work;
    returns how many (hourly: usually none are due, which costs one query)."""
    if days is None:
        days = int(current_app.config.get("AUDIT_RETENTION_DAYS", retention.DEFAULT_DAYS))
    deleted = 0
    while True:
        with unit_of_work():
            done = retention.delete_old_audit_entries(now, days)
        if not done:
            return deleted
        deleted += done


def sweep_payments(now: datetime, *, config=None, throttle: Throttle | None = None,
                   batch: int | None = None) -> PaymentSweep:
    """Charge saved cards for closed rounds, settle lost answers, send refunds (cards only).
    Each step is its own unit of work: every request to Stripe is committed before it
    is sent and its answer after (see `payment_sweep`). `config` defaults to the app's."""
    extra = {} if batch is None else {"batch": batch}
    config = current_app.config if config is None else config
    return payment_sweep.sweep_payments(now, config=config, throttle=throttle, **extra)
