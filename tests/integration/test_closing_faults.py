"""Closing under faults: a process killed mid-close, two schedulers racing on one
PostgreSQL database, and a scheduler that was down past several deadlines.

Real processes, real signals, no mocks of the database. Every subprocess is killed
in a `finally`, and every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bulkbuy import sweeps
from bulkbuy.extensions import db
from bulkbuy.models import (
    AuditEntry,
    OutboxMessage,
    PledgeLine,
    Round,
    RoundItem,
    Statement,
    StatementLine,
    utcnow,
)
from bulkbuy.services import closing, rounds
from tests import factories
from tests.conftest import make_app
from tests.integration.helpers.closing_checks import (
    assert_statements_consistent,
    closed_audits,
    count_rows,
    pledge,
)

ROOT = Path(__file__).resolve().parents[2]
HANG_HELPER = Path(__file__).resolve().parent / "helpers" / "hang_mid_close.py"
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)



def stop(process: subprocess.Popen) -> None:
    """Kill a process this test started (by its pid) and reap it."""
    if process.poll() is None:
        process.kill()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not ignorable
        pass


def wait_for(condition, timeout: float, what: str, *, poll: float = 0.1, alive=()) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for process in alive:
            assert process.poll() is None, f"a subprocess exited early while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(poll)


def add_round(w: factories.World, title: str, *, opened_at: datetime, closes_at: datetime,
              pledges: list[tuple[int, str, int, int]]) -> Round:
    """A round of the world's products, opened at `opened_at`, with pledges made then."""
    rnd = rounds.create_round(
        w.group, w.supplier, w.products,
        rounds.RoundDetails(title=title, closes_at=closes_at, delivery_fee_pence=499),
        created_by=w.organiser, now=opened_at,
    )
    rounds.open_round(rnd, actor=w.organiser, now=opened_at)
    db.session.commit()
    for who, item_name, quantity, tolerance in pledges:
        pledge(w, who, item_name, quantity, tolerance, now=opened_at, rnd=rnd)
    return rnd


PLEDGES = [(0, "Tinned tomatoes", 7, 2), (1, "Tinned tomatoes", 4, 0), (1, "Rice", 20, 0),
           (2, "Rice", 4, 3)]


# --- (a) killed in the middle of a close ---------------------------------------------------


def test_a_close_killed_before_its_commit_leaves_the_round_open_and_the_next_close_is_whole(
    app, db_url, tmp_path
):
    w = factories.world(residents=3, now=T0, closes_in=timedelta(days=3))
    w.round.delivery_fee_pence = 650
    db.session.commit()
    for who, item_name, quantity, tolerance in PLEDGES:
        pledge(w, who, item_name, quantity, tolerance, now=T0)
    round_id = w.round.id
    version = db.session.get(Round, round_id).pledge_version
    after = T0 + timedelta(days=3, minutes=1)
    db.session.remove()  # hold no connection or lock while the other process closes

    ready = tmp_path / "ready"
    process = subprocess.Popen(
        [sys.executable, str(HANG_HELPER), db_url, str(round_id), after.isoformat(), str(ready)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        try:
            wait_for(ready.exists, 30, "the close to write its statements", alive=[process])
        except AssertionError:
            stop(process)
            _, err = process.communicate(timeout=10)
            raise AssertionError(err.decode(errors="replace")) from None
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        stop(process)
        process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL
    written_statements, written_lines, backend = map(int, ready.read_text().split())
    assert (written_statements, written_lines) == (3, 4)  # it had written them all, unflushed

    if backend:  # PostgreSQL: the server ends the dead client's session and rolls it back
        wait_for(
            lambda: not db.session.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": backend}
            ) or db.session.rollback(),
            10, "PostgreSQL to end the killed process's session",
        )
        db.session.rollback()

    db.session.expire_all()
    rnd = db.session.get(Round, round_id)
    assert (rnd.status, rnd.closed_at, rnd.goods_total_pence) == ("open", None, None)
    assert rnd.pledge_version == version
    assert [i.cases_ordered for i in rnd.items] == [None, None]
    assert count_rows(Statement) == 0
    assert count_rows(StatementLine) == 0
    assert count_rows(OutboxMessage) == 0
    assert closed_audits(round_id) == 0

    result = closing.close_round(round_id, after)
    db.session.commit()
    assert result is not None and result.status == "closed"
    assert closing.close_round(round_id, after) is None
    db.session.commit()
    assert count_rows(Statement) == written_statements
    assert count_rows(StatementLine) == written_lines
    assert closed_audits(round_id) == 1
    assert_statements_consistent(round_id)


# --- (b) two scheduler processes on one PostgreSQL database --------------------------------


@pytest.fixture
def pg_app(postgresql_url):
    app = make_app(postgresql_url)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def start_scheduler(url: str, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "FLASK_"))}
    env.update(DATABASE_URL=url, SECRET_KEY="two-schedulers-test", SWEEP_SECONDS="1",
               PYTHONUNBUFFERED="1")
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "bulkbuy", "scheduler"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )


@pytest.mark.postgres_only
def test_two_scheduler_processes_close_every_round_exactly_once(pg_app, postgresql_url, tmp_path):
    started = utcnow()
    w = factories.world(residents=3, open_round=False, now=started - timedelta(days=1))
    past = [
        add_round(w, f"Past {n}", opened_at=started - timedelta(days=1),
                  closes_at=started - timedelta(minutes=n + 1), pledges=PLEDGES[n % 3:])
        for n in range(12)
    ]
    soon_at = utcnow()
    future = [
        add_round(w, f"Soon {n}", opened_at=soon_at,
                  closes_at=soon_at + timedelta(seconds=3 + n), pledges=PLEDGES[n:])
        for n in range(3)
    ]
    round_ids = [r.id for r in past + future]
    db.session.remove()

    logs = [tmp_path / "scheduler-a.log", tmp_path / "scheduler-b.log"]
    processes = []
    try:
        processes = [start_scheduler(postgresql_url, log) for log in logs]

        def all_closed() -> bool:
            still_open = db.session.scalar(
                select(func.count()).select_from(Round)
                .where(Round.id.in_(round_ids), Round.status == "open"))
            db.session.rollback()
            return still_open == 0

        wait_for(all_closed, 60, "both schedulers to close every round", poll=0.25,
                 alive=processes)
        time.sleep(2.5)  # a couple more sweeps each: a second close would show now
        assert all(p.poll() is None for p in processes), "a scheduler exited"
    finally:
        for process in processes:
            stop(process)
    output = [log.read_text(errors="replace") for log in logs]
    for text_ in output:
        assert "scheduler running" in text_
        assert "Traceback" not in text_, text_
        assert "failed" not in text_, text_

    db.session.expire_all()
    for rnd in db.session.scalars(select(Round).where(Round.id.in_(round_ids))):
        assert rnd.status == "closed", rnd.title
        assert closed_audits(rnd.id) == 1, rnd.title
        assert rnd.closed_at >= rnd.closes_at
        assert_statements_consistent(rnd.id)
    for rnd in future:
        closed = db.session.get(Round, rnd.id)
        assert closed.closed_at - closed.closes_at < timedelta(seconds=60)
    doubled = db.session.execute(
        select(Statement.round_id, Statement.household_id)
        .group_by(Statement.round_id, Statement.household_id)
        .having(func.count() > 1)
    ).all()
    assert doubled == []
    expected = sum(len({who for who, *_ in PLEDGES[n % 3:]}) for n in range(12)) + sum(
        len({who for who, *_ in PLEDGES[n:]}) for n in range(3))
    assert count_rows(Statement) == expected
    # Each result e-mail was queued once (the outbox key is unique) and none failed.
    assert count_rows(OutboxMessage, OutboxMessage.last_error.is_not(None)) == 0


# --- (c) the scheduler was down past several deadlines -------------------------------------


def test_one_late_sweep_closes_every_missed_round_once_and_the_next_closes_nothing(app):
    w = factories.world(residents=3, open_round=False, now=T0)
    missed = [
        add_round(w, f"Missed {n}", opened_at=T0, closes_at=T0 + timedelta(hours=4 - n),
                  pledges=PLEDGES[n % 2:])
        for n in range(4)
    ]
    not_yet = add_round(w, "Not yet", opened_at=T0, closes_at=T0 + timedelta(hours=10),
                        pledges=PLEDGES)
    back_up = T0 + timedelta(hours=5)

    first = sweeps.sweep_rounds(back_up)

    # Oldest deadline first; each closed at the time of the sweep that closed it.
    assert [c.round_id for c in first.closed] == [r.id for r in reversed(missed)]
    assert {c.status for c in first.closed} == {"closed"}
    db.session.expire_all()
    for rnd in missed:
        assert db.session.get(Round, rnd.id).closed_at == back_up
        assert closed_audits(rnd.id) == 1
        assert_statements_consistent(rnd.id)
    assert db.session.get(Round, not_yet.id).status == "open"
    statements = count_rows(Statement)
    messages = count_rows(OutboxMessage)

    second = sweeps.sweep_rounds(back_up + timedelta(seconds=20))

    assert (second.opened, second.closed) == (0, [])
    assert count_rows(Statement) == statements
    assert count_rows(OutboxMessage) == messages
    assert count_rows(AuditEntry, AuditEntry.action == "round.closed") == len(missed)
    assert db.session.scalar(
        select(func.count()).select_from(RoundItem).where(RoundItem.cases_ordered.is_(None))
    ) == len(w.products)  # only the round still open has no cases yet
    made = sum(len(PLEDGES[n % 2:]) for n in range(4)) + len(PLEDGES)
    assert count_rows(PledgeLine) == made  # nothing touched the pledges
