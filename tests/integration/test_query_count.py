"""The resident's pages cost a fixed number of SQL statements, however many pledges there are.

Counted with SQLAlchemy's `before_cursor_execute` event on the app's engine,
for a signed-in resident, with 10 pledges in the round and again with 2,000.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import event, func, insert, select

from bulkbuy import web
from bulkbuy.extensions import db
from bulkbuy.models import Household, PledgeLine, utcnow
from bulkbuy.services import pledges
from tests import factories

MAX_ROUND_PAGE_STATEMENTS = 8
#: My orders reads one more: the household's money kept for its next order (#14); and one
#: more, the group's next drop-in times (#16); and one more, the totals of the groups'
#: solidarity pots, one query for all of them (#17); and, with nothing kept, one more: the
#: products' own pledge versions are read before the lines of those not kept (#18).
MAX_MY_ORDERS_STATEMENTS = 12


@contextmanager
def counted_statements():
    """Collect every SQL statement the app's engine sends while the block runs."""
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


@dataclass(frozen=True)
class Setup:
    """Ids only: the objects behind them are detached when a request starts afresh."""

    group_id: int
    round_id: int
    item_ids: tuple[int, ...]
    organiser_id: int


def add_pledges(w: Setup, lines: int) -> None:
    """Add `lines` pledge lines, each from a new household, spread over the round's products.

    One bulk INSERT for the households and one for their pledge lines, with
    queue positions after every one handed out so far.
    """
    already = db.session.scalar(select(func.count()).select_from(Household))
    homes = db.session.scalars(
        insert(Household).returning(Household.id, sort_by_parameter_order=True),
        [
            {"group_id": w.group_id, "label": f"Bulk flat {already + n}", "is_assisted": True}
            for n in range(lines)
        ],
    ).all()
    start = (db.session.scalar(select(func.max(PledgeLine.queue_pos))) or 0) + 1
    now = utcnow()
    db.session.execute(
        insert(PledgeLine),
        [
            {
                "round_id": w.round_id,
                "round_item_id": w.item_ids[n % len(w.item_ids)],
                "household_id": home_id,
                "queue_pos": start + n,
                "quantity": 1 + n % 5,
                "tolerance": n % 3,
                "created_at": now,
                "entered_by_id": w.organiser_id,
            }
            for n, home_id in enumerate(homes)
        ],
    )
    if db.engine.dialect.name == "postgresql":
        # Later set_pledge calls must not be handed a position taken here.
        db.session.execute(select(func.setval("pledge_queue_seq", start + len(homes))))
    db.session.commit()


def pledge_count() -> int:
    return db.session.scalar(select(func.count()).select_from(PledgeLine))


def statements_for(client, path: str) -> tuple[list[str], str]:
    """Statements for one GET of `path`, as a real request would run it.

    The request runs in a thread of its own, so it gets a fresh app context:
    no user cached on `g` and an empty session, as under a real server (in
    this thread it would share the test's app context and its cache).
    """
    db.session.remove()
    web.clear_caches()  # count the page as rendered, not a cached copy
    responses = []
    with counted_statements() as statements:
        worker = threading.Thread(target=lambda: responses.append(client.get(path)))
        worker.start()
        worker.join(timeout=60)
    assert [r.status_code for r in responses] == [200]
    return statements, responses[0].get_data(as_text=True)


def resident_world(auth) -> Setup:
    """A round of two products, the signed-in resident r1 already pledging for one."""
    w = factories.world(residents=2)
    item = w.round.items[0]
    pledges.set_pledge(
        item, w.households[0], 3, 1, entered_by=w.residents[0], now=utcnow(), max_units=999
    )
    db.session.commit()
    setup = Setup(w.group.id, w.round.id, tuple(i.id for i in w.round.items), w.organiser.id)
    assert auth.login("r1@oak.test").status_code == 302
    return setup


def test_round_page_statements_do_not_grow_with_pledges(client, auth):
    w = resident_world(auth)
    path = f"/rounds/{w.round_id}"

    add_pledges(w, 9)  # with r1's own: 10 pledge lines
    assert pledge_count() == 10
    few, _ = statements_for(client, path)

    add_pledges(w, 1_990)
    assert pledge_count() == 2_000
    many, page = statements_for(client, path)

    assert len(few) <= MAX_ROUND_PAGE_STATEMENTS, "\n".join(few)
    assert len(many) == len(few), "\n---\n".join(many)
    assert f'id="quantity-{w.item_ids[0]}" name="quantity" value="3"' in page  # r1's own pledge


def test_my_orders_statements_do_not_grow_with_pledges(client, auth):
    """The statement count is fixed, but note: with nothing kept, one of them reads every
    pledge line of each open round in the resident's groups (the allocation needs the
    whole queue), so the rows fetched, and the time, grow with the number of pledges; once
    kept, a pledge makes only its product's lines be read again
    (test_my_orders_in_proportion)."""
    w = resident_world(auth)

    add_pledges(w, 9)
    assert pledge_count() == 10
    few, _ = statements_for(client, "/my-orders")

    add_pledges(w, 1_990)
    assert pledge_count() == 2_000
    many, page = statements_for(client, "/my-orders")

    assert len(many) == len(few), "\n---\n".join(many)
    assert len(few) <= MAX_MY_ORDERS_STATEMENTS, "\n".join(few)
    assert "3 (+1 to fill a case)" in page  # r1's own pledge, among 2,000
