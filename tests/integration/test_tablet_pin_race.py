"""The tablet's PIN lockout holds against many guesses sent at once (PostgreSQL, real
threads, each request in its own session and transaction, as under a real server):
at most five wrong PINs are checked before the PIN locks (or before the right one,
which starts the count again), whatever order the tries arrive in.

Before, the lock was read from a row loaded before the slow PIN check, so 25 tries
sent together with the same tablet cookies had 15-19 PINs checked in one burst, and
the right one among them started a turn.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, Household, TabletVisit
from bulkbuy.services import accounts
from tests import factories
from tests.conftest import make_app
from tests.integration.test_tablet import PINS, with_pins

pytestmark = pytest.mark.postgres_only

TRIES = 25
#: A real hash takes about 30 ms; the tests hash once per PIN (tests/conftest.py), so
#: each check is made slow again here to give the tries time to overlap.
CHECK_SECONDS = 0.05


@pytest.fixture
def pg_app(postgresql_url):
    app = make_app(postgresql_url, SQLALCHEMY_ENGINE_OPTIONS={
        "pool_size": TRIES + 5, "max_overflow": 0,
        "connect_args": {"options": "-c lock_timeout=20s"}})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("right_at", [0, 12, 24])  # which try carries the right PIN
def test_at_most_five_pins_are_checked_however_many_tries_arrive_at_once(
        pg_app, monkeypatch, right_at):
    checked: list[str] = []
    real_check = accounts.check_secret

    def slow_counted_check(secret_hash, secret):
        checked.append(secret)
        time.sleep(CHECK_SECONDS)
        return real_check(secret_hash, secret)

    with pg_app.app_context():
        w = with_pins(factories.world())
        home_id = w.households[0].id
        worker = pg_app.test_client()
        worker.post("/login", data={"email": w.worker.email, "password": factories.PASSWORD})
        assert worker.post("/tablet/start",
                           data={"group_id": str(w.group.id)}).status_code == 303
        cookies = {c.key: c.value for c in worker._cookies.values()}
        db.session.remove()
    # Counted from here: the worker's own password check above is not a PIN.
    monkeypatch.setattr(accounts, "check_secret", slow_counted_check)

    pins = [f"{n:04d}" for n in range(TRIES)]
    pins[right_at] = PINS[0]
    assert pins.count(PINS[0]) == 1
    start = threading.Barrier(TRIES)
    answers: list[int] = []

    def try_pin(pin: str) -> None:
        client = pg_app.test_client()
        for key, value in cookies.items():
            client.set_cookie(key, value)
        start.wait(timeout=30)
        answers.append(client.post("/tablet/pin", data={"household_id": str(home_id),
                                                        "pin": pin}).status_code)

    threads = [threading.Thread(target=try_pin, args=(pin,)) for pin in pins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a try hung"
    assert len(answers) == TRIES and set(answers) <= {303, 400}

    with pg_app.app_context():
        home = db.session.get(Household, home_id)
        visits = db.session.scalars(select(TabletVisit)).all()
        wrong_logged = db.session.scalars(select(AuditEntry).where(
            AuditEntry.action.in_(["pin.failed", "pin.locked"]))).all()
        wrong_checked = [pin for pin in checked if pin != PINS[0]]
        assert len(wrong_logged) == len(wrong_checked)
        if PINS[0] in checked:
            # The right PIN was among the first five tries (the checks run one after
            # another, each holding the row): its turn began. A right PIN starts the
            # count again, as it always has, so at most five wrong ones follow it.
            right_at = checked.index(PINS[0])
            assert right_at < 5, checked
            assert len(checked) - right_at - 1 <= 5, checked
            assert [v.household_id for v in visits] == [home_id]
        else:  # five wrong ones came first: locked, and the right one refused unchecked
            assert visits == [] and len(checked) == 5
            assert home.pin_locked_until is not None
        assert answers.count(303) == len(visits)
