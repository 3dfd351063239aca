"""The audit log in the app: organisers read their group's log, filtered, on a page and as
a spreadsheet; community workers read only its drop-in entries."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, Round, User
from bulkbuy.services import audit, audit_log, rounds
from tests import factories
from tests.integration.test_query_count import statements_for
from tests.pages import page


def entry(action: str, w: factories.World, *, actor=None, household=None, at=None,
          subject=None, **details) -> AuditEntry:
    """One entry in `w`'s group, written as the app writes them."""
    made = audit.record(action, actor=actor, group_id=w.group.id,
                        household_id=household.id if household is not None else None,
                        subject=subject, **details)
    if at is not None:
        made.at = at
    return made


@pytest.fixture
def oak(app):
    """Oak Estate, its log emptied of the entries its making wrote, then: cash taken by
    the organiser on the money page from Flat 1 (receipt OAK-1), cash taken by the worker
    at the tablet from Flat 2 (OAK-2), the tablet started, a PIN typed wrong for Flat 2,
    and an order changed by resident 1 for the round's first product."""
    w = factories.world()
    db.session.execute(delete(AuditEntry))
    one, two = w.households
    entry("cash.recorded", w, actor=w.organiser, household=one, receipt_number="OAK-1",
          amount_pence=500)
    entry("tablet.started", w, actor=w.worker)
    with audit.context(tablet_session_id=7):
        entry("cash.recorded", w, actor=w.worker, household=two, receipt_number="OAK-2",
              amount_pence=250)
    entry("pin.failed", w, household=two, tablet_session=7)
    entry("pledge.changed", w, actor=w.residents[0], household=one,
          subject=w.round.items[0], before={"quantity": 0}, after={"quantity": 2})
    db.session.commit()
    return w


def rows_of(response) -> list[list[str]]:
    """The log table's cells, row by row (header left out)."""
    body = page(response)
    table = body.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in body else ""
    return [[re.sub(r"<[^>]+>", "", cell).strip()
             for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)]


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_the_organiser_sees_the_groups_entries_in_words_and_not_another_groups(
        client, auth, oak):
    elm = factories.world(name="Elm Court", prefix="elm-")
    entry("cash.recorded", elm, actor=elm.organiser, household=elm.households[0],
          receipt_number="ELM-9")
    db.session.commit()
    auth.login("org@oak.test")

    response = client.get(f"/organise/{oak.group.id}/audit")

    assert response.status_code == 200
    text = page(response)
    rows = rows_of(response)
    assert len(rows) == 5
    assert "ELM-9" not in text
    newest = rows[0]  # the order change, written last
    assert newest[1:5] == ["Resident 1", "Order changed", "Flat 1", "Test round"]
    assert "Before: quantity 0; After: quantity 2" in newest[5]
    pin_row = rows[1]
    assert pin_row[1:4] == ["The system", "Wrong PIN typed", "Flat 2"]
    assert ["Olive Organiser", "Cash taken", "Flat 1"] == rows[-1][1:4]
    assert "Amount: £5; Receipt: OAK-1" == rows[-1][5]
    dashboard = client.get(f"/organise/{oak.group.id}").get_data(as_text=True)
    assert f'href="/organise/{oak.group.id}/audit"' in dashboard


def test_each_filter_narrows_the_log(client, auth, oak):
    one, two = oak.households
    other_round = rounds.create_round(
        oak.group, oak.supplier, oak.products,
        rounds.RoundDetails(title="Second round",
                            closes_at=datetime.now(UTC) + timedelta(days=5)),
        created_by=oak.organiser, now=datetime.now(UTC))
    entry("round.opened", oak, actor=oak.organiser, subject=other_round,
          at=datetime(2026, 3, 14, 12, tzinfo=UTC))
    entry("bag.kept", oak, actor=oak.worker, household=two, round_id=other_round.id,
          reason="Away", at=datetime(2026, 3, 15, 23, 30, tzinfo=UTC))
    db.session.commit()
    auth.login("org@oak.test")
    base = f"/organise/{oak.group.id}/audit"

    def whats(**params):
        response = client.get(base, query_string=params)
        assert response.status_code == 200, page(response)
        return [(row[2], row[5]) for row in rows_of(response)]

    assert {what for what, _d in whats(household=one.id)} == {"Cash taken", "Order changed"}
    assert [d for _w, d in whats(household=one.id, kind="cash")] == [
        "Amount: £5; Receipt: OAK-1"]
    assert {what for what, _d in whats(round=oak.round.id)} == {"Order changed"}
    assert {what for what, _d in whats(round=other_round.id)} == {
        "Round made", "Round opened", "Bag kept to collect later"}
    assert {what for what, _d in whats(person=oak.worker.id)} == {
        "Drop-in tablet started", "Cash taken", "Bag kept to collect later"}
    assert [what for what, _d in whats(person="system")] == ["Wrong PIN typed"]
    assert {what for what, _d in whats(kind="tablet")} == {"Drop-in tablet started"}
    # Days are the group's (London, summer time from 29 March): 23:30 UTC on 15 March
    # is still the 15th.
    assert [what for what, _d in whats(**{"from": "2026-03-14", "to": "2026-03-14"})] == [
        "Round opened"]
    assert [what for what, _d in whats(**{"from": "2026-03-15", "to": "2026-03-15"})] == [
        "Bag kept to collect later"]
    assert len(whats(**{"to": "2026-03-15"})) == 2
    assert len(whats(**{"from": "2026-03-16"})) == 6  # with the round made just now


BAD_FILTERS = [
    ({"household": "abc"}, "household", "Choose a household from the list."),
    ({"household": "99999999999999999999"}, "household", "Choose a household from the list."),
    ({"round": "-1"}, "round", "Choose a round from the list."),
    ({"person": "nobody"}, "person", "Choose a person from the list."),
    ({"kind": "cash.%'; drop"}, "kind", "Choose a kind of entry from the list."),
    ({"from": "2026-13-45"}, "from", "Enter a date like 2026-03-14."),
    ({"to": "14/03/2026"}, "to", "Enter a date like 2026-03-14."),
    ({"from": "1066-10-14"}, "from", "Enter a date between the years 2000 and 2100."),
    ({"from": "2026-03-15", "to": "2026-03-14"}, "to",
     "The last day must be the same as the first day or after it."),
]


def test_a_bad_filter_is_answered_with_its_message_and_no_entries(client, auth, oak):
    auth.login("org@oak.test")
    for params, field, message in BAD_FILTERS:
        for path in ("audit", "audit.csv"):
            response = client.get(f"/organise/{oak.group.id}/{path}", query_string=params)
            assert response.status_code == 400, (params, path)
            text = page(response)
            assert message in text
            assert f'href="#filter-{field}"' in text
            assert f'id="filter-{field}-error"' in text
            assert rows_of(response) == []


def test_another_groups_household_or_person_is_not_a_choice(client, auth, oak):
    elm = factories.world(name="Elm Court", prefix="elm-")
    auth.login("org@oak.test")
    base = f"/organise/{oak.group.id}/audit"
    assert client.get(base, query_string={"household": elm.households[0].id}).status_code == 400
    assert client.get(base, query_string={"person": elm.organiser.id}).status_code == 400
    assert client.get(base, query_string={"round": elm.round.id}).status_code == 400


def test_a_worker_sees_only_drop_in_entries_whatever_is_asked(client, auth, oak):
    auth.login("worker@oak.test")
    base = f"/organise/{oak.group.id}/audit"

    response = client.get(base)
    assert response.status_code == 200
    assert "Drop-in log" in page(response)
    assert sorted(row[2] for row in rows_of(response)) == [
        "Cash taken", "Drop-in tablet started", "Wrong PIN typed"]
    assert "OAK-1" not in page(response)  # cash taken on the money page is not drop-in
    assert "Order changed" not in page(response)

    assert rows_of(client.get(base, query_string={"kind": "pledge"})) == []
    assert rows_of(client.get(base, query_string={"kind": "round"})) == []
    cash = rows_of(client.get(base, query_string={"kind": "cash"}))
    assert [row[5] for row in cash] == ["Amount: £2.50; Receipt: OAK-2"]
    # The organiser acted only off the tablet: not a person a worker can choose.
    assert client.get(base, query_string={"person": oak.organiser.id}).status_code == 400

    download = csv_rows(client.get(f"{base}.csv"))
    assert sorted(row[2] for row in download[1:]) == [
        "Cash taken", "Drop-in tablet started", "Wrong PIN typed"]
    assert not any("OAK-1" in cell for row in download for cell in row)


def test_the_spreadsheet_has_a_header_the_filtered_rows_and_no_formulas(client, auth, oak):
    one, _two = oak.households
    one.label = "=HYPERLINK(\"http://evil.test\")"
    oak.organiser.name = "@Olive"
    entry("statement.written_off", oak, actor=oak.organiser, household=one,
          reason="+1 lost")
    db.session.commit()
    auth.login("org@oak.test")

    rows = csv_rows(client.get(f"/organise/{oak.group.id}/audit.csv",
                               query_string={"household": one.id}))

    assert rows[0] == ["When (Europe/London)", "Who", "What", "Action", "Household", "Round",
                       "Details", "All details"]
    assert [row[3] for row in rows[1:]] == [
        "statement.written_off", "pledge.changed", "cash.recorded"]
    written_off = rows[1]
    assert written_off[1] == "'@Olive"
    assert written_off[4] == "'=HYPERLINK(\"http://evil.test\")"
    assert written_off[6] == "Reason: +1 lost"
    assert '"reason": "+1 lost"' in written_off[7]
    assert rows[3][0][:2] == "20" and rows[3][6] == "Amount: £5; Receipt: OAK-1"
    assert not any(cell[:1] in "=+-@" for row in rows for cell in row if cell)


def test_the_spreadsheet_stops_at_its_cap_and_says_so(client, auth, oak, monkeypatch):
    monkeypatch.setattr(audit_log, "CSV_MOST_ROWS", 3)
    auth.login("org@oak.test")
    rows = csv_rows(client.get(f"/organise/{oak.group.id}/audit.csv"))
    assert len(rows) == 1 + 3 + 1
    assert rows[-1][0].startswith("Only the newest 3 entries are here.")


def test_pages_of_fifty_newest_first(client, auth, oak):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(55):
        entry("cash.returned", oak, actor=oak.organiser, receipt_number=f"R{n}",
              at=start + timedelta(minutes=n))
    db.session.commit()
    auth.login("org@oak.test")
    base = f"/organise/{oak.group.id}/audit"

    first = client.get(base, query_string={"kind": "cash"})
    second = client.get(base, query_string={"kind": "cash", "page": 2})

    assert len(rows_of(first)) == 50
    assert "page=2" in page(first) and "kind=cash" in page(first)
    assert len(rows_of(second)) == 57 - 50
    assert rows_of(second)[-1][5] == "Receipt: R0"
    assert "Older entries" not in page(second)
    far = client.get(base, query_string={"page": "2147483647"})
    assert far.status_code == 200 and rows_of(far) == []
    assert len(rows_of(client.get(base, query_string={"page": "two"}))) == 50  # the first


def test_residents_are_refused_and_other_groups_are_not_found(client, auth, oak):
    elm = factories.world(name="Elm Court", prefix="elm-")
    auth.login("r1@oak.test")
    for path in ("audit", "audit.csv"):
        assert client.get(f"/organise/{oak.group.id}/{path}").status_code == 403
    auth.logout()
    auth.login("org@oak.test")
    for path in ("audit", "audit.csv"):
        assert client.get(f"/organise/{elm.group.id}/{path}").status_code == 404
    auth.logout()
    auth.login("worker@oak.test")
    assert client.get(f"/organise/{elm.group.id}/audit").status_code == 404


def test_the_page_takes_as_many_statements_for_60_entries_as_for_5(client, auth, oak):
    one, two = oak.households
    auth.login("org@oak.test")
    path = f"/organise/{oak.group.id}/audit?kind=cash&household={one.id}"

    group_id, round_id, home_id = oak.group.id, oak.round.id, one.id
    actor_ids = (oak.organiser.id, oak.worker.id)

    def add(n):
        rnd = db.session.get(Round, round_id)
        actors = [db.session.get(User, actor_id) for actor_id in actor_ids]
        for k in range(n):
            with audit.context(tablet_session_id=k):
                audit.record("cash.recorded", actor=actors[k % 2], group_id=group_id,
                             household_id=home_id, subject=rnd, receipt_number=f"Q{k}")
        db.session.commit()

    add(4)  # with OAK-1: 5
    few, few_page = statements_for(client, path)
    add(55)
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "cash.recorded")) == 61
    many, many_page = statements_for(client, path)

    assert few_page.count("<td>Cash taken</td>") == 5
    assert many_page.count("<td>Cash taken</td>") == 50
    assert len(many) == len(few), "\n---\n".join(many)
    # Signing in and the group (5, as every staff page), the filters' choices (3), the
    # page of entries (1).
    assert len(few) <= 9, "\n---\n".join(few)
    assert db.session.get(Round, round_id).title in many_page
