"""Packing a finished round: a pick list per product (units into each household's bag)
and a slip per household saying what is in its bag and what it still has to pay, from
what was actually paid (issue #14, point 5)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.formatting import day as day_words
from bulkbuy.models import Statement, utcnow
from bulkbuy.services import accounts, closing, pledges, rounds
from bulkbuy.services.payments import cash as cash_service
from bulkbuy.services.payments import refunds
from tests import factories
from tests.pages import page


def _packed_world():
    """Flats 1, 2 and 10 get 4 tins each (a box of 12 at £12: £4 each); Flat 3 asked for
    rice, of which no box filled, so it gets nothing. Flat 1 paid £4 in cash, Flat 2 paid
    £1.50, Flat 10 nothing yet. Flat 10 lives in Block B."""
    w = factories.world(products=(("Tinned tomatoes", 12, 1200), ("Rice", 25, 3150)),
                        residents=3)
    flat10_person = factories.user("r10@oak.test", "Resident 10")
    flat10 = accounts.join_group(w.group, flat10_person, "Flat 10").household
    flat10.block = "Block B"
    db.session.commit()
    tins, rice = (next(i for i in w.round.items if i.name == name)
                  for name in ("Tinned tomatoes", "Rice"))
    now = utcnow()
    flat1, flat2, flat3 = w.households
    for household, person in ((flat10, flat10_person), (flat1, w.residents[0]),
                              (flat2, w.residents[1])):
        pledges.set_pledge(tins, household, 4, 0, entered_by=person, now=now, max_units=999)
    pledges.set_pledge(rice, flat3, 2, 0, entered_by=w.residents[2], now=now, max_units=999)
    db.session.commit()
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    statements = {s.household_id: s for s in db.session.scalars(select(Statement))}
    cash_service.record_cash(statements[flat1.id], 400, "R-1", actor=w.worker, now=now)
    cash_service.record_cash(statements[flat2.id], 150, "R-2", actor=w.worker, now=now)
    db.session.commit()
    w.extra.update(flat10=flat10, statements=statements)
    return w


def _url(w, what: str) -> str:
    return f"/organise/{w.group.id}/rounds/{w.round.id}/{what}"


def _slips(text: str) -> dict[str, str]:
    """Each slip's words (tags dropped), by the household label in its heading."""
    found = {}
    for slip in re.findall(r'<article class="slip".*?</article>', text, re.S):
        label = re.search(r'<h2 class="slip-household"[^>]*>(.*?)</h2>', slip).group(1)
        found[label] = " ".join(re.sub(r"<[^>]+>", " ", slip).split())
    return found


def test_the_pick_list_puts_each_households_units_in_its_bag_in_natural_order(client, auth):
    w = _packed_world()
    auth.login(w.organiser.email)

    shown = page(client.get(_url(w, "pick-list")))

    assert "Tinned tomatoes" in shown and "Rice" not in shown  # no box of rice: not packed
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th>(?:<td>[^<]*</td>)?'
                      r'<td class="num pick-units">(\d+)</td>', shown)
    assert rows == [("Flat 1", "4"), ("Flat 2", "4"), ("Flat 10", "4")]  # 2 before 10
    assert "Flat 3" not in shown
    total = re.search(r'In all</th><td class="num pick-units"><strong>(\d+)</strong>', shown)
    assert int(total.group(1)) == sum(int(units) for _label, units in rows) == 12
    assert "Each one is: unit." in shown
    assert "put 4 × Tinned tomatoes in the bag for Flat 1." in shown
    assert "Block B" in shown


def test_slips_say_paid_or_what_is_still_to_pay_never_the_total(client, auth):
    w = _packed_world()
    auth.login(w.worker.email)  # community workers pack too

    slips = _slips(page(client.get(_url(w, "packing-slips"))))

    assert list(slips) == ["Flat 1", "Flat 2", "Flat 10"]  # Flat 3 gets nothing: no slip
    assert "Paid" in slips["Flat 1"] and "to pay" not in slips["Flat 1"]
    assert "Still to pay: £2.50" in slips["Flat 2"] and "£4" not in slips["Flat 2"]
    assert "Still to pay: £4" in slips["Flat 10"]
    assert "Block: Block B" in slips["Flat 10"]
    for words in slips.values():
        assert "4 × Tinned tomatoes (unit)" in words and "Test round" in words


def test_a_written_off_rest_reads_nothing_to_pay_on_the_slip_and_the_order_sheet(client, auth):
    w = _packed_world()
    flat2 = w.extra["statements"][w.households[1].id]
    cash_service.write_off(flat2, "group_covers", actor=w.organiser, now=utcnow())
    db.session.commit()
    auth.login(w.organiser.email)

    slips = _slips(page(client.get(_url(w, "packing-slips?size=a6"))))
    assert "Nothing to pay" in slips["Flat 2"] and "Still to pay" not in slips["Flat 2"]

    sheet = page(client.get(_url(w, "order-sheet")))
    assert "Nothing to pay: the rest (£2.50) was written off" in _order_sheet_card(sheet,
                                                                                   "Flat 2")


def _order_sheet_card(text: str, label: str) -> str:
    card = re.search(rf'<div class="household card">\s*<h3>{label}</h3>(.*?)</div>', text, re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", card.group(1)).split())


def test_the_order_sheets_packing_list_says_paid_not_the_total(client, auth):
    w = _packed_world()
    auth.login(w.organiser.email)

    sheet = page(client.get(_url(w, "order-sheet")))

    assert "To pay: £4" not in _order_sheet_card(sheet, "Flat 1")
    assert _order_sheet_card(sheet, "Flat 1").endswith("Paid")
    assert _order_sheet_card(sheet, "Flat 2").endswith("Still to pay: £2.50")
    assert _order_sheet_card(sheet, "Flat 10").endswith("Still to pay: £4")


def test_residents_are_refused_and_unfinished_or_cancelled_rounds_are_not_found(client, auth):
    w = _packed_world()
    auth.login("r1@oak.test")
    for what in ("pick-list", "packing-slips"):
        assert client.get(_url(w, what)).status_code == 403
    auth.logout()

    auth.login(w.worker.email)
    still_open = rounds.create_round(
        w.group, w.supplier, w.products,
        rounds.RoundDetails(title="Next", closes_at=utcnow() + timedelta(days=3)),
        created_by=w.organiser, now=utcnow())
    rounds.open_round(still_open, actor=w.organiser, now=utcnow())
    other = factories.world(name="Elm Court", prefix="elm-")
    db.session.commit()
    assert client.get(f"/organise/{w.group.id}/rounds/{still_open.id}/packing-slips"
                      ).status_code == 404
    assert client.get(f"/organise/{w.group.id}/rounds/{other.round.id}/pick-list"
                      ).status_code == 404  # another group's round
    assert client.get(f"/organise/{other.group.id}/rounds/{other.round.id}/pick-list"
                      ).status_code == 404  # not their group
    refunds.cancel_closed_round(w.round, actor=w.organiser, now=utcnow())
    db.session.commit()
    for what in ("pick-list", "packing-slips"):
        assert client.get(_url(w, what)).status_code == 404


def test_a_slip_printed_before_delivery_says_the_day_it_is_expected(client, auth):
    from tests.integration.test_delivery import ordered_world

    w = ordered_world()
    auth.login(w.worker.email)
    text = client.get(f"/organise/{w.group.id}/rounds/{w.round.id}/packing-slips"
                      ).get_data(as_text=True)
    day = (w.round.closes_at + timedelta(days=2)).date()
    assert f"Delivery expected on {day_words(day)}." in text
