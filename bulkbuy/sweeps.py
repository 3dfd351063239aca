"""The periodic sweeps. Each takes `now`, finds due work in the database itself,
and commits its own transactions, so running one twice, late, or in two
processes at once does each piece of work once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from bulkbuy.extensions import db
from bulkbuy.services import charging, closing, notifications, rounds


@dataclass(frozen=True)
class RoundSweep:
    opened: int
    closed: list[closing.CloseResult]


def periodic_jobs(config) -> list[tuple[Callable[[datetime], object], int]]:
    """The sweeps the scheduler runs, with the seconds between runs: the round sweep
    often enough that a round closes within 60 s of its deadline."""
    return [(sweep_rounds, int(config.get("SWEEP_SECONDS", 20))),
            (sweep_notifications, 30),
            (sweep_payments, int(config.get("PAYMENT_SWEEP_SECONDS", 30)))]


def sweep_rounds(now: datetime) -> RoundSweep:
    """Open scheduled rounds whose time has come, then close every round past its deadline."""
    opened = rounds.open_scheduled_rounds(now)
    db.session.commit()
    closed = closing.close_due_rounds(now, commit=db.session.commit)
    return RoundSweep(opened=opened, closed=closed)


def sweep_notifications(now: datetime) -> int:
    """Queue due reminders, then send what is in the outbox. Returns messages sent."""
    notifications.queue_reminders(now)
    db.session.commit()
    return notifications.send_outbox(now, commit=db.session.commit)


def sweep_payments(now: datetime) -> charging.PaymentSweep:
    """Charge saved cards for closed rounds, settle lost answers, send refunds (cards only)."""
    return charging.sweep_payments(now, config=current_app.config, commit=db.session.commit)
