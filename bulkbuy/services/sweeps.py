"""The periodic sweeps. Each takes `now`, finds due work in the database itself,
and commits its own transactions, so running one twice, late, or in two
processes at once does each piece of work once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from bulkbuy.extensions import db
from bulkbuy.services import charging, closing, notifications, rounds


@dataclass(frozen=True)
class RoundSweep:
    opened: int
    closed: list[closing.CloseResult]


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
