"""Two organisers lowering each other at the same moment leave one organiser
(PostgreSQL, real threads, each request in its own session and transaction).

Each change locks the group's row before it counts the organisers, so the second one
waits and then sees the first: it is refused. Without the lock both would count two
organisers and the group would be left with none.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from bulkbuy.extensions import db
from bulkbuy.models import Membership
from bulkbuy.services import staff
from tests import factories
from tests.conftest import make_app

pytestmark = pytest.mark.postgres_only

#: Counting is made slow so both requests are surely between their count and their write.
COUNT_SECONDS = 0.3


@pytest.fixture
def pg_app(postgresql_url):
    app = make_app(postgresql_url, SQLALCHEMY_ENGINE_OPTIONS={
        "pool_size": 6, "max_overflow": 0,
        "connect_args": {"options": "-c lock_timeout=20s"}})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("action", ["role", "remove"])
def test_two_organisers_lowering_each_other_at_once_leave_one(pg_app, monkeypatch, action):
    real_count = staff._organisers

    def slow_count(group):
        counted = real_count(group)
        time.sleep(COUNT_SECONDS)
        return counted

    monkeypatch.setattr(staff, "_organisers", slow_count)
    with pg_app.app_context():
        w = factories.world(open_round=False)
        second = db.session.scalar(select(Membership).where(
            Membership.user_id == w.worker.id, Membership.group_id == w.group.id))
        second.role = "organiser"
        first = db.session.scalar(select(Membership).where(
            Membership.user_id == w.organiser.id, Membership.group_id == w.group.id))
        db.session.commit()
        group_id, ids = w.group.id, {"org@oak.test": second.id, "worker@oak.test": first.id}
        db.session.remove()

    clients = {}
    for email in ids:
        client = pg_app.test_client()
        client.post("/login", data={"email": email, "password": factories.PASSWORD})
        clients[email] = client
    start = threading.Barrier(2)
    answers: list[int] = []

    def lower_the_other(email: str) -> None:
        url = f"/organise/{group_id}/staff/{ids[email]}/{action}"
        start.wait(timeout=30)
        answers.append(clients[email].post(url, data={"role": "worker"}).status_code)

    threads = [threading.Thread(target=lower_the_other, args=(email,)) for email in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a request hung"

    assert sorted(answers) == [303, 400], answers
    with pg_app.app_context():
        organisers = db.session.scalar(select(func.count(Membership.id)).where(
            Membership.group_id == group_id, Membership.role == "organiser"))
        assert organisers == 1
