"""An assisted household at the drop-in, from being added to the session sheet
(docs/features.md "The shared tablet", docs/pages.md).

An assisted household has no e-mail and no account: staff add it with a PIN, and it
orders only on the worker's tablet. Whatever is entered there is entered by the worker,
logged as theirs, shown as "Entered at the drop-in with ..." and listed on the sheet.
A turn that went idle is over: a tap sent after it changes nothing and says so. The
"Are you still there?" warning leaves at least 20 seconds to answer (WCAG 2.2.1).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import Household, Membership, PledgeLine, utcnow
from bulkbuy.services import tablet
from tests import factories
from tests.integration.test_tablet import (
    ENDED_UNCHANGED,
    PINS,
    TURN,
    audit,
    cookie_deleted,
    fresh,
    idle_limit,
    start_tablet,
    take_turn,
    tap,
    tomatoes,
    with_pins,
    written,
)
from tests.pages import lines_of, page

ASSISTED_PIN = "2468"


# --- helpers ---------------------------------------------------------------------------------


def card_of(text: str, item) -> str:
    """The product's card on the tablet's pledge screen."""
    found = re.search(rf'<li class="product card" id="item-{item.id}">(.*?)</li>', text, re.S)
    assert found, f"no card for {item.name}"
    return found.group(1)


def plus_value(text: str, item) -> str:
    """The quantity the product's + button sends (what tapping + asks for)."""
    found = re.search(r'<button type="submit" name="quantity" value="(\d+)"[^>]*'
                      rf'aria-label="One more {re.escape(item.name)}"', card_of(text, item))
    assert found, f"no + button for {item.name}"
    return found.group(1)


def table_rows(text: str, caption_id: str) -> list[list[str]]:
    """The body rows of the sheet's table with this caption, as the cells' text."""
    table = re.search(rf'<caption id="{caption_id}".*?<tbody>(.*?)</tbody>', text, re.S)
    assert table, f"no table {caption_id}"
    return [[re.sub(r"<[^>]+>", "", cell).strip()
             for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)]


def body_seconds(text: str, name: str) -> int:
    found = re.search(rf'<body[^>]*\sdata-{name}-seconds="(-?\d+)"', text)
    assert found, f"the page's body has no data-{name}-seconds"
    return int(found.group(1))


def signed_in(app, email: str):
    other = app.test_client()
    other.post("/login", data={"email": email, "password": factories.PASSWORD})
    return other


@pytest.fixture
def birch(client, auth):
    """Oak Estate with Flat 40, an assisted household (PIN 2468) the organiser added;
    Walt Worker has started the tablet. `birch.extra["home"]` is Flat 40."""
    w = factories.world()
    w.extra["home"] = tablet.create_assisted_household(
        w.group, "Flat 40", "Birch Block", ASSISTED_PIN, actor=w.organiser, now=utcnow())
    db.session.commit()
    w.extra["session"] = start_tablet(client, auth, w)
    return w


# --- end to end ------------------------------------------------------------------------------


def test_an_assisted_households_order_at_the_drop_in_is_the_workers_from_log_to_sheet(
        client, auth, app):
    w = factories.world()
    organiser = signed_in(app, w.organiser.email)
    added = organiser.post(f"/organise/{w.group.id}/households/assisted",
                           data={"label": "Flat 40", "block": "Birch Block",
                                 "pin": ASSISTED_PIN})
    assert added.status_code == 303
    home = db.session.scalar(select(Household).where(Household.label == "Flat 40"))
    assert home.is_assisted is True and home.group_id == w.group.id
    # No account, so no e-mail: nobody belongs to it.
    assert db.session.scalar(select(Membership).where(Membership.household_id == home.id)
                             ) is None

    session = start_tablet(client, auth, w)
    visit = take_turn(client, home, ASSISTED_PIN)
    assert (visit.household_id, visit.verified_by) == (home.id, "pin")
    item = tomatoes(w)
    rice = next(i for i in w.round.items if i.name == "Rice")
    assert plus_value(page(client.get("/tablet/order")), item) == "1"

    response = tap(client, item, "1")  # the + on Tinned tomatoes

    assert response.status_code == 303
    assert response.headers["Location"] == f"/tablet/order#item-{item.id}"
    db.session.expire_all()
    line = db.session.scalar(select(PledgeLine).where(PledgeLine.household_id == home.id))
    assert (line.round_item_id, line.quantity, line.entered_by_id) == (
        item.id, 1, w.worker.id)
    entries = audit("pledge.changed")
    assert [(e.actor_id, e.household_id, e.group_id, e.subject_id) for e in entries] == [
        (w.worker.id, home.id, w.group.id, item.id)]
    assert json.loads(entries[0].details)["after"]["quantity"] == 1

    order = page(client.get("/tablet/order"))
    assert f"Entered at the drop-in with {w.worker.name}." in card_of(order, item)
    assert w.organiser.name not in card_of(order, item)  # she added Flat 40, not the order
    assert "Entered at the drop-in" not in card_of(order, rice)  # nothing entered there
    assert plus_value(order, item) == "2"

    assert client.post("/tablet/done").headers["Location"] == "/tablet/thanks"
    left = client.post("/tablet/leave", data={"password": factories.PASSWORD})
    sheet_url = f"/organise/{w.group.id}/tablet-sessions/{session.id}"
    assert left.status_code == 303 and left.headers["Location"] == sheet_url

    for reader in (client, organiser):  # the worker, and the group's organiser
        sheet = reader.get(sheet_url)
        assert sheet.status_code == 200
        text = page(sheet)
        visits = table_rows(text, "visits-caption")
        assert [(row[0], row[1], row[-1]) for row in visits] == [
            ("Flat 40", "PIN", "Tapped Done")]
        assert table_rows(text, "changes-caption") == [
            ["Flat 40", "Test round", "Tinned tomatoes", "0", "1"]]


# --- a tap after the idle reset --------------------------------------------------------------


@pytest.mark.parametrize("reset_by", ["server", "page"])
def test_a_pledge_sent_after_the_idle_reset_is_refused_writes_nothing_and_says_so(
        client, birch, reset_by):
    """The turn went idle: the server's own count ran out and a tap arrives a second
    later ("server"), or the page's count ran out, it sent the turn's end, and a tap from
    the old page arrives at that same moment, before the server's own count would have
    ended the turn ("page")."""
    home = birch.extra["home"]
    visit = take_turn(client, home, ASSISTED_PIN)
    kept = client.get_cookie(TURN).value
    item = tomatoes(birch)
    went_idle = fresh(visit).last_seen_at + idle_limit(client)
    tap_at = went_idle + timedelta(seconds=1) if reset_by == "server" else went_idle

    with time_machine.travel(tap_at, tick=False):
        if reset_by == "page":
            ended = client.post("/tablet/done", data={"reason": "idle"})
            assert ended.headers["Location"] == "/tablet/thanks"
            client.set_cookie(TURN, kept)  # the old page's tap still carries it
        before = written()

        response = tap(client, item, "1")

        assert response.status_code == 303 and response.headers["Location"] == "/tablet/"
        assert cookie_deleted(response, TURN)
        assert written() == before
        assert lines_of(home.id) == [] and audit("pledge.changed") == []
        visit = fresh(visit)
        # Ended when it went idle, not at the tap.
        assert (visit.end_reason, visit.ended_at) == ("idle", went_idle)
        shown = page(client.get("/tablet/"))
        assert ENDED_UNCHANGED in shown
        assert "You want" not in shown and "Saved." not in shown
        assert client.get("/tablet/order").headers["Location"] == "/tablet/"
    assert written() == before


# --- time to answer the idle warning ---------------------------------------------------------


@pytest.mark.parametrize(("idle", "warn"), [(40, 90), (40, 30), (120, 90)])
def test_the_idle_warning_leaves_at_least_20_seconds_to_answer(
        app_with_settings, idle, warn):
    """WCAG 2.2.1 (Timing Adjustable): warned before the turn ends, the resident has at
    least 20 seconds to tap "Yes, keep going", whatever the settings say."""
    app = app_with_settings(TABLET_IDLE_SECONDS=idle, TABLET_WARN_SECONDS=warn)
    w = with_pins(factories.world())
    client = app.test_client()
    client.post("/login", data={"email": w.worker.email, "password": factories.PASSWORD})
    assert client.post("/tablet/start", data={"group_id": w.group.id}).status_code == 303
    take_turn(client, w.households[0], PINS[0])

    shown = client.get("/tablet/order").get_data(as_text=True)

    assert 'data-turn="open"' in shown  # the page that runs the idle count
    idle_seconds = body_seconds(shown, "idle")
    warn_seconds = body_seconds(shown, "warn")
    assert idle_seconds == idle
    assert 0 <= warn_seconds <= idle_seconds - 20, (idle_seconds, warn_seconds)
    if warn <= idle - 20:  # the setting already leaves time to answer: kept as it is
        assert warn_seconds == warn
