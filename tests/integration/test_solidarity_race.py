"""Two rounds of one group closing at the same moment never spend the same pot twice
(PostgreSQL, real threads, each close in its own session and transaction).

Each close locks the group's row before it reads the pot's balance, so the second waits
and then sees what the first spent. Without the lock both would read £3 and pay £3,
leaving the pot at −£3.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import SolidarityEntry, Statement
from bulkbuy.services import closing, rounds, solidarity
from tests import factories
from tests.conftest import make_app
from tests.integration.helpers.closing_checks import pledge

pytestmark = pytest.mark.postgres_only

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
AFTER = T0 + timedelta(days=3, minutes=1)
#: Reading the balance is made slow so both closes are surely between read and write.
READ_SECONDS = 0.3


@pytest.fixture
def pg_app(postgresql_url):
    app = make_app(postgresql_url, SQLALCHEMY_ENGINE_OPTIONS={
        "pool_size": 4, "max_overflow": 0,
        "connect_args": {"options": "-c lock_timeout=20s"}})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_two_closes_at_once_never_take_the_pot_below_zero(pg_app, monkeypatch):
    with pg_app.app_context():
        w = factories.world(now=T0, closes_in=timedelta(days=3))
        second = rounds.create_round(
            w.group, w.supplier, w.products,
            rounds.RoundDetails(title="Second round", closes_at=T0 + timedelta(days=3)),
            created_by=w.organiser, now=T0)
        rounds.open_round(second, actor=w.organiser, now=T0)
        for rnd in (w.round, second):
            rnd.delivery_fee_pence = 300
        db.session.commit()
        pledge(w, 0, "Tinned tomatoes", 12, now=T0)
        pledge(w, 1, "Tinned tomatoes", 12, now=T0, rnd=second)
        solidarity.record_donation(w.group, 300, "Gift", actor=w.organiser, now=T0)
        for household in w.households:
            solidarity.set_supported(w.group, household, True, actor=w.organiser, now=T0)
        db.session.commit()
        group_id, round_ids = w.group.id, [w.round.id, second.id]
        db.session.remove()

    real_balance = solidarity.balance

    def slow_balance(group_id: int) -> int:
        held = real_balance(group_id)
        time.sleep(READ_SECONDS)
        return held

    monkeypatch.setattr(solidarity, "balance", slow_balance)
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def close(round_id: int) -> None:
        with pg_app.app_context():
            try:
                start.wait(timeout=30)
                closing.close_round(round_id, AFTER)
                db.session.commit()
            except BaseException as error:
                failures.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=close, args=(round_id,)) for round_id in round_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a close hung"
    assert failures == []

    with pg_app.app_context():
        helps = sorted(db.session.scalars(
            select(Statement.pot_pence).where(Statement.round_id.in_(round_ids))))
        assert helps == [0, 300]  # one fee paid whole; nothing left for the other
        assert real_balance(group_id) == 0
        assert sorted(db.session.scalars(select(SolidarityEntry.amount_pence))) == [-300, 300]
