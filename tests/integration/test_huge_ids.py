"""Ids too large to name a row are refused before they reach the database.

An id beyond 64 bits made SQLite raise OverflowError (a 500) in every route
that takes an id from the path, query or form; beyond 32 bits, PostgreSQL's
integer columns raise a DataError. Each route answers 404 for such an id in
its path, and a form or query id that large is treated as naming nothing.
"""

from __future__ import annotations

import re

from werkzeug.routing import IntegerConverter

from bulkbuy.validation import MAX_ID, record_id
from tests import factories
from tests.integration.test_tablet import (
    start_tablet,
    take_turn,
    tomatoes,
    with_pins,
    written,
)
from tests.pages import page

HUGE = [str(2**64 + 1), str(MAX_ID + 1), "9" * 40]


def test_record_id_takes_ascii_digits_within_a_row_ids_range():
    assert record_id("1") == 1
    assert record_id(" 42 ") == 42
    assert record_id(str(MAX_ID)) == MAX_ID
    for text in [None, "", "0", "-1", "+3", "1.0", "1_0", "٣", "３", "x", str(MAX_ID + 1),
                 "9" * 40]:
        assert record_id(text) is None, text
    assert record_id(7) == 7 and record_id(0) is None and record_id(True) is None


def _urls_with(app, number: str) -> list[tuple[str, str]]:
    """(method, path) for every route with an integer id, each id set to `number`."""
    found = []
    for rule in app.url_map.iter_rules():
        ints = [name for name, converter in rule._converters.items()
                if isinstance(converter, IntegerConverter)]
        if not ints:
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>",
                      lambda m, ints=ints: number if m.group(1) in ints else "x", rule.rule)
        method = "GET" if "GET" in rule.methods else "POST"
        found.append((method, path))
    return found


def test_every_route_answers_404_for_an_id_too_large_for_a_row(app, client, auth):
    w = factories.world()
    auth.login(w.organiser.email)
    for number in HUGE:
        urls = _urls_with(app, number)
        assert len(urls) >= 30  # every route with an id in its path is tried
        for method, path in urls:
            response = client.open(path, method=method)
            assert response.status_code == 404, (method, path, response.status_code)


def test_the_new_round_pages_treat_a_huge_supplier_as_none_chosen(app, client, auth):
    w = factories.world()
    auth.login(w.organiser.email)
    for number in HUGE:
        organiser = client.get(f"/organise/{w.group.id}/rounds/new?supplier={number}")
        assert organiser.status_code == 200
        assert "choose a supplier" in page(organiser).lower()
    auth.login(w.residents[0].email)
    for number in HUGE:
        resident = client.get(f"/groups/{w.group.id}/rounds/new?supplier={number}")
        assert resident.status_code in (200, 403), resident.status_code
        assert resident.status_code != 500


def test_the_tablet_refuses_huge_ids_in_its_forms_and_changes_nothing(app, client, auth):
    w = with_pins(factories.world())
    auth.login(w.worker.email)
    for number in HUGE:
        response = client.post("/tablet/start", data={"group_id": number})
        assert response.status_code == 303 and response.headers["Location"] == "/tablet/start"
    start_tablet(client, auth, w)
    before = written()
    for number in HUGE:
        response = client.post("/tablet/pin", data={"household_id": number, "pin": "1234"})
        assert response.status_code == 303, response.status_code
    assert written() == before
    take_turn(client, w.households[0], "1234")
    before = written()
    for number in HUGE:
        pledge = client.post("/tablet/pledge", data={"item_id": number, "quantity": "2"})
        assert pledge.status_code == 303 and pledge.headers["Location"] == "/tablet/order"
        cash = client.post("/tablet/cash", data={"statement_id": number, "password": "x",
                                                 "amount": "1.00", "receipt": "R1"})
        assert cash.status_code == 303, cash.status_code
    assert written() == before
    assert "We could not find that product." in page(client.get("/tablet/order"))
    # The same forms still work with the ids they are meant to carry.
    assert client.post("/tablet/pledge", data={"item_id": str(tomatoes(w).id),
                                               "quantity": "2"}).status_code == 303
    assert written()["PledgeLine"] == before["PledgeLine"] + 1
