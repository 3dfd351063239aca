"""Changing a household's pledge for one product of an open round."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from bulkbuy.domain.pledge_queue import QueueLine, plan_pledge_change
from bulkbuy.extensions import db
from bulkbuy.models import Household, PledgeLine, Round, RoundItem, User
from bulkbuy.services import ServiceError, audit


class RoundNotOpenError(ServiceError):
    """The round is closed, past its deadline or not open yet: nothing was changed."""


@dataclass(frozen=True)
class PledgeResult:
    quantity: int
    tolerance: int
    changed: bool


def lock_open_round(round_id: int, now: datetime) -> None:
    """Lock the round row for this transaction, checking it is open and before its deadline.

    The guarded UPDATE takes PostgreSQL's row lock (as SELECT ... FOR UPDATE
    would) and SQLite's database write lock, so pledge changes to one round
    queue behind each other and behind a close, which updates the same row.
    The deadline is judged again once the lock is held, at `now` plus the time
    spent waiting for it: a change that queued behind others past the deadline
    is refused, even by a millisecond. Raises RoundNotOpenError when the round
    is not open; the caller's transaction is then undone (undone_on_error).
    """
    asked = time.monotonic()
    closes_at = db.session.execute(
        update(Round)
        .where(Round.id == round_id, Round.status == "open", Round.closes_at > now)
        .values(pledge_version=Round.pledge_version + 1)
        .returning(Round.closes_at)
        .execution_options(synchronize_session=False)
    ).scalar()
    waited = timedelta(seconds=time.monotonic() - asked)
    if closes_at is None or closes_at <= now + waited:
        raise RoundNotOpenError(
            _l("Orders for this round are closed. We did not change your order."))


def next_queue_position() -> int:
    """A queue position later than every one handed out before.

    PostgreSQL uses a sequence (safe across rounds and processes); SQLite
    takes max + 1, safe because SQLite lets one writer at a time in and the
    caller already holds the write lock (see lock_open_round).
    """
    if db.session.get_bind().dialect.name == "postgresql":
        return db.session.execute(select(func.nextval("pledge_queue_seq"))).scalar_one()
    current = db.session.execute(select(func.max(PledgeLine.queue_pos))).scalar_one()
    return (current or 0) + 1


def set_pledge(
    item: RoundItem,
    household: Household,
    quantity: int,
    tolerance: int,
    *,
    entered_by: User,
    now: datetime,
    max_units: int,
) -> PledgeResult:
    """Make the household's pledge for `item` exactly `quantity` units plus `tolerance`.

    Raising adds a line at the back of the queue; lowering trims the
    household's newest lines first. The round must be open and before its
    deadline; otherwise RoundNotOpenError and nothing changes. The caller
    has checked the household and item belong to the same group.
    """
    if not (0 <= quantity <= max_units and 0 <= tolerance <= max_units):
        raise ServiceError(_l("You can have up to %(n)s.", n=max_units))
    lock_open_round(item.round_id, now)

    rows = db.session.scalars(
        select(PledgeLine)
        .where(PledgeLine.round_item_id == item.id, PledgeLine.household_id == household.id)
        .order_by(PledgeLine.queue_pos)
    ).all()
    before_q = sum(r.quantity for r in rows)
    before_t = sum(r.tolerance for r in rows)
    plan = plan_pledge_change(
        [QueueLine(r.id, r.queue_pos, r.quantity, r.tolerance) for r in rows],
        quantity,
        tolerance,
    )
    by_id = {r.id: r for r in rows}
    for line_id in plan.deletes:
        db.session.delete(by_id[line_id])
    for line_id, (q, t) in plan.updates.items():
        by_id[line_id].quantity = q
        by_id[line_id].tolerance = t
    if plan.append is not None:
        q, t = plan.append
        db.session.add(
            PledgeLine(
                round_id=item.round_id,
                round_item_id=item.id,
                household_id=household.id,
                queue_pos=next_queue_position(),
                quantity=q,
                tolerance=t,
                created_at=now,
                entered_by_id=entered_by.id,
            )
        )
    changed = (before_q, before_t) != (quantity, tolerance)
    if changed:
        audit.record(
            "pledge.changed",
            actor=entered_by,
            group_id=household.group_id,
            household_id=household.id,
            subject=item,
            before={"quantity": before_q, "tolerance": before_t},
            after={"quantity": quantity, "tolerance": tolerance},
        )
    db.session.flush()
    return PledgeResult(quantity=quantity, tolerance=tolerance, changed=changed)
