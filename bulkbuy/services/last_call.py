"""Last call to fill a box: a day before a round closes, a product whose last case is one
or two units short is called out once, to the households that ordered it or said they
would take more, in each household's language; and it is listed on the tablet.

"Once" is the unique round item of `last_calls`: the row is inserted with ON CONFLICT DO
NOTHING, and only the sweep whose insert made the row queues the e-mails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import flask_babel
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bulkbuy.domain.allocation import cases_to_order
from bulkbuy.domain.statuses import RoundStatus
from bulkbuy.extensions import db
from bulkbuy.models import LastCall, PledgeLine, Round, RoundItem
from bulkbuy.services import emails, notifications

#: How long before the deadline a round's boxes are called out.
CALL_BEFORE = timedelta(hours=24)
#: Boxes this many units short (or fewer) get a last call.
MOST_SHORT = 2


def units_short(case_size: int, quantity: int, tolerance: int,
                max_cases: int | None = None) -> int:
    """Units the last case still needs to be ordered: 0 when no case is started, when the
    started one is already filled (by orders, or by what households said they would take
    more) or when the product's most cases are reached.

    >>> units_short(12, 22, 0), units_short(12, 22, 1), units_short(12, 24, 0)
    (2, 1, 0)
    """
    full, started = divmod(quantity, case_size)
    if started == 0 or cases_to_order(case_size, quantity, tolerance) > full:
        return 0
    if max_cases is not None and full >= max_cases:
        return 0
    return case_size - started - tolerance


def saving_per_unit(item: RoundItem) -> int:
    """What each unit saves when its box fills: the shop price less the unit's share of
    the case price (to the nearest penny, half up); 0 without a shop price or when the
    shop is cheaper."""
    if item.retail_price_pence is None:
        return 0
    size = max(item.case_size, 1)
    each = (2 * item.case_price_pence + size) // (2 * size)
    return max(0, item.retail_price_pence - each)


def _insert(values: dict):
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    return insert(LastCall).values(**values).on_conflict_do_nothing(
        index_elements=[LastCall.round_item_id])


def due_round_ids(now: datetime) -> list[int]:
    """Open rounds closing within CALL_BEFORE."""
    return list(db.session.scalars(
        select(Round.id).where(Round.status == RoundStatus.OPEN, Round.closes_at > now,
                               Round.closes_at <= now + CALL_BEFORE)
        .order_by(Round.closes_at, Round.id)
    ))


def call_round(round_id: int, now: datetime) -> list[LastCall]:
    """Make the round's last calls not yet made, and queue their e-mails; returns the
    ones made now. The caller commits (a sweep: one unit of work per round)."""
    rnd = db.session.get(Round, round_id)
    if rnd is None or rnd.status != RoundStatus.OPEN or not now < rnd.closes_at <= (
            now + CALL_BEFORE):
        return []
    totals = {
        item_id: (quantity or 0, tolerance or 0)
        for item_id, quantity, tolerance in db.session.execute(
            select(PledgeLine.round_item_id, func.sum(PledgeLine.quantity),
                   func.sum(PledgeLine.tolerance))
            .where(PledgeLine.round_id == rnd.id)
            .group_by(PledgeLine.round_item_id)
        )
    }
    made = []
    for item in rnd.items:
        quantity, tolerance = totals.get(item.id, (0, 0))
        short = units_short(item.case_size, quantity, tolerance, item.max_cases)
        if not 1 <= short <= MOST_SHORT:
            continue
        made_id = db.session.scalar(_insert({
            "round_id": rnd.id, "round_item_id": item.id, "units_short": short,
            "saving_per_unit_pence": saving_per_unit(item), "created_at": now,
        }).returning(LastCall.id))
        if made_id is None:
            continue  # called already (or by a sweep running at the same moment)
        call = db.session.get(LastCall, made_id)
        _queue_emails(rnd, item, call, now)
        made.append(call)
    return made


def _round_url(rnd: Round) -> str:
    base = current_app.config.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    return f"{base}/rounds/{rnd.id}"


def _queue_emails(rnd: Round, item: RoundItem, call: LastCall, now: datetime) -> None:
    """To each person with an e-mail of the households with a line for the product (an
    order, or units they would take more), in the household's language."""
    household_ids = db.session.scalars(
        select(PledgeLine.household_id).where(PledgeLine.round_item_id == item.id,
                                              (PledgeLine.quantity > 0)
                                              | (PledgeLine.tolerance > 0))
        .distinct()
    ).all()
    letter = emails.template("last_call")
    each = (2 * item.case_price_pence + item.case_size) // (2 * max(item.case_size, 1))
    for code, people in notifications._people_by_language(household_ids).items():
        with flask_babel.force_locale(code):
            for _household_id, user in people:
                if not user.email:
                    continue
                subject, body = letter.render(
                    name=user.name, round_title=rnd.title, product=item.name,
                    unit=item.unit_description, short=call.units_short,
                    saving_pence=call.saving_per_unit_pence, each_pence=each,
                    shop_pence=item.retail_price_pence, closes_at=rnd.closes_at,
                    timezone=rnd.group.timezone, url=_round_url(rnd))
                notifications._queue(f"last-call:{item.id}:{user.id}", user.email, subject,
                                     body, now)


def queue_last_calls(now: datetime) -> int:
    """Every due round's last calls (see `call_round`), all in the caller's transaction.
    Returns how many were made."""
    return sum(len(call_round(round_id, now)) for round_id in due_round_ids(now))


@dataclass(frozen=True)
class OpenLastCall:
    """A box still short, as the tablet lists it."""

    round_title: str
    product: str
    unit: str
    units_short: int
    saving_per_unit_pence: int
    closes_at: datetime


def open_last_calls(group_id: int, now: datetime) -> list[OpenLastCall]:
    """The group's last calls in rounds still open, soonest closing first (one query).
    `units_short` is as it was when called out."""
    rows = db.session.execute(
        select(LastCall, RoundItem, Round)
        .join(RoundItem, RoundItem.id == LastCall.round_item_id)
        .join(Round, Round.id == LastCall.round_id)
        .where(Round.group_id == group_id, Round.status == RoundStatus.OPEN,
               Round.closes_at > now)
        .order_by(Round.closes_at, RoundItem.name)
    ).all()
    return [OpenLastCall(round_title=rnd.title, product=item.name,
                         unit=item.unit_description, units_short=call.units_short,
                         saving_per_unit_pence=call.saving_per_unit_pence,
                         closes_at=rnd.closes_at)
            for call, item, rnd in rows]
