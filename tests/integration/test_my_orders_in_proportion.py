"""My orders costs what the household's own orders cost, not what the round costs (#18).

The page reads only the household's own pledge lines; what each open round would come to
if it closed now is worked out once per pledge_version and kept (round_view.round_likely).
Here: the page is exactly the page worked out the old way, from every line of the round
(`every_line_my_orders`, kept as the reference and as bench/my_orders.py's baseline); a
second viewer, or a second look, reads no line of anybody else; a new pledge is seen at
once.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import fields
from datetime import timedelta

import pytest
from flask import render_template
from flask_babel import gettext as _
from flask_login import login_user
from sqlalchemy import select, update

from bulkbuy import web
from bulkbuy.domain.allocation import PledgeLine as DomainLine
from bulkbuy.extensions import db
from bulkbuy.models import PledgeLine, Round, RoundItem, User, utcnow
from bulkbuy.services import credits, delivery, home, pledges, round_view, rounds
from bulkbuy.services.closing import outcome_if_closed
from bulkbuy.services.payments import saved_cards as cards
from tests import factories
from tests.integration.test_query_count import Setup, add_pledges, counted_statements

# --- the old way: every line of the round read and allocated on every view -----------------


def every_line_estimates(rounds_: list[Round], household_id: int
                         ) -> list[round_view.HouseholdEstimate]:
    """My orders' estimates as worked out before #18 (ORM objects for every product and
    every pledge line of the rounds, the whole allocation on every view)."""
    if not rounds_:
        return []
    by_id = {r.id: r for r in rounds_}
    rows = db.session.execute(
        select(RoundItem, PledgeLine)
        .outerjoin(PledgeLine, PledgeLine.round_item_id == RoundItem.id)
        .where(RoundItem.round_id.in_(by_id))
        .order_by(RoundItem.name, RoundItem.id)
    ).all()
    mine: dict[int, dict[int, tuple[int, int]]] = defaultdict(dict)
    items: dict[int, RoundItem] = {}
    lines_by_item: dict[int, list[DomainLine]] = defaultdict(list)
    totals: dict[int, tuple[int, int]] = {}
    for item, line in rows:
        items[item.id] = item
        if line is None:
            continue
        lines_by_item[item.id].append(
            DomainLine(line.household_id, line.queue_pos, line.quantity, line.tolerance))
        q, t = totals.get(item.id, (0, 0))
        totals[item.id] = (q + line.quantity, t + line.tolerance)
        if line.household_id == household_id:
            q, t = mine[line.round_id].get(item.id, (0, 0))
            mine[line.round_id][item.id] = (q + line.quantity, t + line.tolerance)
    estimates = []
    for round_id in sorted(mine, key=lambda rid: (by_id[rid].closes_at, rid)):
        rnd = by_id[round_id]
        round_items = [i for i in items.values() if i.round_id == round_id]
        outcome = outcome_if_closed(rnd, round_items, lines_by_item)
        board = round_view.household_board(rnd, mine[round_id], round_view.board_of(
            [round_view.ItemFacts(i.id, i.round_id, i.name, i.unit_description, i.case_size,
                                  i.case_price_pence) for i in round_items],
            {i.id: totals[i.id] for i in round_items if i.id in totals}))
        own_lines = sorted((
            (v.item, v.my_quantity, v.my_tolerance,
             outcome.allocations[v.item.id].units.get(household_id, 0))
            for v in board.views if v.my_quantity or v.my_tolerance),
            key=lambda line: line[0].name)
        estimates.append(round_view.HouseholdEstimate(
            round=rnd, lines=own_lines, most_pence=board.most_pence,
            likely_pence=outcome.household_total(household_id),
            short_pence=max((rnd.min_order_pence or 0) - outcome.goods_total, 0)))
    return estimates


def every_line_my_orders(user: User, config: Mapping) -> home.MyOrders:
    """home.my_orders as it was before #18: the reference, and the benchmark's baseline."""
    memberships = [m for m in home.memberships_of(user.id) if m.household_id is not None]
    estimates: list[round_view.HouseholdEstimate] = []
    for member in memberships:
        open_rounds = db.session.scalars(
            select(Round).where(Round.group_id == member.group_id, Round.status == "open")
        ).all()
        estimates += every_line_estimates(list(open_rounds), member.household_id)
    household_of = {m.group_id: m.household_id for m in memberships}
    helpers: dict[tuple[int, int], list[str]] = {}
    for member in memberships:
        helpers.update({(member.household_id, item_id): names for item_id, names in
                        round_view.entered_by_helpers(
                            member.household_id,
                            [e.round.id for e in estimates
                             if e.round.group_id == member.group_id]).items()})
    choices = {e.round.id: cards.card_choice(config, e.round, household_of[e.round.group_id])
               for e in estimates}
    helper_changes = [change for member in memberships
                      for change in round_view.helper_changes(member.household_id)]
    to_pay, closed = home.closed_statements([m.household_id for m in memberships])
    return home.MyOrders(
        estimates=estimates, choices=choices, helpers=helpers, household_of=household_of,
        helper_changes=helper_changes, pin_groups=[m.group for m in memberships],
        to_pay=to_pay, closed=closed,
        changes=delivery.changes_by_statement([st.id for st in closed]),
        credit=credits.balances(m.household_id for m in memberships),
        savings={},  # no closed rounds in these worlds: nothing saved to show
    )


_CSRF = re.compile(r'(name="csrf_token" value=")[^"]*(")')


def rendered(app, user: User, orders: home.MyOrders) -> str:
    """The My orders page for `orders`, as resident.my_orders renders it."""
    with app.test_request_context("/my-orders"):
        login_user(user)
        html = render_template("resident/my_orders.html",
                               **{f.name: getattr(orders, f.name) for f in fields(orders)},
                               title=_("My orders"))
    return _CSRF.sub(r"\1TOKEN\2", html)


# --- worlds ---------------------------------------------------------------------------------


def _busy_world(mode: str, min_order: int | None):
    """Two open rounds of three products; four households pledging (some with tolerance,
    some entered by the worker at the drop-in); r1 (Flat 1) in both rounds."""
    w = factories.world(residents=4, products=(("Tinned tomatoes", 12, 1000), ("Rice", 25, 3150),
                                               ("Oats", 6, 900)))
    now = utcnow()
    second = rounds.create_round(
        w.group, w.supplier, w.products,
        rounds.RoundDetails(title="Second round", closes_at=now + timedelta(days=5),
                            delivery_fee_pence=700, min_order_pence=min_order),
        created_by=w.organiser, now=now)
    rounds.open_round(second, actor=w.organiser, now=now)
    db.session.execute(update(Round).where(Round.id.in_([w.round.id, second.id]))
                       .values(allocation_mode=mode, delivery_fee_pence=1200,
                               min_order_pence=min_order))
    db.session.commit()
    for rnd in (w.round, second):
        for n, home_ in enumerate(w.households):
            for k, item in enumerate(sorted(rnd.items, key=lambda i: i.id)):
                quantity, tolerance = 1 + (3 * n + k) % 7, (n + k) % 3
                if (n + k) % 4 == 3:
                    continue
                by = w.worker if (n + k) % 5 == 0 else w.residents[n]
                pledges.set_pledge(item, home_, quantity, tolerance, entered_by=by, now=now,
                                   max_units=999)
    db.session.commit()
    return w, second


@pytest.mark.parametrize(("mode", "min_order"), [("pro_rata", 2_000), ("first_come", 9_999_000)])
def test_my_orders_equals_the_page_worked_out_from_every_line(app, mode, min_order):
    w, _second = _busy_world(mode, min_order)
    for user in w.residents[:3]:
        new = home.my_orders(user, app.config)
        old = every_line_my_orders(user, app.config)
        assert new.estimates == old.estimates
        assert new.helpers == old.helpers
        assert rendered(app, user, new) == rendered(app, user, old)
    mine = home.my_orders(w.residents[0], app.config)
    shown = rendered(app, w.residents[0], mine)
    assert "Second round" in shown and "Entered at the drop-in with Walt Worker." in shown
    assert any(units for e in mine.estimates for *_, units in e.lines)  # some cases fill
    if min_order == 9_999_000:
        assert "the round would not go ahead" in shown
    else:
        assert all(e.likely_pence for e in mine.estimates) and "Likely cost" in shown


def test_a_new_pledge_is_seen_at_once(app):
    """The kept figure is per pledge_version: r2 filling the case changes what r1 would get."""
    w = factories.world(residents=2)
    tomatoes = next(i for i in w.round.items if i.name == "Tinned tomatoes")  # cases of 12
    now = utcnow()
    pledges.set_pledge(tomatoes, w.households[0], 6, 0, entered_by=w.residents[0], now=now,
                       max_units=999)
    db.session.commit()
    first = home.my_orders(w.residents[0], app.config).estimates[0]
    assert first.lines[0][3] == 0 and first.short_pence == 0  # half a case: nothing comes

    pledges.set_pledge(tomatoes, w.households[1], 6, 0, entered_by=w.residents[1], now=now,
                       max_units=999)
    db.session.commit()
    db.session.expire_all()
    after = home.my_orders(w.residents[0], app.config)
    assert after.estimates[0].lines[0][3] == 6
    assert after.estimates == every_line_my_orders(w.residents[0], app.config).estimates


def _statements_of_a_view(client) -> list[str]:
    """The statements of one GET /my-orders in a thread of its own (a fresh app context,
    as under a real server), the kept figures as earlier requests left them."""
    db.session.remove()
    responses = []
    with counted_statements() as statements:
        worker = threading.Thread(target=lambda: responses.append(client.get("/my-orders")))
        worker.start()
        worker.join(timeout=60)
    assert [r.status_code for r in responses] == [200]
    assert "3 (+1 to fill a case)" in responses[0].get_data(as_text=True)
    return statements


def _reads_the_whole_round(statements: list[str]) -> list[str]:
    return [s for s in statements if "pledge_lines" in s
            and "pledge_lines.household_id =" not in s.replace("\n", " ")]


def test_a_kept_view_reads_only_the_households_lines_and_costs_the_same_however_big(
        client, auth):
    w = factories.world(residents=2)
    item = w.round.items[0]
    pledges.set_pledge(item, w.households[0], 3, 1, entered_by=w.residents[0], now=utcnow(),
                       max_units=999)
    db.session.commit()
    setup = Setup(w.group.id, w.round.id, tuple(i.id for i in w.round.items), w.organiser.id)
    assert auth.login("r1@oak.test").status_code == 302

    add_pledges(setup, 9)
    web.clear_caches()
    cold = _statements_of_a_view(client)
    few = _statements_of_a_view(client)
    add_pledges(setup, 990)
    web.clear_caches()
    assert len(_statements_of_a_view(client)) == len(cold)
    many = _statements_of_a_view(client)

    assert len(_reads_the_whole_round(cold)) == 1  # worked out once for the version
    assert _reads_the_whole_round(few) == [] and _reads_the_whole_round(many) == []
    assert len(many) == len(few) < len(cold), "\n---\n".join(many)


# --- each product kept per its own pledge_version (migration 0028) ------------------------


def _item_versions(round_id: int) -> dict[int, int]:
    return dict(db.session.execute(select(RoundItem.id, RoundItem.pledge_version)
                                   .where(RoundItem.round_id == round_id)).all())


def test_the_database_bumps_a_products_pledge_version_for_any_change_to_its_lines(app):
    """Added, changed, removed or moved to another product: whatever writes the line (the
    pledge service or a bare UPDATE), the product's number moves, the others' and the
    round's own version do not."""
    w = factories.world(residents=2)
    first, second, *_rest = sorted(w.round.items, key=lambda i: i.id)
    before, version = _item_versions(w.round.id), w.round.version
    pledges.set_pledge(first, w.households[0], 3, 0, entered_by=w.residents[0], now=utcnow(),
                       max_units=999)
    db.session.commit()
    added = _item_versions(w.round.id)
    assert added[first.id] > before[first.id]
    assert {i: v for i, v in added.items() if i != first.id} == {
        i: v for i, v in before.items() if i != first.id}

    db.session.execute(update(PledgeLine).where(PledgeLine.round_item_id == first.id)
                       .values(tolerance=2))
    db.session.commit()
    changed = _item_versions(w.round.id)
    assert changed[first.id] > added[first.id] and changed[second.id] == before[second.id]

    db.session.execute(update(PledgeLine).where(PledgeLine.round_item_id == first.id)
                       .values(round_item_id=second.id))
    db.session.commit()
    moved = _item_versions(w.round.id)
    assert moved[first.id] > changed[first.id] and moved[second.id] > before[second.id]

    pledges.set_pledge(second, w.households[0], 0, 0, entered_by=w.residents[0], now=utcnow(),
                       max_units=999)
    db.session.commit()
    removed = _item_versions(w.round.id)
    assert removed[second.id] > moved[second.id]
    db.session.expire_all()
    assert db.session.get(Round, w.round.id).version == version

    # What a product would come to also depends on its most cases: the round's version.
    db.session.execute(update(RoundItem).where(RoundItem.id == first.id).values(max_cases=1))
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Round, w.round.id).version > version


def test_kept_products_and_fresh_ones_together_equal_the_page_worked_out_from_every_line(
        app):
    """After each change (more, fewer, tolerance, a product given up, a new household),
    My orders, put together from the products kept since and the one worked out again,
    is what every line of the round gives."""
    w, second = _busy_world("pro_rata", 2_000)
    items = sorted(w.round.items, key=lambda i: i.id)
    changes = [(0, 1, 9, 0), (1, 1, 2, 2), (2, 0, 0, 0), (3, 2, 5, 1), (1, 0, 12, 0),
               (0, 2, 0, 0), (2, 1, 4, 3)]
    for user in w.residents[:2]:
        home.my_orders(user, app.config)  # every product kept
    for household, item, quantity, tolerance in changes:
        pledges.set_pledge(items[item], w.households[household], quantity, tolerance,
                           entered_by=w.residents[household], now=utcnow(), max_units=999)
        db.session.commit()
        db.session.expire_all()
        for user in w.residents[:3]:
            assert home.my_orders(user, app.config).estimates == every_line_my_orders(
                user, app.config).estimates, (household, item, quantity, tolerance)


def _products_read(statement: str) -> int:
    """How many products' lines a statement reads: the ids in its IN (...)."""
    assert "round_item_id IN (" in statement, statement
    ids = statement.split("round_item_id IN (", 1)[1]
    return ids.count("?") + ids.count("%(item_ids_")  # SQLite's, or psycopg's


def test_after_a_pledge_only_that_products_lines_are_read_again(client, auth):
    w = factories.world(residents=2)
    items = sorted(w.round.items, key=lambda i: i.id)
    assert len(items) > 1
    for item in items:
        pledges.set_pledge(item, w.households[0], 3, 1, entered_by=w.residents[0],
                           now=utcnow(), max_units=999)
    db.session.commit()
    item_id, household_id, user_id = items[1].id, w.households[1].id, w.residents[1].id
    assert auth.login("r1@oak.test").status_code == 302
    web.clear_caches()
    [cold] = _reads_the_whole_round(_statements_of_a_view(client))
    assert _products_read(cold) == len(items)

    from bulkbuy.models import Household

    db.session.remove()  # (the view ran in a session of its own)
    pledges.set_pledge(db.session.get(RoundItem, item_id), db.session.get(Household, household_id),
                       5, 0, entered_by=db.session.get(User, user_id), now=utcnow(),
                       max_units=999)
    db.session.commit()
    [after] = _reads_the_whole_round(_statements_of_a_view(client))
    assert _products_read(after) == 1
    assert _reads_the_whole_round(_statements_of_a_view(client)) == []  # kept again
