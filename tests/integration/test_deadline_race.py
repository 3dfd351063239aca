"""Nothing changes after a round's deadline, even by a millisecond (PostgreSQL, threads).

A pledge that waited for the round's lock while the deadline passed was judged by
the time its request started, so it was written after the deadline. It is now
judged again once the lock is held.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, Household, PledgeLine, RoundItem, User, utcnow
from bulkbuy.services import pledges
from tests import factories
from tests.conftest import make_app

pytestmark = pytest.mark.postgres_only

HELD_PAST_DEADLINE = 0.3


@pytest.fixture
def pg_app(postgresql_url):
    app = make_app(postgresql_url, SQLALCHEMY_ENGINE_OPTIONS={
        "pool_size": 5, "connect_args": {"options": "-c lock_timeout=20s"}})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_pledge_that_waited_for_the_lock_past_the_deadline_is_refused(pg_app):
    with pg_app.app_context():
        w = factories.world(closes_in=timedelta(seconds=3))
        round_id, deadline = w.round.id, w.round.closes_at
        item_id, household_id, user_id = (w.round.items[0].id, w.households[0].id,
                                          w.residents[0].id)
        db.session.remove()
    holding = threading.Event()
    failures: list[BaseException] = []

    def hold_the_round_past_its_deadline() -> None:
        with pg_app.app_context():
            try:
                pledges.lock_open_round(round_id, utcnow())  # a pledge or a close, say
                holding.set()
                time.sleep(max(0.0, (deadline - utcnow()).total_seconds()) + HELD_PAST_DEADLINE)
                db.session.commit()
            except BaseException as error:
                failures.append(error)
                holding.set()
            finally:
                db.session.remove()

    holder = threading.Thread(target=hold_the_round_past_its_deadline)
    holder.start()
    assert holding.wait(timeout=10)
    with pg_app.app_context():
        asked_at = utcnow()
        assert asked_at < deadline  # asked in time, but the lock is free only after it
        with pytest.raises(pledges.RoundNotOpenError):
            pledges.set_pledge(
                db.session.get(RoundItem, item_id), db.session.get(Household, household_id),
                2, 0, entered_by=db.session.get(User, user_id), now=asked_at, max_units=999)
        assert utcnow() > deadline
        db.session.rollback()
        holder.join(timeout=30)
        assert not holder.is_alive() and failures == []
        assert db.session.scalars(select(PledgeLine)).all() == []
        assert db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "pledge.changed")).all() == []


def test_a_pledge_that_waited_for_the_lock_within_the_deadline_is_kept(pg_app):
    with pg_app.app_context():
        w = factories.world(closes_in=timedelta(minutes=5))
        round_id = w.round.id
        item_id, household_id, user_id = (w.round.items[0].id, w.households[0].id,
                                          w.residents[0].id)
        db.session.remove()
    holding = threading.Event()

    def hold_briefly() -> None:
        with pg_app.app_context():
            pledges.lock_open_round(round_id, utcnow())
            holding.set()
            time.sleep(HELD_PAST_DEADLINE)
            db.session.commit()
            db.session.remove()

    holder = threading.Thread(target=hold_briefly)
    holder.start()
    assert holding.wait(timeout=10)
    with pg_app.app_context():
        pledges.set_pledge(
            db.session.get(RoundItem, item_id), db.session.get(Household, household_id),
            2, 0, entered_by=db.session.get(User, user_id), now=utcnow(), max_units=999)
        db.session.commit()
        holder.join(timeout=30)
        assert [line.quantity for line in db.session.scalars(select(PledgeLine))] == [2]
