"""Pledges under real concurrency: real threads, each with its own session, on PostgreSQL.

set_pledge serialises pledge changes to a round on the round row (a guarded
UPDATE) and hands out queue positions from a sequence while holding it. These
tests race it against itself and against a close, with no mocks.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select, text

from bulkbuy.extensions import db
from bulkbuy.models import Household, PledgeLine, Round, RoundItem, User, utcnow
from bulkbuy.services import pledges
from tests import factories
from tests.conftest import make_app

pytestmark = pytest.mark.postgres_only

THREADS = 20
JOIN_TIMEOUT = 60


@pytest.fixture
def pg_app(postgresql_url):
    app = make_app(
        postgresql_url,
        SQLALCHEMY_ENGINE_OPTIONS={
            "pool_pre_ping": True,
            "pool_size": THREADS + 5,  # every thread holds a connection while it waits
            "max_overflow": 0,
            # A lock bug should fail the test, not hang it.
            "connect_args": {"options": "-c lock_timeout=20s"},
        },
    )
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@dataclass(frozen=True)
class Setup:
    round_id: int
    item_id: int
    organiser_id: int
    household_ids: list[int]


def make_round(app, households: int) -> Setup:
    """A group with one product in an open round and `households` extra households."""
    with app.app_context():
        w = factories.world(residents=0, products=(("Rice", 25, 3150),))
        homes = [Household(group_id=w.group.id, label=f"Flat {n}") for n in range(households)]
        db.session.add_all(homes)
        db.session.commit()
        setup = Setup(w.round.id, w.round.items[0].id, w.organiser.id, [h.id for h in homes])
        db.session.remove()
        return setup


def run_threads(targets) -> None:
    """Start one thread per callable, wait for all, and fail if one hangs."""
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"


def lines_of(round_id: int) -> list[PledgeLine]:
    return db.session.scalars(
        select(PledgeLine).where(PledgeLine.round_id == round_id).order_by(PledgeLine.queue_pos)
    ).all()


@dataclass(frozen=True)
class Raise:
    household_id: int
    delta: int
    #: The round's pledge_version seen while holding the round lock: the order raises took.
    version: int


def test_twenty_simultaneous_raises_lose_nothing_and_queue_in_lock_order(pg_app):
    s = make_round(pg_app, households=14)
    single = s.household_ids[:12]  # raise once each
    repeat_a, repeat_b = s.household_ids[12:]  # raise four times each, at the same time
    plan = [(h, 1 + n % 3) for n, h in enumerate(single)]
    plan += [(repeat_a, d) for d in (1, 2, 3, 4)] + [(repeat_b, d) for d in (5, 6, 7, 8)]
    assert len(plan) == THREADS

    with pg_app.app_context():  # household A already has an earlier pledge
        pledges.set_pledge(
            db.session.get(RoundItem, s.item_id), db.session.get(Household, repeat_a), 10, 0,
            entered_by=db.session.get(User, s.organiser_id), now=utcnow(), max_units=999,
        )
        db.session.commit()
        earlier = lines_of(s.round_id)
        version_before = db.session.get(Round, s.round_id).pledge_version
        db.session.remove()

    barrier = threading.Barrier(THREADS)
    done: list[Raise] = []
    failures: list[BaseException] = []

    def raise_pledge(household_id: int, delta: int) -> None:
        with pg_app.app_context():
            try:
                item = db.session.get(RoundItem, s.item_id)
                household = db.session.get(Household, household_id)
                by = db.session.get(User, s.organiser_id)
                barrier.wait(timeout=30)
                now = utcnow()
                # set_pledge sets an absolute quantity; to raise by `delta` the current
                # pledge is read under the round lock, which set_pledge then takes again
                # (harmless within one transaction).
                pledges.lock_open_round(item.round_id, now)
                have = db.session.scalar(
                    select(func.coalesce(func.sum(PledgeLine.quantity), 0)).where(
                        PledgeLine.round_item_id == item.id,
                        PledgeLine.household_id == household.id,
                    )
                )
                pledges.set_pledge(
                    item, household, have + delta, 0, entered_by=by, now=now, max_units=999
                )
                version = db.session.scalar(
                    select(Round.pledge_version).where(Round.id == item.round_id)
                )
                db.session.commit()
                done.append(Raise(household_id, delta, version))
            except BaseException as error:
                failures.append(error)
                db.session.rollback()
            finally:
                db.session.remove()

    run_threads([lambda h=h, d=d: raise_pledge(h, d) for h, d in plan])
    assert failures == []
    assert len(done) == THREADS

    with pg_app.app_context():
        lines = lines_of(s.round_id)
        new = [line for line in lines if line.id not in {e.id for e in earlier}]
        # Nothing lost: every raise is one new line with exactly its units.
        assert sum(line.quantity for line in lines) == 10 + sum(d for _, d in plan)
        assert len(new) == THREADS
        assert len({line.queue_pos for line in lines}) == len(lines)
        assert all(line.queue_pos > earlier[0].queue_pos for line in new)
        # Every raise took the round lock (set_pledge once, the read-then-raise once),
        # one after another: each saw a different version.
        assert db.session.get(Round, s.round_id).pledge_version == version_before + 2 * THREADS
        assert len({r.version for r in done}) == THREADS
        # The queue is the order in which raises held the lock ...
        in_lock_order = [(r.household_id, r.delta) for r in sorted(done, key=lambda r: r.version)]
        assert [(line.household_id, line.quantity) for line in new] == in_lock_order
        # ... so each household's lines are in the order of its raises.
        for household_id in (repeat_a, repeat_b, *single):
            own = [line for line in new if line.household_id == household_id]
            raises = sorted((r for r in done if r.household_id == household_id),
                            key=lambda r: r.version)
            assert [line.quantity for line in own] == [r.delta for r in raises]
            positions = [line.queue_pos for line in own]
            assert positions == sorted(positions)
        assert sum(line.quantity for line in lines if line.household_id == repeat_a) == 20
        assert sum(line.quantity for line in lines if line.household_id == repeat_b) == 26


# pg_locks is read live (pg_stat_activity is a snapshot, frozen for the transaction).
BLOCKED_BY_ME = text(
    "SELECT count(*) FROM pg_locks WHERE NOT granted"
    " AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
)


def hold_until_someone_waits(execute, timeout: float = 20) -> bool:
    """While holding a lock: wait until PostgreSQL shows another backend blocked by us."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if execute(BLOCKED_BY_ME).scalar_one():
            return True
        time.sleep(0.01)
    return False


@dataclass
class CloseSeen:
    """What the closing transaction saw while it held the round lock, and when it committed."""

    closed: int = 0
    line_ids: frozenset[int] = frozenset()
    committed_at: object = None
    made_someone_wait: bool = False


def close_round(app, round_id: int, seen: CloseSeen, *, locked=None) -> None:
    """Close the round from a connection of its own, as the close would.

    With `locked`: set it once the UPDATE holds the round row, and keep holding
    the row until another transaction is blocked on it.
    """
    with app.app_context(), db.engine.connect() as conn:
        with conn.begin():
            seen.closed = conn.execute(
                text("UPDATE rounds SET status = 'closed' WHERE id = :id AND status = 'open'"),
                {"id": round_id},
            ).rowcount
            if locked is not None:
                locked.set()
                seen.made_someone_wait = hold_until_someone_waits(conn.execute)
            seen.line_ids = frozenset(
                conn.execute(
                    text("SELECT id FROM pledge_lines WHERE round_id = :id"), {"id": round_id}
                ).scalars()
            )
        seen.committed_at = utcnow()


@dataclass
class PledgeOutcome:
    result: str = "not run"  # "committed", "refused" or the error
    made_someone_wait: bool = False


def pledge_once(app, s: Setup, household_id: int, outcome: PledgeOutcome, *,
                start=None, wait_for=None, locked=None) -> None:
    """Pledge 3 units for the household and commit, recording whether it landed.

    With `locked`: set it once set_pledge holds the round row, and keep holding
    the row until another transaction is blocked on it.
    """
    with app.app_context():
        try:
            item = db.session.get(RoundItem, s.item_id)
            household = db.session.get(Household, household_id)
            by = db.session.get(User, s.organiser_id)
            if start is not None:
                start.wait(timeout=30)
            if wait_for is not None:
                assert wait_for.wait(timeout=30)
            pledges.set_pledge(item, household, 3, 0, entered_by=by, now=utcnow(), max_units=999)
            if locked is not None:
                locked.set()
                outcome.made_someone_wait = hold_until_someone_waits(db.session.execute)
            db.session.commit()
            outcome.result = "committed"
        except pledges.RoundNotOpenError:
            db.session.rollback()
            outcome.result = "refused"
        except BaseException as error:
            db.session.rollback()
            outcome.result = repr(error)
        finally:
            db.session.remove()


def test_a_pledge_waiting_behind_a_close_is_refused(pg_app):
    s = make_round(pg_app, households=1)
    seen, outcome, close_locked = CloseSeen(), PledgeOutcome(), threading.Event()
    run_threads([
        lambda: close_round(pg_app, s.round_id, seen, locked=close_locked),
        lambda: pledge_once(pg_app, s, s.household_ids[0], outcome, wait_for=close_locked),
    ])
    assert seen.closed == 1
    assert seen.made_someone_wait  # the pledge queued on the round row behind the close
    assert outcome.result == "refused"
    with pg_app.app_context():
        assert lines_of(s.round_id) == []
        assert db.session.get(Round, s.round_id).status == "closed"


def test_a_close_waiting_behind_a_pledge_sees_it(pg_app):
    s = make_round(pg_app, households=1)
    seen, outcome, pledge_locked = CloseSeen(), PledgeOutcome(), threading.Event()

    def close_after_the_pledge_locks():
        assert pledge_locked.wait(timeout=30)
        close_round(pg_app, s.round_id, seen)

    run_threads([
        lambda: pledge_once(pg_app, s, s.household_ids[0], outcome, locked=pledge_locked),
        close_after_the_pledge_locks,
    ])
    assert outcome.made_someone_wait  # the close queued on the round row behind the pledge
    assert outcome.result == "committed"
    assert seen.closed == 1
    with pg_app.app_context():
        lines = lines_of(s.round_id)
        assert [line.quantity for line in lines] == [3]
        assert seen.line_ids == {lines[0].id}  # the close counted it
        assert lines[0].created_at <= seen.committed_at


def test_pledges_racing_a_close_land_before_it_or_are_refused(pg_app):
    trials, pledgers = 10, 4
    s = make_round(pg_app, households=trials * pledgers)
    landed = refused = 0
    for trial in range(trials):
        with pg_app.app_context():
            db.session.execute(
                text("UPDATE rounds SET status = 'open' WHERE id = :id"), {"id": s.round_id}
            )
            db.session.commit()
            db.session.remove()
        start = threading.Barrier(pledgers + 1)
        seen = CloseSeen()
        homes = s.household_ids[trial * pledgers:(trial + 1) * pledgers]
        outcomes = {h: PledgeOutcome() for h in homes}

        def close(start=start, seen=seen):
            start.wait(timeout=30)
            close_round(pg_app, s.round_id, seen)

        run_threads([close] + [
            lambda h=h, start=start, outcomes=outcomes:
                pledge_once(pg_app, s, h, outcomes[h], start=start)
            for h in homes
        ])
        assert seen.closed == 1
        assert {o.result for o in outcomes.values()} <= {"committed", "refused"}, outcomes
        with pg_app.app_context():
            lines = lines_of(s.round_id)
            # Nothing was written after the close: the close saw every line there is ...
            assert {line.id for line in lines} == seen.line_ids
            assert all(line.created_at <= seen.committed_at for line in lines)
            # ... and exactly the pledges that say they landed.
            with_lines = {line.household_id for line in lines if line.household_id in homes}
            assert with_lines == {h for h, o in outcomes.items() if o.result == "committed"}
            assert db.session.get(Round, s.round_id).status == "closed"
            db.session.remove()
        landed += len(with_lines)
        refused += pledgers - len(with_lines)
    assert landed + refused == trials * pledgers
