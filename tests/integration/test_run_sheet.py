"""The drop-in run sheet (issue #16, point 3): who the worker can expect, with each
household's money, news of a changed bill, bags and slips to hand over.

The world is test_slips's: Flats 1 and 2 (with e-mails; Flat 2 asked for paper) and
Flat 3 (assisted, no e-mail), four tins each, £4 each, the round ordered."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import event, select

from bulkbuy.extensions import db
from bulkbuy.models import Round, Statement, utcnow
from bulkbuy.services import closing, collection, delivery, pledges, rounds, tablet
from bulkbuy.services import run_sheet as run_sheets
from bulkbuy.services.payments import cash as cash_service
from tests import factories
from tests.integration.test_slips import _slip_world
from tests.pages import page


def _statement(w, household) -> Statement:
    return db.session.scalar(select(Statement).where(
        Statement.round_id == w.round.id, Statement.household_id == household.id))


def _rows(text: str) -> dict[str, str]:
    found = {}
    for row in re.findall(r'<tr class="run-sheet-row".*?</tr>', text, re.S):
        words = " ".join(re.sub(r"<[^>]+>", " ", row).split())
        label = re.search(r'<th scope="row">([^<]*)', row).group(1)
        found[label] = words
    return found


def test_the_run_sheet_lists_who_owes_what_and_the_slips_to_hand_over(client, auth):
    w = _slip_world()
    flat1, flat2 = w.households
    cash_service.record_cash(_statement(w, flat1), 400, "R-1", actor=w.worker, now=utcnow())
    db.session.commit()
    auth.login(w.worker.email)

    rows = _rows(page(client.get(f"/organise/{w.group.id}/run-sheet")))

    assert list(rows) == ["Flat 2", "Flat 3"]  # Flat 1 paid and hears by e-mail
    assert "Test round: to pay £4" in rows["Flat 3"] and "On paper" in rows["Flat 3"]
    assert "Test round: to pay £4" in rows["Flat 2"]


def test_a_changed_bill_cash_owed_back_and_a_bag_to_collect_are_on_the_run_sheet(app):
    w = _slip_world()
    flat1, flat2 = w.households
    for household in (flat1, flat2, w.extra["flat3"]):
        cash_service.record_cash(_statement(w, household), 400, f"R-{household.id}",
                                 actor=w.worker, now=utcnow())
    db.session.commit()
    tins = w.extra["tins"]
    delivery.record_delivery(db.session.get(Round, w.round.id),
                             [delivery.Arrived(tins.id, 12, 3)], [], None, drawn_version=0,
                             actor=w.organiser, now=utcnow())
    db.session.commit()
    collection.collect(db.session.get(Round, w.round.id), flat2.id, neighbour_name=None,
                       cash=None, actor=w.worker, now=utcnow())
    db.session.commit()

    sheet = run_sheets.run_sheet(w.group, utcnow())

    by_label = {e.household.label: e for e in sheet.households}
    assert set(by_label) == {"Flat 1", "Flat 2", "Flat 3"}
    short = [e for e in by_label.values() if e.owed_back_pence]
    assert short, "someone's tins came damaged: the group owes cash back"
    assert all(e.bill_changed[0].changes for e in short)
    assert [r.title for r in by_label["Flat 1"].bags] == ["Test round"]
    assert by_label["Flat 2"].bags == []  # collected
    assert not by_label["Flat 1"].slips and by_label["Flat 3"].slips


def test_an_open_rounds_paper_households_are_on_the_run_sheet_for_their_slips(app):
    w = _slip_world(close=False)

    sheet = run_sheets.run_sheet(w.group, utcnow())

    assert [(e.household.label, [r.title for r in e.slips]) for e in sheet.households] == [
        ("Flat 2", ["Test round"]), ("Flat 3", ["Test round"])]
    assert sheet.drop_in is not None and sheet.drop_in.place == "Community room"


def test_the_run_sheet_is_for_staff_of_the_group(client, auth):
    w = _slip_world()
    other = factories.world(name="Elm Court", prefix="elm-")

    auth.login(w.residents[0].email)
    assert client.get(f"/organise/{w.group.id}/run-sheet").status_code == 403
    auth.login(other.organiser.email)
    assert client.get(f"/organise/{w.group.id}/run-sheet").status_code == 404
    auth.login(w.organiser.email)
    assert client.get(f"/organise/{w.group.id}/run-sheet").status_code == 200


def test_the_run_sheet_costs_the_same_queries_for_more_households(app):
    w = _slip_world()

    def queries() -> int:
        counted = []
        listener = lambda *args: counted.append(1)  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            db.session.expire_all()
            run_sheets.run_sheet(w.group, utcnow())
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(counted)

    few = queries()
    now = utcnow()
    rnd = rounds.create_round(w.group, w.supplier, w.products,
                              rounds.RoundDetails(title="Bigger",
                                                  closes_at=now + timedelta(days=1)),
                              created_by=w.organiser, now=now)
    rounds.open_round(rnd, actor=w.organiser, now=now)
    tins = next(i for i in rnd.items if i.name == "Tinned tomatoes")
    for n in range(4, 16):
        home = tablet.create_assisted_household(w.group, f"Flat {n}", None, "2468",
                                                actor=w.organiser, now=now)
        pledges.set_pledge(tins, home, 2, 0, entered_by=w.worker, now=now, max_units=999)
    db.session.commit()
    assert closing.close_round(rnd.id, rnd.closes_at + timedelta(seconds=1))
    db.session.commit()

    assert queries() == few
